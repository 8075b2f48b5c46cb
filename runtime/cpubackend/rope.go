package cpubackend

import (
	"slices"
	"sync"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// ropeTable keeps RoPE's cos and sin per position for the few sets of frequencies a backend
// meets, computed by cpu.RoPEAngles (so the values are those RoPE computed each time before):
// the quantizer runs the same 512 positions through every layer thousands of times, and
// math.Sincos was 2-3% of its time.
type ropeTable struct {
	mu   sync.Mutex
	sets []*ropeSet // most recently added last
}

type ropeSet struct {
	inv []float32 // the frequencies
	cs  []float32 // per position: h cos then h sin
}

const (
	ropeMaxCached = 8192 // positions a set holds at most (beyond, angles are computed per call)
	ropeMaxSets   = 4
)

// angles returns the cos/sin rows of positions pos..pos+n-1 (2h values each), or nil when they
// are beyond the table.
func (t *ropeTable) angles(pos, n int, invFreq []float32) []float32 {
	h := len(invFreq)
	if pos+n > ropeMaxCached || h == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var s *ropeSet
	for _, c := range t.sets {
		if slices.Equal(c.inv, invFreq) {
			s = c
			break
		}
	}
	if s == nil {
		if len(t.sets) == ropeMaxSets {
			t.sets = t.sets[1:]
		}
		s = &ropeSet{inv: slices.Clone(invFreq)}
		t.sets = append(t.sets, s)
	}
	if have := len(s.cs) / (2 * h); have < pos+n {
		grown := make([]float32, 2*h*min(max(pos+n, 2*have), ropeMaxCached))
		copy(grown, s.cs)
		for p := have; p < len(grown)/(2*h); p++ {
			row := grown[2*h*p : 2*h*(p+1)]
			cpu.RoPEAngles(row[:h], row[h:], p, invFreq)
		}
		s.cs = grown // a new array: slices handed out before stay valid
	}
	return s.cs[2*h*pos : 2*h*(pos+n)]
}

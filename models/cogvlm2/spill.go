package cogvlm2

// Calibration activations that do not fit a memory budget go to files (issue 14.5): at the
// paper's calibration size one decoder layer's inputs are 9.9 GB (two streams × 128 samples ×
// 2356 tokens × 4096) and a ViT layer's 16.9 GB, more than the float64 Hessians leave room for.

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"
)

// spillBudget is the memory the stores of one run may keep (bytes; limit ≤ 0: no limit); what
// does not fit goes to files in dir.
type spillBudget struct {
	limit, used int64
	dir         string
	files       int
	spilled     int64 // bytes written to files, for the log
}

// store holds one float32 record per index (a sample's block input on one stream, or a sample's
// captured rows of a deferred module), in memory while the budget allows and otherwise in its
// file. Records are replaced in place; a file record of the same size reuses its slot.
type store struct {
	b    *spillBudget
	mem  [][]float32
	off  []int64 // file offset of a spilled record; -1 in memory or unset
	size []int   // values in the record
	f    *os.File
	end  int64
}

func (b *spillBudget) newStore(n int) *store {
	s := &store{b: b, mem: make([][]float32, n), off: make([]int64, n), size: make([]int, n)}
	for i := range s.off {
		s.off[i] = -1
	}
	return s
}

// put stores v as record i; v is copied unless own (the store may then keep v itself).
func (s *store) put(i int, v []float32, own bool) error {
	if old := s.mem[i]; old != nil {
		s.b.used -= int64(4 * len(old))
		s.mem[i] = nil
	}
	need := int64(4 * len(v))
	if s.b.limit <= 0 || s.b.dir == "" || s.b.used+need <= s.b.limit {
		if !own {
			v = append([]float32(nil), v...)
		}
		s.mem[i], s.off[i], s.size[i] = v, -1, len(v)
		s.b.used += need
		return nil
	}
	if s.f == nil {
		if err := os.MkdirAll(s.b.dir, 0o755); err != nil {
			return err
		}
		f, err := os.CreateTemp(s.b.dir, "spill-*.f32")
		if err != nil {
			return fmt.Errorf("cogvlm2: activation spill file: %w", err)
		}
		s.f = f
		s.b.files++
	}
	at := s.off[i]
	if at < 0 || s.size[i] != len(v) {
		at, s.end = s.end, s.end+need
	}
	if len(v) > 0 {
		if _, err := s.f.WriteAt(unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), need), at); err != nil {
			return fmt.Errorf("cogvlm2: activation spill file %s: %w", s.f.Name(), err)
		}
	}
	s.off[i], s.size[i] = at, len(v)
	s.b.spilled += need
	return nil
}

// get returns record i (the stored slice itself when in memory: read-only).
func (s *store) get(i int) ([]float32, error) {
	if s.off[i] < 0 {
		return s.mem[i], nil
	}
	v := make([]float32, s.size[i])
	if len(v) > 0 {
		if _, err := s.f.ReadAt(unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v)), s.off[i]); err != nil {
			return nil, fmt.Errorf("cogvlm2: activation spill file %s: %w", s.f.Name(), err)
		}
	}
	return v, nil
}

// close drops the records and removes the file.
func (s *store) close() {
	for i, v := range s.mem {
		s.b.used -= int64(4 * len(v))
		s.mem[i] = nil
	}
	if s.f != nil {
		name := s.f.Name()
		s.f.Close()
		os.Remove(name)
		s.f = nil
	}
}

// spillFiles lists leftover spill files in dir (an interrupted run's), to remove on resume.
func spillFiles(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "spill-*.f32"))
	return m
}

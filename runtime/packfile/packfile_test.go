package packfile

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu/q"
)

// testMatrices: an 8-bit per-row head, a 4-bit grouped one (FromRows), and a GPTQ layer with
// act-order (a permutation section).
func testMatrices(t testing.TB) map[string]*q.Matrix {
	rng := rand.New(rand.NewPCG(1, 2))
	dense := make([]float32, 40*64)
	for i := range dense {
		dense[i] = float32(rng.NormFloat64())
	}
	row := func(dst []float32, n int) { copy(dst, dense[n*64:(n+1)*64]) }
	h8, err := q.FromRows(64, 40, 8, -1, row, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h4, err := q.FromRows(64, 40, 4, 32, row, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, out, g := 96, 20, 32
	qw := make([]int32, in/8*out)
	for i := range qw {
		qw[i] = int32(rng.Uint32())
	}
	qz := make([]int32, in/g*((out+7)/8))
	for i := range qz {
		qz[i] = int32(rng.Uint32())
	}
	sc := make([]uint16, in/g*out)
	for i := range sc {
		sc[i] = 0x2000 + uint16(rng.IntN(0x800)) // fp16 in [2^-7, 2^-6)
	}
	gi := make([]int32, in)
	for i := range gi {
		gi[i] = int32((i * 7) % (in / g))
	}
	act, err := q.RepackGPTQ(qw, qz, sc, gi, in, out, 4, g, false, true)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*q.Matrix{"head.q8": h8, "head.q4": h4, "layers.0.act": act}
}

func writeTest(t testing.TB, dir, key string) (string, map[string]*q.Matrix) {
	ms := testMatrices(t)
	var es []Entry
	for _, name := range []string{"head.q8", "head.q4", "layers.0.act"} {
		es = append(es, Entry{Name: name, Layout: ms[name].Layout()})
	}
	path := filepath.Join(dir, Name)
	if err := Write(path, key, es); err != nil {
		t.Fatal(err)
	}
	return path, ms
}

func TestWriteOpenIsBitIdentical(t *testing.T) {
	path, ms := writeTest(t, t.TempDir(), "k1")
	p, err := Open(path, "k1")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.Names(); !slices.Equal(got, []string{"head.q8", "head.q4", "layers.0.act"}) {
		t.Fatalf("names %v", got)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for name, m := range ms {
		l, ok := p.Get(name)
		if !ok {
			t.Fatalf("%s missing", name)
		}
		c, err := q.FromLayout(l)
		if err != nil {
			t.Fatal(err)
		}
		if (l.Src == nil) != (m.Layout().Src == nil) {
			t.Fatalf("%s: permutation lost or invented", name)
		}
		for _, n := range []int{1, 6} {
			x := make([]float32, n*m.In)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			want, got := make([]float32, n*m.Out), make([]float32, n*m.Out)
			m.MatMul(want, x, n)
			c.MatMul(got, x, n)
			for i := range want {
				if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
					t.Fatalf("%s, %d tokens: output %d = %v from the file, %v repacked", name, n, i, got[i], want[i])
				}
			}
		}
	}
}

func TestOpenStaleMissingAndDamaged(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeTest(t, dir, "k1")
	if _, err := Open(path, "k2"); !errors.Is(err, ErrStale) {
		t.Errorf("other key: %v, want ErrStale", err)
	}
	if _, err := Open(filepath.Join(dir, "none"), "k1"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v, want ErrNotExist", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := slices.Clone(data)
	v[8] = 99
	if _, err := Parse(path, v, "k1"); !errors.Is(err, ErrStale) {
		t.Errorf("other version: %v, want ErrStale", err)
	}
	// every truncation is an error (never a panic), and not a stale one
	for n := 0; n < len(data); n += 1 + n/50 {
		_, err := Parse(path, data[:n], "k1")
		var pe *Error
		if !errors.As(err, &pe) || errors.Is(err, ErrStale) {
			t.Fatalf("truncated to %d bytes: %v, want a damaged-file error", n, err)
		}
	}
	// a section moved outside the file, a size changed
	hl := int(binary.LittleEndian.Uint64(data[16:]))
	for _, c := range []struct{ from, to string }{{`"w":[0,`, `"w":[64000000,`}, {`"out":40`, `"out":50`}, {`"blk":128`, `"blk":120`}} {
		js := string(data[24 : 24+hl])
		if !contains(js, c.from) {
			t.Fatalf("header %s has no %s", js, c.from)
		}
		bad := slices.Concat(data[:24], []byte(replace(js, c.from, c.to)), data[24+hl:])
		binary.LittleEndian.PutUint64(bad[16:], uint64(len(bad)-len(data)+hl))
		if _, err := Parse(path, bad, "k1"); err == nil {
			t.Errorf("%s → %s: no error", c.from, c.to)
		}
	}
}

func contains(s, sub string) bool { return len(replace(s, sub, "")) != len(s) }

func replace(s, from, to string) string {
	for i := 0; i+len(from) <= len(s); i++ {
		if s[i:i+len(from)] == from {
			return s[:i] + to + s[i+len(from):]
		}
	}
	return s
}

// Key changes with a file's content and its modification time; missing files are skipped.
func TestKey(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	os.WriteFile(a, []byte("one"), 0o644)
	k1, err := Key(a, filepath.Join(dir, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(a, []byte("two"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(a, old, old)
	k2, _ := Key(a)
	os.Chtimes(a, old.Add(time.Second), old.Add(time.Second))
	k3, _ := Key(a)
	if k1 == k2 || k2 == k3 {
		t.Errorf("keys %s %s %s: want all different", k1, k2, k3)
	}
}

// FuzzParse: any bytes give a pack or an error, never a panic; a pack's matrices run.
func FuzzParse(f *testing.F) {
	path, _ := writeTest(f, f.TempDir(), "k")
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:100])
	f.Add([]byte("RPIQPACK\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("fuzz", b, "k")
		if err != nil {
			return
		}
		for _, name := range p.Names() {
			l, _ := p.Get(name)
			m, err := q.FromLayout(l)
			if err != nil {
				t.Fatalf("%s: Parse accepted a layout FromLayout rejects: %v", name, err)
			}
			if m.In*m.Out > 1<<20 {
				continue
			}
			x := make([]float32, m.In)
			y := make([]float32, m.Out)
			m.MatVec(y, x)
			m.Row(x, m.Out-1)
		}
	})
}

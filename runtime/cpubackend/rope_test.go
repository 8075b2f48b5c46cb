package cpubackend

import (
	"math"
	"testing"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// RoPE from the table gives the bits of angles computed per call, for positions inside and
// beyond the table, after the frequencies change and back, and as the table grows.
func TestRoPETableSameBits(t *testing.T) {
	c := New(1)
	hd := 8
	freqs := [][]float32{{1, 0.1, 0.01, 0.001}, {0.5, 0.05, 0.005, 0.0005}}
	for _, tc := range []struct{ f, pos, rows int }{
		{0, 0, 5}, {0, 3, 40}, {1, 0, 7}, {0, 100, 3}, {1, 8190, 4}, {0, ropeMaxCached - 2, 2}, {0, 9000, 1},
	} {
		inv := freqs[tc.f]
		x := make([]float32, tc.rows*2*hd)
		for i := range x {
			x[i] = float32(i%13) - 6.5
		}
		want := append([]float32(nil), x...)
		for i := 0; i < tc.rows; i++ {
			cs := make([]float32, hd)
			cpu.RoPEAngles(cs[:hd/2], cs[hd/2:], tc.pos+i, inv)
			for o := 0; o < 2*hd; o += hd {
				cpu.RoPEWith(want[i*2*hd+o:i*2*hd+o+hd], cs[:hd/2], cs[hd/2:])
			}
		}
		tt := Wrap(x, tc.rows, 2*hd)
		c.RoPE(tt, hd, tc.pos, inv)
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
				t.Fatalf("freqs %d pos %d: value %d = %v, want %v", tc.f, tc.pos, i, x[i], want[i])
			}
		}
	}
}

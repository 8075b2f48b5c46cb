package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// SubOuterF32 against AXPY row by row (bit for bit, both register widths where the CPU has
// them) and against the float64 definition (one rounding of y − a·x per value).
func TestSubOuterF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	defer func(v bool) { hasSubOuter512 = v }(hasSubOuter512)
	avx512 := hasSubOuter512
	for _, wide := range []bool{false, true} {
		hasSubOuter512 = wide && avx512
		for _, rows := range []int{1, 2, 7, 64} {
			for _, n := range []int{1, 15, 16, 17, 32, 48, 64, 100, 128, 208} {
				ldy := n + rng.IntN(9)
				a := make([]float32, rows)
				x := make([]float32, n)
				y0 := make([]float32, rows*ldy)
				for i := range a {
					a[i] = float32(rng.NormFloat64())
				}
				for i := range x {
					x[i] = float32(rng.NormFloat64() * 3)
				}
				for i := range y0 {
					y0[i] = float32(rng.NormFloat64())
				}
				want := append([]float32(nil), y0...)
				for j, v := range a {
					AXPY(want[j*ldy:j*ldy+n], -v, x)
				}
				got := append([]float32(nil), y0...)
				SubOuterF32(got, ldy, a, x)
				for j := 0; j < rows; j++ {
					for p := 0; p < ldy; p++ {
						i := j*ldy + p
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("wide=%v rows=%d n=%d: y[%d][%d] = %v, AXPY gives %v", wide, rows, n, j, p, got[i], want[i])
						}
						if p >= n {
							if got[i] != y0[i] {
								t.Fatalf("wide=%v rows=%d n=%d: y[%d][%d] outside the rows' width changed", wide, rows, n, j, p)
							}
							continue
						}
						ref := float64(y0[i]) - float64(a[j])*float64(x[p])
						// at most two roundings (a product and a sum where no FMA runs)
						bound := 2 * (math.Abs(ref) + math.Abs(float64(a[j])*float64(x[p]))) * 0x1p-24
						if math.Abs(float64(got[i])-ref) > bound {
							t.Fatalf("wide=%v rows=%d n=%d: y[%d][%d] = %v, float64 %v (bound %g)", wide, rows, n, j, p, got[i], ref, bound)
						}
					}
				}
			}
		}
	}
}

// BenchmarkSubOuterF32 is GPTQ's within-block feedback on one tile: 64 rows, each of a 128-column
// block's columns fed to the columns after it, in multiply-adds per second on one core.
// go test -run X -bench SubOuterF32 ./kernels/cpu
func BenchmarkSubOuterF32(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	tile, ub, e := randF32(r, 64*128), randF32(r, 128*128), randF32(r, 64)
	for i := range ub {
		ub[i] *= 1e-3
	}
	for b.Loop() {
		for i := 0; i < 127; i++ {
			SubOuterF32(tile[(i+1)*64:], 64, ub[i*128+i+1:(i+1)*128], e)
		}
	}
	b.ReportMetric(float64(b.N)*64*127*128/2/b.Elapsed().Seconds()/1e9, "GFMA/s")
}

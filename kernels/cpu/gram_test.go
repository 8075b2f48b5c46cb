package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// GramAddF64 against the float64 definition on random activations: every entry it must add
// (all, or i ≤ j) within the float32 sum's bound of (T+1)·2⁻²⁴·Σ|a·b| (one rounding per token
// and the widening add), entries it may not touch untouched (far below the diagonal, the
// stride's padding); the same bits on pools of 1, 2 and 3 workers and with either tile width
// (the entries it must add).
func TestGramAddF64(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	defer func(v bool) { hasGEMM6x32 = v }(hasGEMM6x32)
	wide := hasGEMM6x32
	for _, tc := range []struct{ T, n, pad int }{{1, 1, 0}, {3, 5, 2}, {17, 31, 1}, {64, 70, 3}, {130, 100, 0}, {40, 257, 5}, {512, 200, 0}} {
		for _, upper := range []bool{false, true} {
			ld, lds := tc.n+tc.pad, tc.n+tc.pad+1
			a := make([]float32, tc.T*ld)
			b := make([]float32, tc.T*ld)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
				b[i] = float32(rng.NormFloat64() * 2)
			}
			if upper {
				b = a // the Hessian: one matrix
			}
			init := make([]float64, tc.n*lds)
			for i := range init {
				init[i] = rng.NormFloat64()
			}
			var first []float64
			for _, k32 := range []bool{false, true} {
				hasGEMM6x32 = k32 && wide
				for _, workers := range []int{1, 2, 3} {
					p := NewPool(workers)
					got := append([]float64(nil), init...)
					p.GramAddF64(got, lds, a, b, ld, tc.T, tc.n, upper)
					p.Close()
					if first == nil {
						first = got
					} else {
						for i := range got {
							if upper && i/lds > i%lds {
								continue // which entries below the diagonal are added depends on the tile width
							}
							if math.Float64bits(got[i]) != math.Float64bits(first[i]) {
								t.Fatalf("T=%d n=%d upper=%v: entry %d differs with %d workers, wide=%v: %v vs %v", tc.T, tc.n, upper, i, workers, k32, got[i], first[i])
							}
						}
					}
				}
			}
			for i := 0; i < tc.n; i++ {
				for j := 0; j < lds; j++ {
					v, v0 := first[i*lds+j], init[i*lds+j]
					if j >= tc.n || (upper && i >= j+32+6) {
						if v != v0 {
							t.Fatalf("T=%d n=%d upper=%v: entry (%d,%d) changed, must not be", tc.T, tc.n, upper, i, j)
						}
						continue
					}
					if upper && i > j {
						continue // may or may not be added
					}
					ref, abs := 0.0, 0.0
					for s := 0; s < tc.T; s++ {
						pr := float64(a[s*ld+i]) * float64(b[s*ld+j])
						ref += pr
						abs += math.Abs(pr)
					}
					bound := float64(tc.T+1)*0x1p-24*abs + 0x1p-52*(math.Abs(v0)+abs)
					if d := math.Abs((v - v0) - ref); d > bound {
						t.Fatalf("T=%d n=%d upper=%v: entry (%d,%d) adds %v, float64 %v (bound %g)", tc.T, tc.n, upper, i, j, v-v0, ref, bound)
					}
				}
			}
		}
	}
}

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPanelsF32: products with packed panels give GemmSubF32's bits (which TestGemmSubF32 checks
// against float64) on its shapes, kernels and block sizes, on one and two workers; the stored
// product is within the derived float32 bound of the float64 one and is the negated
// subtraction from zero, bit for bit.
func TestPanelsF32(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	defer func(b int, k32 bool) { packBlockBytes, hasGEMM6x32 = b, k32 }(packBlockBytes, hasGEMM6x32)
	for _, c := range kernelChoices() {
		hasGEMM6x32 = c.k32
		packBlockBytes = c.block
		for _, sz := range gemmSubShapes {
			n, k, m := sz[0], sz[1], sz[2]
			ldd, ldx, ldw := m+3, k+5, k+2
			x, w := randF32(r, n*ldx), randF32(r, m*ldw)
			dst0 := randF32(r, n*ldd)
			pw := PackPanelsF32(w, ldw, k, m, nil)
			if c.block == packBlockBytes { // packed into a given buffer, w changed afterwards
				pw = PackPanelsF32(w, ldw, k, m, make([]float32, PanelsLen(k, m)))
			}
			w0 := append([]float32(nil), w...)
			for i := range w {
				w[i] = 7
			}
			for _, p := range []*Pool{NewPool(1), NewPool(2)} {
				want := append([]float32(nil), dst0...)
				p.GemmSubF32(want, ldd, x, ldx, w0, ldw, n, k, m)
				got := append([]float32(nil), dst0...)
				p.GemmSubPanelsF32(got, ldd, x, ldx, pw, n)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d k=%d m=%d block=%d: GemmSubPanelsF32[%d] = %g, GemmSubF32 %g", n, k, m, c.block, i, got[i], want[i])
					}
				}
				zero := make([]float32, n*ldd)
				p.GemmSubPanelsF32(zero, ldd, x, ldx, pw, n)
				prod := append([]float32(nil), dst0...)
				p.MatMulPanelsF32(prod, ldd, x, ldx, pw, n)
				for i := 0; i < n; i++ {
					for j := 0; j < ldd; j++ {
						v := prod[i*ldd+j]
						if j >= m {
							if v != dst0[i*ldd+j] {
								t.Fatalf("n=%d k=%d m=%d: dst[%d][%d] outside the product changed", n, k, m, i, j)
							}
							continue
						}
						if math.Float32bits(v) != math.Float32bits(-zero[i*ldd+j]) {
							t.Fatalf("n=%d k=%d m=%d: MatMulPanelsF32[%d][%d] = %g, not −(0 − product) = %g", n, k, m, i, j, v, -zero[i*ldd+j])
						}
						exact, mag := 0.0, 0.0
						for s := 0; s < k; s++ {
							e := float64(x[i*ldx+s]) * float64(w0[j*ldw+s])
							exact += e
							mag += math.Abs(e)
						}
						if bound := float64(k+1) * 0x1p-24 * mag; math.Abs(float64(v)-exact) > bound {
							t.Fatalf("n=%d k=%d m=%d: product[%d][%d] = %g, float64 %g (bound %g)", n, k, m, i, j, v, exact, bound)
						}
					}
				}
			}
		}
	}
}

func TestPackPanelsF32Short(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a short matrix was packed")
		}
	}()
	PackPanelsF32(make([]float32, 10), 4, 4, 3, nil)
}

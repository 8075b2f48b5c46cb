package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemmSubShapes are the n, k, m of the GemmSubF32 tests: leftover rows (n mod 6, m mod 16),
// several packed blocks per worker, depths of one and of a few hundred.
var gemmSubShapes = [][3]int{{1, 1, 1}, {6, 1, 16}, {7, 5, 17}, {13, 40, 33}, {24, 300, 70}, {31, 257, 48}, {12, 40, 200}, {5, 64, 3}}

// TestGemmSubF32 against float64 on random strided operands: shapes with leftover rows (n mod 6,
// m mod 16), several packed blocks per worker, strides wider than the rows, and the entries
// around the sub-block left untouched. The bound is derived: a float32 dot of k products is
// within about (k+1)·2⁻²⁴ · Σ|x·w| of the exact sum, and the subtraction adds one rounding of
// the result.
func TestGemmSubF32(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	defer func(b int, k32 bool) { packBlockBytes, hasGEMM6x32 = b, k32 }(packBlockBytes, hasGEMM6x32)
	for _, c := range kernelChoices() {
		hasGEMM6x32 = c.k32
		block := c.block
		packBlockBytes = block
		for _, sz := range gemmSubShapes {
			n, k, m := sz[0], sz[1], sz[2]
			ldd, ldx, ldw := m+3, k+5, k+2
			x, w := randF32(r, n*ldx), randF32(r, m*ldw)
			dst0 := randF32(r, n*ldd)
			for _, p := range []*Pool{NewPool(1), NewPool(2)} {
				dst := append([]float32(nil), dst0...)
				p.GemmSubF32(dst, ldd, x, ldx, w, ldw, n, k, m)
				for i := 0; i < n; i++ {
					for j := 0; j < ldd; j++ {
						got := float64(dst[i*ldd+j])
						if j >= m {
							if got != float64(dst0[i*ldd+j]) {
								t.Fatalf("n=%d k=%d m=%d: dst[%d][%d] outside the product changed", n, k, m, i, j)
							}
							continue
						}
						want, mag := float64(dst0[i*ldd+j]), math.Abs(float64(dst0[i*ldd+j]))
						for s := 0; s < k; s++ {
							v := float64(x[i*ldx+s]) * float64(w[j*ldw+s])
							want -= v
							mag += math.Abs(v)
						}
						if bound := float64(k+2) * 0x1p-24 * mag; math.Abs(got-want) > bound {
							t.Fatalf("%s: dst[%d][%d] = %g, float64 %g (bound %g)", fmt.Sprintf("n=%d k=%d m=%d block=%d", n, k, m, block), i, j, got, want, bound)
						}
					}
				}
			}
		}
	}
	// The subtracting micro-kernels and their Go twins agree.
	k := 77
	a, b := randF32(r, 6*k+5), randF32(r, 16*k)
	c0 := randF32(r, 5*20+16)
	c1, c2 := append([]float32(nil), c0...), append([]float32(nil), c0...)
	gemm6x16Sub(a, k+1, b, k, c1, 20)
	gemm6x16Go(a, k+1, b, k, c2, 20, true)
	for i := range c1 {
		if abs32(c1[i]-c2[i]) > 1e-4 {
			t.Fatalf("gemm6x16Sub [%d] = %g, Go twin %g", i, c1[i], c2[i])
		}
	}
	b1 := randF32(r, 16*k)
	for _, sub := range []bool{false, true} {
		c0 := randF32(r, 5*40+32)
		c1, c2 := append([]float32(nil), c0...), append([]float32(nil), c0...)
		gemm6x32(a, k+1, b, b1, k, c1, 40, sub)
		gemm6x16Go(a, k+1, b, k, c2, 40, sub)
		gemm6x16Go(a, k+1, b1, k, c2[16:], 40, sub)
		for i := range c1 {
			if abs32(c1[i]-c2[i]) > 1e-4 {
				t.Fatalf("gemm6x32 (sub %v) [%d] = %g, Go twins %g", sub, i, c1[i], c2[i])
			}
		}
	}
}

// kernelChoices are the micro-kernel and block-size settings the GEMM tests run: the 16-lane
// two-panel kernel where this CPU has it and the 8-lane one, each with the default block and
// a tiny one (several blocks and panels per worker, odd panel counts).
func kernelChoices() []struct {
	k32   bool
	block int
} {
	var out []struct {
		k32   bool
		block int
	}
	for _, k32 := range []bool{hasGEMM6x32, false} {
		for _, block := range []int{packBlockBytes, 4 * 32 * 40} {
			out = append(out, struct {
				k32   bool
				block int
			}{k32, block})
		}
		if !hasGEMM6x32 {
			break
		}
	}
	return out
}

// TestGemmSubF32T: the k-major form gives GemmSubF32's bits on the transposed operand, on the
// shapes and settings of TestGemmSubF32 (which checks those against float64), and leaves the
// entries outside the product alone.
func TestGemmSubF32T(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	defer func(b int, k32 bool) { packBlockBytes, hasGEMM6x32 = b, k32 }(packBlockBytes, hasGEMM6x32)
	for _, c := range kernelChoices() {
		hasGEMM6x32, packBlockBytes = c.k32, c.block
		for _, sz := range gemmSubShapes {
			n, k, m := sz[0], sz[1], sz[2]
			ldd, ldx, ldw, ldwT := m+3, k+5, k+2, m+7
			x, w := randF32(r, n*ldx), randF32(r, m*ldw)
			wT := randF32(r, k*ldwT)
			for j := 0; j < m; j++ {
				for s := 0; s < k; s++ {
					wT[s*ldwT+j] = w[j*ldw+s]
				}
			}
			dst0 := randF32(r, n*ldd)
			for _, p := range []*Pool{NewPool(1), NewPool(2)} {
				want := append([]float32(nil), dst0...)
				p.GemmSubF32(want, ldd, x, ldx, w, ldw, n, k, m)
				got := append([]float32(nil), dst0...)
				p.GemmSubF32T(got, ldd, x, ldx, wT, ldwT, n, k, m)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d k=%d m=%d block=%d: dst[%d] = %g, GemmSubF32 %g", n, k, m, c.block, i, got[i], want[i])
					}
				}
			}
		}
	}
}

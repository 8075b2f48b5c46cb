package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TransposeF32 moves every element to its transposed place on shapes that leave row and column
// edges around the 8×8 blocks, with strides wider than the rows, and touches nothing else.
func TestTransposeF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, rows := range []int{0, 1, 7, 8, 9, 16, 23, 64} {
		for _, cols := range []int{0, 1, 5, 8, 15, 16, 33, 128} {
			lds, ldd := cols+rng.IntN(3), rows+rng.IntN(3)
			src := make([]float32, max((rows-1)*lds+cols, 1)) // the last row no longer than cols
			for i := range src {
				src[i] = rng.Float32()
			}
			dst := make([]float32, max((cols-1)*ldd+rows, 1))
			for i := range dst {
				dst[i] = -1
			}
			TransposeF32(dst, ldd, src, lds, rows, cols)
			for c := 0; c < cols; c++ {
				for r := 0; r < ldd && c*ldd+r < len(dst); r++ {
					want := float32(-1)
					if r < rows {
						want = src[r*lds+c]
					}
					if got := dst[c*ldd+r]; got != want {
						t.Fatalf("%d×%d: dst[%d][%d] = %v, want %v", rows, cols, c, r, got, want)
					}
				}
			}
		}
	}
}

// TransposeF64ToF32 converts and moves every element to its transposed place (bit for bit:
// float32 of the value, -0 included), touches nothing else, and reports a non-finite value or
// one beyond float32's range wherever it sits: in an 8×8 block or in an edge.
func TestTransposeF64ToF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	for _, rows := range []int{0, 1, 7, 8, 9, 16, 23, 64} {
		for _, cols := range []int{0, 1, 5, 8, 15, 16, 33, 128} {
			lds, ldd := cols+rng.IntN(3), rows+rng.IntN(3)
			src := make([]float64, max((rows-1)*lds+cols, 1))
			for i := range src {
				src[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(60)-30))
			}
			if len(src) > 3 {
				src[rng.IntN(len(src))] = math.Copysign(0, -1)
			}
			dst := make([]float32, max((cols-1)*ldd+rows, 1))
			for i := range dst {
				dst[i] = -1
			}
			if !TransposeF64ToF32(dst, ldd, src, lds, rows, cols) {
				t.Fatalf("%d×%d: finite values reported as not finite", rows, cols)
			}
			for c := 0; c < cols; c++ {
				for r := 0; r < ldd && c*ldd+r < len(dst); r++ {
					want := float32(-1)
					if r < rows {
						want = float32(src[r*lds+c])
					}
					if got := dst[c*ldd+r]; math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("%d×%d: dst[%d][%d] = %v, want %v", rows, cols, c, r, got, want)
					}
				}
			}
			if rows == 0 || cols == 0 {
				continue
			}
			for _, bad := range []float64{math.Inf(1), math.Inf(-1), math.NaN(), 1e39, -math.MaxFloat64} {
				for _, at := range [][2]int{{0, 0}, {rows - 1, cols - 1}, {rng.IntN(rows), rng.IntN(cols)}} {
					i := at[0]*lds + at[1]
					keep := src[i]
					src[i] = bad
					if TransposeF64ToF32(dst, ldd, src, lds, rows, cols) {
						t.Fatalf("%d×%d: %v at row %d column %d not reported", rows, cols, bad, at[0], at[1])
					}
					src[i] = keep
				}
			}
		}
	}
}

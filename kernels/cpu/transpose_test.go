package cpu

import (
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

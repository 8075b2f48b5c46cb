//go:build !amd64 || noasm

package cpu

func expShiftSum(x []float32, mx float32) float32 { return expShiftSumGo(x, mx) }

func maxF32(x []float32) float32 { return maxF32Go(x) }

// ScaleF32 multiplies x by a.
func ScaleF32(x []float32, a float32) {
	for i := range x {
		x[i] *= a
	}
}

// SwiGLU sets dst[i] = silu(gate[i]) · up[i].
func SwiGLU(dst, gate, up []float32) { swigluGo(dst, gate[:len(dst)], up[:len(dst)]) }

//go:build amd64 && !noasm

package cpu

import (
	"math"

	"golang.org/x/sys/cpu"
)

//go:noescape
func expShiftSumAVX2(x *float32, n int, mx float32) float32

// expShiftSum sets x[i] = float32(math.Exp(float64(x[i]-mx))) and returns their sum, four
// values at a time in AVX2 lanes that repeat math.Exp's own FMA instruction sequence (so each
// value is bit-identical to the scalar one; only the sum's order differs). mx must be the
// maximum of x and finite.
func expShiftSum(x []float32, mx float32) float32 {
	n4 := len(x) &^ 3
	var s float32
	if hasAVX512 && n4 > 0 {
		s = expShiftSumAVX512(&x[0], n4, mx)
	} else if hasAVX2FMA && n4 > 0 {
		s = expShiftSumAVX2(&x[0], n4, mx)
	} else {
		n4 = 0
	}
	return s + expShiftSumGo(x[n4:], mx)
}

//go:noescape
func maxF32AVX2(x *float32, n int) (mx float32, unordered bool)

//go:noescape
func scaleF32AVX2(x *float32, n int, a float32)

// maxF32 is the largest value of x (NaN if x holds one, as the max builtin gives).
func maxF32(x []float32) float32 {
	n8 := len(x) &^ 7
	if !hasAVX2FMA || n8 == 0 {
		return maxF32Go(x)
	}
	mx, nan := maxF32AVX2(&x[0], n8)
	if nan {
		return float32(math.NaN())
	}
	for _, v := range x[n8:] {
		mx = max(mx, v)
	}
	return mx
}

// ScaleF32 multiplies x by a.
func ScaleF32(x []float32, a float32) {
	n8 := len(x) &^ 7
	if hasAVX2FMA && n8 > 0 {
		scaleF32AVX2(&x[0], n8, a)
	} else {
		n8 = 0
	}
	for i := n8; i < len(x); i++ {
		x[i] *= a
	}
}

//go:noescape
func swigluAVX2(dst, gate, up *float32, n int)

// SwiGLU sets dst[i] = silu(gate[i]) · up[i], four values at a time with math.Exp's own
// instruction sequence (bit-identical to SiLU's scalar values).
func SwiGLU(dst, gate, up []float32) {
	gate, up = gate[:len(dst)], up[:len(dst)]
	n4 := len(dst) &^ 3
	if hasAVX512 && n4 > 0 {
		swigluAVX512(&dst[0], &gate[0], &up[0], n4)
	} else if hasAVX2FMA && n4 > 0 {
		swigluAVX2(&dst[0], &gate[0], &up[0], n4)
	} else {
		n4 = 0
	}
	swigluGo(dst[n4:], gate[n4:], up[n4:])
}

//go:noescape
func expShiftSumAVX512(x *float32, n int, mx float32) float32

// hasAVX512 says whether the AVX-512 forms of the exp kernels run (8 float64 lanes; the same
// values and sums as the AVX2 ones).
var hasAVX512 = hasAVX2FMA && cpu.X86.HasAVX512F

//go:noescape
func swigluAVX512(dst, gate, up *float32, n int)

package quant

import (
	"fmt"
	"math"

	"github.com/rpiq/rpiq/kernels/half"
)

// Grid describes the integer grid one quantized matrix uses: codes 0..2^Bits-1, a scale and an
// integer zero per (group, output row).
type Grid struct {
	Bits int  // 2, 3, 4 or 8
	Sym  bool // symmetric: zero fixed at 2^(Bits-1)
	// ScaleFP16 rounds every scale to float16 before codes are chosen, so the codes are the ones
	// a loader reconstructs from the stored fp16 scales (pitfall P4). The GPTQ reference keeps
	// float32 scales; tests that compare against it set this false.
	ScaleFP16 bool
}

// MaxQ is the largest code.
func (g Grid) MaxQ() int { return 1<<g.Bits - 1 }

// Validate reports an unsupported bit width.
func (g Grid) Validate() error {
	switch g.Bits {
	case 2, 3, 4, 8:
		return nil
	}
	return fmt.Errorf("quant: bits = %d, want 2, 3, 4 or 8", g.Bits)
}

// Params is the min-max fit of the reference quantizer (quant.py find_params) for one row of one
// group: the range always contains 0; sym mirrors it around 0 (except when there are no negative
// values, a quirk kept on purpose, §2.3); an all-zero row gets the range [-1, 1].
func (g Grid) Params(x []float64) (scale float64, zero int) {
	xmin, xmax := minMax0(x)
	return g.paramsRange(xmin, xmax)
}

// minMax0 is the smallest and largest of x and 0: finite values (checked by the callers), so
// plain comparisons; float32 values give the float64 of their float32 extremes, as converting
// them first would.
func minMax0[F float32 | float64](x []F) (xmin, xmax float64) {
	var lo, hi F
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return float64(lo), float64(hi)
}

// paramsRange is Params from the range [xmin, xmax] of a row's values and 0.
func (g Grid) paramsRange(xmin, xmax float64) (scale float64, zero int) {
	maxq := float64(g.MaxQ())
	if g.Sym {
		xmax = math.Max(-xmin, xmax)
		if xmin < 0 {
			xmin = -xmax
		}
	}
	if xmin == 0 && xmax == 0 {
		xmin, xmax = -1, 1
	}
	scale = (xmax - xmin) / maxq
	if g.ScaleFP16 {
		scale = roundScaleFP16(scale)
	}
	if g.Sym {
		zero = (g.MaxQ() + 1) / 2
	} else {
		zero = int(math.RoundToEven(-xmin / scale))
	}
	return scale, zero
}

// roundScaleFP16 rounds a positive scale to the nearest float16, keeping it positive and finite
// (a scale below float16's smallest subnormal becomes that subnormal).
func roundScaleFP16(s float64) float64 {
	r := float64(half.F16ToF32(half.F32ToF16(float32(s))))
	if r <= 0 {
		r = float64(half.F16ToF32(1)) // smallest positive subnormal
	}
	if math.IsInf(r, 0) {
		r = 65504
	}
	return r
}

// Code returns the integer code of x: clamp(roundHalfEven(x/scale) + zero, 0, maxq).
func (g Grid) Code(x, scale float64, zero int) int {
	q := math.RoundToEven(x/scale) + float64(zero)
	if q < 0 {
		return 0
	}
	if m := float64(g.MaxQ()); q > m {
		return g.MaxQ()
	}
	return int(q)
}

// Dequant maps a code back to a weight.
func Dequant(code int, scale float64, zero int) float64 { return scale * float64(code-zero) }

// Quantize rounds x onto the grid (scale, zero).
func (g Grid) Quantize(x, scale float64, zero int) float64 {
	return Dequant(g.Code(x, scale, zero), scale, zero)
}

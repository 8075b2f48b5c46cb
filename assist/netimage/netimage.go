// Package netimage holds what the assistant's text networks (assist/textrec, assist/textdet)
// share: a picture as float RGB for resampling, and the adapter that runs a one-input,
// one-output runtime/onnx model.
package netimage

import (
	"image"
	"math"

	"github.com/rpiq/rpiq/runtime/onnx"
)

// RGB is a picture as float RGB triples, row by row.
type RGB struct {
	W, H int
	Pix  []float64
}

// FromImage converts img (grey pictures without a per-pixel interface call).
func FromImage(img image.Image) RGB {
	b := img.Bounds()
	p := RGB{W: b.Dx(), H: b.Dy(), Pix: make([]float64, 3*b.Dx()*b.Dy())}
	g, gray := img.(*image.Gray)
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if gray {
				v := float64(g.Pix[g.PixOffset(x, y)])
				p.Pix[i], p.Pix[i+1], p.Pix[i+2] = v, v, v
			} else {
				r, gg, bb, _ := img.At(x, y).RGBA()
				p.Pix[i], p.Pix[i+1], p.Pix[i+2] = float64(r>>8), float64(gg>>8), float64(bb>>8)
			}
			i += 3
		}
	}
	return p
}

// Bilinear samples at (x, y), clamped to the picture (OpenCV's INTER_LINEAR for a resize).
func (p RGB) Bilinear(x, y float64) [3]float64 {
	x = math.Max(0, math.Min(float64(p.W-1), x))
	y = math.Max(0, math.Min(float64(p.H-1), y))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, p.W-1), min(y0+1, p.H-1)
	ax, ay := x-float64(x0), y-float64(y0)
	var o [3]float64
	for c := 0; c < 3; c++ {
		a := p.Pix[3*(y0*p.W+x0)+c]*(1-ax) + p.Pix[3*(y0*p.W+x1)+c]*ax
		b := p.Pix[3*(y1*p.W+x0)+c]*(1-ax) + p.Pix[3*(y1*p.W+x1)+c]*ax
		o[c] = a*(1-ay) + b*ay
	}
	return o
}

// Runner runs a model with one input and one output: x in the given shape in, the output's
// values and shape out.
type Runner struct{ M *onnx.Model }

func (r Runner) Run(x []float32, shape []int) ([]float32, []int, error) {
	out, err := r.M.Run(map[string]onnx.Tensor{r.M.Inputs()[0]: {Shape: shape, Data: x}})
	if err != nil {
		return nil, nil, err
	}
	y := out[r.M.Outputs()[0]]
	return y.Data, y.Shape, nil
}

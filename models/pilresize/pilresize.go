// Package pilresize reproduces Pillow 9.4's Image.resize of 8-bit RGB images byte for byte
// (libImaging/Resample.c): the filter widened by the scale when shrinking (antialiasing),
// coefficients normalised then rounded to 22 fractional bits, the horizontal pass then the
// vertical, each rounding and clipping to uint8; a pass whose size does not change is skipped, as
// Pillow skips it.
package pilresize

import "math"

// Filter is one of Pillow's resampling kernels: its support (half-width at scale 1) and weight
// function.
type Filter struct {
	Support float64
	Weight  func(x float64) float64
}

// Bicubic is Pillow's BICUBIC (Keys, a = -0.5), support 2.
var Bicubic = Filter{Support: 2, Weight: bicubic}

// Lanczos is Pillow's LANCZOS (a = 3), support 3.
var Lanczos = Filter{Support: 3, Weight: lanczos}

const precisionBits = 32 - 8 - 2

func bicubic(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

func lanczos(x float64) float64 {
	if -3 <= x && x < 3 {
		return sinc(x) * sinc(x/3)
	}
	return 0
}

// coeffs returns, for each output index, the first input index and the tap count (in bounds), the
// row width of kk, and the fixed-point weights.
func coeffs(f Filter, inSize, outSize int) (bounds []int, ksize int, kk []int32) {
	scale := float64(inSize) / float64(outSize)
	filterscale := math.Max(scale, 1)
	support := f.Support * filterscale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*outSize)
	kk = make([]int32, outSize*ksize)
	k := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterscale
		xmin := int(center - support + 0.5) // C truncation toward zero
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		var ww float64
		for x := 0; x < xmax; x++ {
			w := f.Weight((float64(x+xmin) - center + 0.5) * ss)
			k[x] = w
			ww += w
		}
		for x := 0; x < ksize; x++ {
			v := 0.0
			if x < xmax && ww != 0 {
				v = k[x] / ww
			}
			if v < 0 {
				kk[xx*ksize+x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				kk[xx*ksize+x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		bounds[2*xx], bounds[2*xx+1] = xmin, xmax
	}
	return bounds, ksize, kk
}

func clip8(v int64) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// RGB resamples interleaved 8-bit RGB w×h to ow×oh with filter f, as Pillow 9.4's
// Image.resize((ow, oh), f) does. src is returned as is when the size does not change.
func RGB(src []uint8, w, h, ow, oh int, f Filter) []uint8 {
	cur, cw := src, w
	if ow != w {
		bounds, ks, kk := coeffs(f, w, ow)
		out := make([]uint8, 3*ow*h)
		for y := 0; y < h; y++ {
			row := cur[3*y*w:]
			for xx := 0; xx < ow; xx++ {
				xmin, n := bounds[2*xx], bounds[2*xx+1]
				k := kk[xx*ks:]
				for c := 0; c < 3; c++ {
					ss := int64(1) << (precisionBits - 1)
					for x := 0; x < n; x++ {
						ss += int64(row[3*(x+xmin)+c]) * int64(k[x])
					}
					out[3*(y*ow+xx)+c] = clip8(ss)
				}
			}
		}
		cur, cw = out, ow
	}
	if oh != h {
		bounds, ks, kk := coeffs(f, h, oh)
		out := make([]uint8, 3*cw*oh)
		for yy := 0; yy < oh; yy++ {
			ymin, n := bounds[2*yy], bounds[2*yy+1]
			k := kk[yy*ks:]
			for x := 0; x < cw; x++ {
				for c := 0; c < 3; c++ {
					ss := int64(1) << (precisionBits - 1)
					for y := 0; y < n; y++ {
						ss += int64(cur[3*((y+ymin)*cw+x)+c]) * int64(k[y])
					}
					out[3*(yy*cw+x)+c] = clip8(ss)
				}
			}
		}
		cur = out
	}
	return cur
}

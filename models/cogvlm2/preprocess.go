package cogvlm2

import (
	"fmt"
	"image"
	"math"

	"github.com/rpiq/rpiq/models/multimodal"
)

// CLIP's normalisation constants (OpenAI), which CogVLM2's transform uses.
var (
	clipMean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	clipStd  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// Preprocess turns an image into the vision tower's input as the reference does:
// Resize((size, size), BICUBIC) on the RGB image with PIL's resampler (aspect ratio not kept),
// then ToTensor and CLIP Normalize. The result is CHW float32: 3 planes of size×size.
func Preprocess(source string, img image.Image, size int) ([]float32, error) {
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, &multimodal.ImageError{Source: source, Problem: fmt.Sprintf("the image has no pixels (%d×%d)", b.Dx(), b.Dy())}
	}
	rgb := toRGB(img)
	resized := resizeBicubic(rgb, b.Dx(), b.Dy(), size, size)
	out := make([]float32, 3*size*size)
	plane := size * size
	for i := 0; i < plane; i++ {
		for c := 0; c < 3; c++ {
			v := float32(resized[3*i+c]) / 255
			out[c*plane+i] = (v - clipMean[c]) / clipStd[c]
		}
	}
	return out, nil
}

// toRGB flattens any image to 8-bit RGB (alpha dropped, as PIL's convert("RGB") does for
// non-premultiplied images).
func toRGB(img image.Image) []uint8 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := make([]uint8, 0, 3*w*h)
	switch m := img.(type) {
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := 0; x < w; x++ {
				out = append(out, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
		return out
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := 0; x < w; x++ {
				out = append(out, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
		return out
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := colorNRGBA(img, x, y)
			out = append(out, c[0], c[1], c[2])
		}
	}
	return out
}

func colorNRGBA(img image.Image, x, y int) [3]uint8 {
	r, g, b, a := img.At(x, y).RGBA()
	if a == 0 {
		return [3]uint8{}
	}
	if a != 0xffff { // un-premultiply
		r, g, b = r*0xffff/a, g*0xffff/a, b*0xffff/a
	}
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

// PIL's bicubic filter (Keys, a = -0.5) with support 2, widened by the scale when shrinking
// (antialiasing), and its 8-bit fixed-point arithmetic: coefficients in 22 fractional bits,
// horizontal pass then vertical, each rounding and clipping to uint8 (libImaging/Resample.c).
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

// coeffs returns, for each output index, the first input index, the tap count and the fixed-point
// weights.
func coeffs(inSize, outSize int) (bounds []int, ksize int, kk []int32) {
	scale := float64(inSize) / float64(outSize)
	filterscale := math.Max(scale, 1)
	support := 2 * filterscale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*outSize)
	kk = make([]int32, outSize*ksize)
	k := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterscale
		xmin := int(center - support + 0.5) // C truncation toward zero; center-support+0.5 may be negative
		if center-support+0.5 < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		var ww float64
		for x := 0; x < xmax; x++ {
			w := bicubic((float64(x+xmin) - center + 0.5) * ss)
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

// resizeBicubic resizes interleaved RGB w×h to ow×oh; a pass whose size does not change is skipped
// as PIL skips it.
func resizeBicubic(src []uint8, w, h, ow, oh int) []uint8 {
	cur, cw := src, w
	if ow != w {
		bounds, ks, kk := coeffs(w, ow)
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
		bounds, ks, kk := coeffs(h, oh)
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

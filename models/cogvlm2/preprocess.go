package cogvlm2

import (
	"fmt"
	"image"

	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/models/pilresize"
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

// resizeBicubic resizes interleaved RGB w×h to ow×oh as Pillow 9.4's BICUBIC resize does.
func resizeBicubic(src []uint8, w, h, ow, oh int) []uint8 {
	return pilresize.RGB(src, w, h, ow, oh, pilresize.Bicubic)
}

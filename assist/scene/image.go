package scene

import (
	"image"
	"image/color"

	"github.com/rpiq/rpiq/device/camera"
	"gocv.io/x/gocv"
)

// bgrBytes returns the picture as 8-bit B, G, R bytes, rows top to bottom (OpenCV's order).
func bgrBytes(img image.Image) (w, h int, pix []byte) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	pix = make([]byte, 3*w*h)
	switch m := img.(type) {
	case *camera.Frame:
		for i := 0; i < w*h; i++ {
			pix[3*i], pix[3*i+1], pix[3*i+2] = m.Pix[3*i+2], m.Pix[3*i+1], m.Pix[3*i]
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[(y)*m.Stride:]
			for x := 0; x < w; x++ {
				o := 3 * (y*w + x)
				pix[o], pix[o+1], pix[o+2] = row[4*x+2], row[4*x+1], row[4*x]
			}
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				o := 3 * (y*w + x)
				pix[o], pix[o+1], pix[o+2] = bb, g, r
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				o := 3 * (y*w + x)
				pix[o], pix[o+1], pix[o+2] = c.B, c.G, c.R
			}
		}
	}
	return w, h, pix
}

// bgrMat copies the picture into a tracked 8-bit BGR Mat (the caller closes it).
func bgrMat(img image.Image) (gocv.Mat, error) {
	w, h, pix := bgrBytes(img)
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, pix)
	if err != nil {
		return gocv.Mat{}, err
	}
	// NewMatFromBytes keeps pointing at pix; clone so the Mat owns its pixels.
	c := m.Clone()
	m.Close()
	return track(c), nil
}

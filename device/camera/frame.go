package camera

import (
	"image"
	"image/color"
	"image/draw"
	"time"
)

// Frame is one picture as plain RGB bytes, so consumers need not import gocv. It implements
// image.Image.
type Frame struct {
	Width, Height int
	Pix           []byte // R, G, B per pixel; rows top to bottom; stride 3*Width
	Time          time.Time
	Index         int // position in the burst it came from

	// Measurements of the luma, filled in by the camera (or Measure).
	Brightness float64 // mean, 0..255
	Contrast   float64 // standard deviation, 0..~128
	Sharpness  float64 // variance of the Laplacian, at most 640 pixels wide
}

// Focus is the Laplacian variance divided by the luma variance: how sharp the edges are for
// the amount of contrast in the picture. Unlike the raw Sharpness it does not fall when there is
// little in the picture (one short word on a plain card), so it is what the blur check uses;
// Sharpness still ranks the frames of one burst, which all show the same scene.
func (f *Frame) Focus() float64 {
	if f.Contrast <= 0 {
		return 0
	}
	return f.Sharpness / (f.Contrast * f.Contrast)
}

// ColorModel implements image.Image.
func (f *Frame) ColorModel() color.Model { return color.RGBAModel }

// Bounds implements image.Image.
func (f *Frame) Bounds() image.Rectangle { return image.Rect(0, 0, f.Width, f.Height) }

// At implements image.Image.
func (f *Frame) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= f.Width || y >= f.Height {
		return color.RGBA{}
	}
	i := 3 * (y*f.Width + x)
	return color.RGBA{f.Pix[i], f.Pix[i+1], f.Pix[i+2], 255}
}

// RGBA returns a copy as an *image.RGBA.
func (f *Frame) RGBA() *image.RGBA {
	img := image.NewRGBA(f.Bounds())
	for i, j := 0, 0; i < len(f.Pix); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = f.Pix[i], f.Pix[i+1], f.Pix[i+2], 255
	}
	return img
}

// Gray returns the luma (ITU-R BT.601, as OpenCV computes it) as an *image.Gray: what OCR wants.
func (f *Frame) Gray() *image.Gray {
	img := image.NewGray(f.Bounds())
	for i, j := 0, 0; i < len(f.Pix); i, j = i+3, j+1 {
		img.Pix[j] = luma(f.Pix[i], f.Pix[i+1], f.Pix[i+2])
	}
	return img
}

func luma(r, g, b byte) byte {
	return byte((299*int(r) + 587*int(g) + 114*int(b) + 500) / 1000)
}

// FrameFromImage copies any image into a Frame (measurements not filled in).
func FrameFromImage(img image.Image) *Frame {
	b := img.Bounds()
	rgba, ok := img.(*image.RGBA)
	if !ok || rgba.Rect.Min != (image.Point{}) {
		rgba = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
	}
	f := &Frame{Width: b.Dx(), Height: b.Dy(), Pix: make([]byte, 3*b.Dx()*b.Dy()), Time: time.Now()}
	for y := 0; y < f.Height; y++ {
		row := rgba.Pix[y*rgba.Stride:]
		for x := 0; x < f.Width; x++ {
			copy(f.Pix[3*(y*f.Width+x):], row[4*x:4*x+3])
		}
	}
	return f
}

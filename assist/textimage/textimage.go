// Package textimage renders lines of text into a picture (the Go font, dark on light), for tests
// and for the sample image in examples/: the project makes its own test pictures.
package textimage

import (
	"image"
	"image/color"
	"image/draw"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

var (
	once sync.Once
	ttf  *opentype.Font
	err  error
)

// Options of Render. Zero values: 640x480, 40 px text, black on white.
type Options struct {
	Width, Height int
	Size          float64 // text height in pixels
	Ink, Paper    color.Color
	Left, Top     int // position of the first line's baseline box; default 30, 60
}

// Render draws lines, one under the other.
func Render(lines []string, o Options) (*image.RGBA, error) {
	once.Do(func() { ttf, err = opentype.Parse(goregular.TTF) })
	if err != nil {
		return nil, err
	}
	if o.Width == 0 {
		o.Width = 640
	}
	if o.Height == 0 {
		o.Height = 480
	}
	if o.Size == 0 {
		o.Size = 40
	}
	if o.Ink == nil {
		o.Ink = color.Black
	}
	if o.Paper == nil {
		o.Paper = color.White
	}
	if o.Left == 0 {
		o.Left = 30
	}
	if o.Top == 0 {
		o.Top = 30 + int(o.Size)
	}
	face, err := opentype.NewFace(ttf, &opentype.FaceOptions{Size: o.Size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, err
	}
	defer face.Close()
	img := image.NewRGBA(image.Rect(0, 0, o.Width, o.Height))
	draw.Draw(img, img.Bounds(), image.NewUniform(o.Paper), image.Point{}, draw.Src)
	d := font.Drawer{Dst: img, Src: image.NewUniform(o.Ink), Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(o.Left, o.Top+int(float64(i)*o.Size*1.5))
		d.DrawString(l)
	}
	return img, nil
}

// Package textimage renders lines of text into a picture (the Go fonts), for tests, benchmarks
// and the sample image in examples/: the project makes its own test pictures (labels at several
// sizes, fonts, rotations, contrasts and blur) at test time, so none is committed.
package textimage

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Font is one of the Go fonts.
type Font int

const (
	Regular Font = iota
	Bold
	Mono
	Italic
)

func (f Font) String() string {
	return [...]string{"regular", "bold", "mono", "italic"}[f]
}

var (
	once  sync.Once
	fonts [4]*opentype.Font
	err   error
)

func parse() {
	for i, b := range [][]byte{goregular.TTF, gobold.TTF, gomono.TTF, goitalic.TTF} {
		if fonts[i], err = opentype.Parse(b); err != nil {
			return
		}
	}
}

// Options of Render. Zero values: 640x480, 40 px text, black on white, regular.
type Options struct {
	Width, Height int
	Size          float64 // text height in pixels
	Ink, Paper    color.Color
	Left, Top     int // position of the first line's baseline box; default 30, 30+Size
	Font          Font
}

// Line is one line of a label, with its own size and font (0 size: Options.Size).
type Line struct {
	Text string
	Size float64
	Font Font
}

// Render draws lines, one under the other.
func Render(lines []string, o Options) (*image.RGBA, error) {
	ls := make([]Line, len(lines))
	for i, l := range lines {
		ls[i] = Line{Text: l, Font: o.Font}
	}
	return RenderLines(ls, o)
}

// RenderLines draws lines of mixed sizes and fonts, one under the other (1.5 line spacing).
func RenderLines(lines []Line, o Options) (*image.RGBA, error) {
	once.Do(parse)
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
	first := o.Size
	if len(lines) > 0 && lines[0].Size > 0 {
		first = lines[0].Size
	}
	if o.Top == 0 {
		o.Top = 30 + int(first)
	}
	img := image.NewRGBA(image.Rect(0, 0, o.Width, o.Height))
	draw.Draw(img, img.Bounds(), image.NewUniform(o.Paper), image.Point{}, draw.Src)
	y := float64(o.Top)
	for i, l := range lines {
		size := l.Size
		if size == 0 {
			size = o.Size
		}
		if i > 0 {
			y += size * 1.5
		}
		if int(l.Font) < 0 || int(l.Font) >= len(fonts) {
			return nil, fmt.Errorf("textimage: no font %d", l.Font)
		}
		face, err := opentype.NewFace(fonts[l.Font], &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
		if err != nil {
			return nil, err
		}
		d := font.Drawer{Dst: img, Src: image.NewUniform(o.Ink), Face: face}
		d.Dot = fixed.P(o.Left, int(y))
		d.DrawString(l.Text)
		face.Close()
	}
	return img, nil
}

// Turn rotates img by quarter turns clockwise (1: 90°, 2: 180°, 3: 270°), as a page lies when
// the camera or the page is turned.
func Turn(img image.Image, quarters int) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	q := ((quarters % 4) + 4) % 4
	ow, oh := w, h
	if q%2 == 1 {
		ow, oh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var nx, ny int
			switch q {
			case 0:
				nx, ny = x, y
			case 1:
				nx, ny = h-1-y, x
			case 2:
				nx, ny = w-1-x, h-1-y
			case 3:
				nx, ny = y, w-1-x
			}
			out.Set(nx, ny, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

// Rotate turns img by deg degrees (clockwise, any angle, bilinear), filling the corners with bg:
// a label held a little askew.
func Rotate(img image.Image, deg float64, bg color.Color) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	br, bgg, bb, _ := bg.RGBA()
	s, c := math.Sincos(deg * math.Pi / 180)
	cx, cy := float64(w)/2, float64(h)/2
	src := rgba(img)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Inverse map: where in the source does this output pixel come from?
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			sx := c*dx + s*dy + cx - 0.5
			sy := -s*dx + c*dy + cy - 0.5
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			fx, fy := sx-float64(x0), sy-float64(y0)
			var acc [3]float64
			for _, p := range [4][3]float64{{0, 0, (1 - fx) * (1 - fy)}, {1, 0, fx * (1 - fy)}, {0, 1, (1 - fx) * fy}, {1, 1, fx * fy}} {
				xx, yy := x0+int(p[0]), y0+int(p[1])
				var r, g, bl float64
				if xx < 0 || yy < 0 || xx >= w || yy >= h {
					r, g, bl = float64(br>>8), float64(bgg>>8), float64(bb>>8)
				} else {
					i := yy*src.Stride + 4*xx
					r, g, bl = float64(src.Pix[i]), float64(src.Pix[i+1]), float64(src.Pix[i+2])
				}
				acc[0] += p[2] * r
				acc[1] += p[2] * g
				acc[2] += p[2] * bl
			}
			i := y*out.Stride + 4*x
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = uint8(acc[0]+0.5), uint8(acc[1]+0.5), uint8(acc[2]+0.5), 255
		}
	}
	return out
}

// Blur applies three passes of a (2r+1)-wide box blur in each direction (close to a Gaussian of
// sigma ≈ r): an out-of-focus camera.
func Blur(img image.Image, r int) *image.RGBA {
	src := rgba(img)
	if r <= 0 {
		return src
	}
	w, h := src.Rect.Dx(), src.Rect.Dy()
	a := src
	for pass := 0; pass < 3; pass++ {
		a = boxH(a, w, h, r)
		a = boxV(a, w, h, r)
	}
	return a
}

func boxH(src *image.RGBA, w, h, r int) *image.RGBA {
	out := image.NewRGBA(src.Rect)
	for y := 0; y < h; y++ {
		for ch := 0; ch < 3; ch++ {
			sum, n := 0, 0
			for x := -r; x < w+r; x++ {
				if x+r < w {
					sum += int(src.Pix[y*src.Stride+4*min(x+r, w-1)+ch])
					n++
				}
				if x-r-1 >= 0 {
					sum -= int(src.Pix[y*src.Stride+4*(x-r-1)+ch])
					n--
				}
				if x >= 0 && x < w {
					out.Pix[y*out.Stride+4*x+ch] = uint8((sum + n/2) / n)
				}
			}
		}
		for x := 0; x < w; x++ {
			out.Pix[y*out.Stride+4*x+3] = 255
		}
	}
	return out
}

func boxV(src *image.RGBA, w, h, r int) *image.RGBA {
	out := image.NewRGBA(src.Rect)
	for x := 0; x < w; x++ {
		for ch := 0; ch < 3; ch++ {
			sum, n := 0, 0
			for y := -r; y < h+r; y++ {
				if y+r < h {
					sum += int(src.Pix[min(y+r, h-1)*src.Stride+4*x+ch])
					n++
				}
				if y-r-1 >= 0 {
					sum -= int(src.Pix[(y-r-1)*src.Stride+4*x+ch])
					n--
				}
				if y >= 0 && y < h {
					out.Pix[y*out.Stride+4*x+ch] = uint8((sum + n/2) / n)
				}
			}
		}
		for y := 0; y < h; y++ {
			out.Pix[y*out.Stride+4*x+3] = 255
		}
	}
	return out
}

// Darken scales every pixel by f (0..1): a picture taken in poor light.
func Darken(img image.Image, f float64) *image.RGBA {
	src := rgba(img)
	out := image.NewRGBA(src.Rect)
	for i, v := range src.Pix {
		if i%4 == 3 {
			out.Pix[i] = 255
			continue
		}
		out.Pix[i] = uint8(float64(v)*f + 0.5)
	}
	return out
}

// rgba returns img as an *image.RGBA with origin (0, 0), copying when needed.
func rgba(img image.Image) *image.RGBA {
	if r, ok := img.(*image.RGBA); ok && r.Rect.Min == (image.Point{}) {
		return r
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out
}

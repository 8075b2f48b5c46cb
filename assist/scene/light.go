package scene

import (
	"image"
	"image/color"
	"math"
)

// Light is how bright the picture is and where its brightest light is, measured as CIE
// lightness L* (0 black .. 100 white), which follows what a person sees, not the sensor's count.
type Light struct {
	Mean float64 // mean L* of the whole picture
	// Source is set when a small part of the picture is much brighter than the rest (a lamp, a
	// window): its centre as fractions of the width and height.
	Source  bool
	SourceX float64
	SourceY float64
}

// Lightness levels (L*) used to speak about light.
const (
	darkL   = 18 // below: "the room is dark"
	dimL    = 38 // below: "it is dim"
	sourceL = 92 // a cell this bright is a light source, when the picture is not all this bright
)

// MeasureLight divides the picture into a 16x12 grid of cells and measures each cell's mean
// lightness.
func MeasureLight(img image.Image) Light {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return Light{}
	}
	const gw, gh = 16, 12
	var sum [gh][gw]float64
	var n [gh][gw]int
	step := max(1, min(w, h)/120)
	for y := 0; y < h; y += step {
		for x := 0; x < w; x += step {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			yl := 0.2126729*srgbToLinear(float64(c.R)/255) + 0.7151522*srgbToLinear(float64(c.G)/255) + 0.0721750*srgbToLinear(float64(c.B)/255)
			cy, cx := y*gh/h, x*gw/w
			sum[cy][cx] += yl
			n[cy][cx]++
		}
	}
	var l Light
	cells := 0
	bright, bx, by := 0, 0.0, 0.0
	for cy := 0; cy < gh; cy++ {
		for cx := 0; cx < gw; cx++ {
			if n[cy][cx] == 0 {
				continue
			}
			L := lightness(sum[cy][cx] / float64(n[cy][cx]))
			l.Mean += L
			cells++
			if L >= sourceL {
				bright++
				bx += (float64(cx) + 0.5) / gw
				by += (float64(cy) + 0.5) / gh
			}
		}
	}
	if cells > 0 {
		l.Mean /= float64(cells)
	}
	// A light source is a bright patch, not a bright picture: at most a quarter of the cells,
	// and much brighter than the average.
	if bright > 0 && bright <= cells/4 && l.Mean < sourceL-25 {
		l.Source, l.SourceX, l.SourceY = true, bx/float64(bright), by/float64(bright)
	}
	return l
}

// lightness converts relative luminance (0..1) to CIE L*.
func lightness(y float64) float64 {
	if y > 216.0/24389 {
		return 116*math.Cbrt(y) - 16
	}
	return 24389.0 / 27 * y
}

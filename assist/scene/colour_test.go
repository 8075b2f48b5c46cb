package scene

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"
	"testing"
)

// TestDeltaE2000 checks against the test data published with Sharma, Wu and Dalal (2005), "The
// CIEDE2000 colour-difference formula: implementation notes", Table 1.
func TestDeltaE2000(t *testing.T) {
	cases := []struct {
		p, q Lab
		want float64
	}{
		{Lab{50, 2.6772, -79.7751}, Lab{50, 0, -82.7485}, 2.0425},
		{Lab{50, 3.1571, -77.2803}, Lab{50, 0, -82.7485}, 2.8615},
		{Lab{50, 2.8361, -74.0200}, Lab{50, 0, -82.7485}, 3.4412},
		{Lab{50, 0, 0}, Lab{50, -1, 2}, 2.3669},
		{Lab{50, 2.5, 0}, Lab{73, 25, -18}, 27.1492},
		{Lab{50, 2.5, 0}, Lab{61, -5, 29}, 22.8977},
		{Lab{50, 2.5, 0}, Lab{56, -27, -3}, 31.9030},
		{Lab{50, 2.5, 0}, Lab{58, 24, 15}, 19.4535},
		{Lab{60.2574, -34.0099, 36.2677}, Lab{60.4626, -34.1751, 39.4387}, 1.2644},
	}
	for _, c := range cases {
		for _, got := range []float64{DeltaE2000(c.p, c.q), DeltaE2000(c.q, c.p)} {
			if math.Abs(got-c.want) > 1e-4 {
				t.Errorf("ΔE00(%v, %v) = %.4f, want %.4f", c.p, c.q, got, c.want)
			}
		}
	}
}

// TestLabOf checks the sRGB to CIELAB conversion against the usual D65 figures.
func TestLabOf(t *testing.T) {
	cases := []struct {
		r, g, b uint8
		want    Lab
	}{
		{255, 255, 255, Lab{100, 0, 0}},
		{0, 0, 0, Lab{0, 0, 0}},
		{255, 0, 0, Lab{53.24, 80.09, 67.20}},
		{0, 0, 255, Lab{32.30, 79.19, -107.86}},
		{0, 255, 0, Lab{87.73, -86.18, 83.18}},
	}
	for _, c := range cases {
		got := LabOf(c.r, c.g, c.b)
		if math.Abs(got.L-c.want.L) > 0.02 || math.Abs(got.A-c.want.A) > 0.05 || math.Abs(got.B-c.want.B) > 0.05 {
			t.Errorf("LabOf(%d,%d,%d) = %+v, want %+v", c.r, c.g, c.b, got, c.want)
		}
	}
}

// patch is a picture of colour bg with a block of colour fg over its middle third.
func patch(w, h int, fg, bg color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(w/4, h/4, w-w/4, h-h/4), image.NewUniform(fg), image.Point{}, draw.Src)
	return img
}

// TestColourNames: pictures made for each case, a coloured thing held in the middle of a
// differently coloured background, say the name a person would use.
func TestColourNames(t *testing.T) {
	white := color.NRGBA{235, 235, 235, 255}
	cases := []struct {
		fg   color.NRGBA
		want string
	}{
		{color.NRGBA{25, 35, 95, 255}, "It is dark blue."},
		{color.NRGBA{195, 195, 195, 255}, "It is light grey."},
		{color.NRGBA{200, 25, 30, 255}, "It is red."},
		{color.NRGBA{40, 150, 60, 255}, "It is green."},
		{color.NRGBA{250, 215, 40, 255}, "It is yellow."},
		{color.NRGBA{240, 130, 30, 255}, "It is orange."},
		{color.NRGBA{120, 75, 40, 255}, "It is brown."},
		{color.NRGBA{30, 30, 30, 255}, "It is black."},
		{color.NRGBA{140, 190, 235, 255}, "It is light blue."},
		{color.NRGBA{115, 45, 150, 255}, "It is purple."},
		{color.NRGBA{245, 140, 175, 255}, "It is pink."},
	}
	for _, c := range cases {
		f := Findings{Colours: CentreColours(patch(640, 480, c.fg, white)), Light: MeasureLight(patch(640, 480, c.fg, white))}
		if got := f.ColourSentence(); got != c.want {
			t.Errorf("%v: %q, want %q (%+v)", c.fg, got, c.want, f.Colours[:min(3, len(f.Colours))])
		}
	}
	// Two colours in the middle: a blue and white striped thing.
	img := image.NewNRGBA(image.Rect(0, 0, 300, 300))
	for y := 0; y < 300; y++ {
		for x := 0; x < 300; x++ {
			c := color.NRGBA{245, 245, 245, 255}
			if (y/10)%2 == 0 {
				c = color.NRGBA{30, 90, 210, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	f := Findings{Colours: CentreColours(img), Light: MeasureLight(img)}
	if got := f.ColourSentence(); got != "It is blue and white." && got != "It is white and blue." {
		t.Errorf("stripes: %q", got)
	}
	// Too dark to tell.
	dark := patch(640, 480, color.NRGBA{10, 10, 25, 255}, color.NRGBA{5, 5, 5, 255})
	f = Findings{Colours: CentreColours(dark), Light: MeasureLight(dark)}
	if got := f.ColourSentence(); !strings.HasPrefix(got, "It is too dark to tell") {
		t.Errorf("dark: %q", got)
	}
}

// TestLight: a dark room, a dim one, a bright one, and a lamp on the left.
func TestLight(t *testing.T) {
	grey := func(v uint8) *image.NRGBA {
		return patch(640, 480, color.NRGBA{v, v, v, 255}, color.NRGBA{v, v, v, 255})
	}
	lamp := grey(25)
	draw.Draw(lamp, image.Rect(40, 60, 120, 140), image.NewUniform(color.White), image.Point{}, draw.Src)
	window := grey(120)
	draw.Draw(window, image.Rect(500, 20, 620, 120), image.NewUniform(color.NRGBA{250, 250, 245, 255}), image.Point{}, draw.Src)
	cases := []struct {
		img       image.Image
		light, on string
	}{
		{grey(8), "The room is dark.", "It looks dark: the light seems to be off."},
		{grey(60), "It is dim.", "There is some light, but it is dim."},
		{grey(170), "It is bright.", "Yes, it is bright."},
		{lamp, "The room is dark. There is a bright light on your left, up high.", "It is dark, but there is a light on your left."},
		{window, "It is bright. There is a bright light on your right, up high.", "Yes, it is bright. There is a bright light on your right."},
	}
	for i, c := range cases {
		f := Findings{Light: MeasureLight(c.img)}
		if got := f.LightSentence(); got != c.light {
			t.Errorf("%d: %q, want %q (%+v)", i, got, c.light, f.Light)
		}
		if got := f.LightOnSentence(); got != c.on {
			t.Errorf("%d: %q, want %q (%+v)", i, got, c.on, f.Light)
		}
	}
}

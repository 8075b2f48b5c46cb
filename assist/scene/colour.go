package scene

import (
	"image"
	"image/color"
	"math"
	"sort"
)

// Lab is a colour in CIELAB (D65 white): L 0..100, a green(-)..red(+), b blue(-)..yellow(+).
type Lab struct{ L, A, B float64 }

// srgbToLinear undoes the sRGB transfer curve (IEC 61966-2-1).
func srgbToLinear(c float64) float64 {
	if c <= 0.04045 {
		return c / 12.92
	}
	return math.Pow((c+0.055)/1.055, 2.4)
}

// LabOf converts 8-bit sRGB to CIELAB (D65).
func LabOf(r, g, b uint8) Lab {
	rl, gl, bl := srgbToLinear(float64(r)/255), srgbToLinear(float64(g)/255), srgbToLinear(float64(b)/255)
	x := 0.4124564*rl + 0.3575761*gl + 0.1804375*bl
	y := 0.2126729*rl + 0.7151522*gl + 0.0721750*bl
	z := 0.0193339*rl + 0.1191920*gl + 0.9503041*bl
	const xn, yn, zn = 0.95047, 1.0, 1.08883
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	fx, fy, fz := f(x/xn), f(y/yn), f(z/zn)
	return Lab{L: 116*fy - 16, A: 500 * (fx - fy), B: 200 * (fy - fz)}
}

// DeltaE2000 is the CIEDE2000 colour difference (Sharma, Wu and Dalal 2005), kL = kC = kH = 1:
// about 1 is the smallest difference a person notices.
func DeltaE2000(p, q Lab) float64 {
	deg := math.Pi / 180
	c1 := math.Hypot(p.A, p.B)
	c2 := math.Hypot(q.A, q.B)
	cm := (c1 + c2) / 2
	cm7 := math.Pow(cm, 7)
	g := 0.5 * (1 - math.Sqrt(cm7/(cm7+math.Pow(25, 7))))
	a1, a2 := (1+g)*p.A, (1+g)*q.A
	c1p, c2p := math.Hypot(a1, p.B), math.Hypot(a2, q.B)
	hue := func(a, b float64) float64 {
		if a == 0 && b == 0 {
			return 0
		}
		h := math.Atan2(b, a) / deg
		if h < 0 {
			h += 360
		}
		return h
	}
	h1, h2 := hue(a1, p.B), hue(a2, q.B)
	dL := q.L - p.L
	dC := c2p - c1p
	var dh float64
	switch {
	case c1p*c2p == 0:
		dh = 0
	case math.Abs(h2-h1) <= 180:
		dh = h2 - h1
	case h2-h1 > 180:
		dh = h2 - h1 - 360
	default:
		dh = h2 - h1 + 360
	}
	dH := 2 * math.Sqrt(c1p*c2p) * math.Sin(dh/2*deg)
	lm := (p.L + q.L) / 2
	cmp := (c1p + c2p) / 2
	var hm float64
	switch {
	case c1p*c2p == 0:
		hm = h1 + h2
	case math.Abs(h1-h2) <= 180:
		hm = (h1 + h2) / 2
	case h1+h2 < 360:
		hm = (h1 + h2 + 360) / 2
	default:
		hm = (h1 + h2 - 360) / 2
	}
	t := 1 - 0.17*math.Cos((hm-30)*deg) + 0.24*math.Cos(2*hm*deg) + 0.32*math.Cos((3*hm+6)*deg) - 0.20*math.Cos((4*hm-63)*deg)
	dTheta := 30 * math.Exp(-((hm-275)/25)*((hm-275)/25))
	cmp7 := math.Pow(cmp, 7)
	rc := 2 * math.Sqrt(cmp7/(cmp7+math.Pow(25, 7)))
	sl := 1 + 0.015*(lm-50)*(lm-50)/math.Sqrt(20+(lm-50)*(lm-50))
	sc := 1 + 0.045*cmp
	sh := 1 + 0.015*cmp*t
	rt := -math.Sin(2*dTheta*deg) * rc
	return math.Sqrt((dL/sl)*(dL/sl) + (dC/sc)*(dC/sc) + (dH/sh)*(dH/sh) + rt*(dC/sc)*(dH/sh))
}

// namedColour is a colour word with a typical sRGB value.
type namedColour struct {
	name    string
	r, g, b uint8
	lab     Lab
}

// palette holds the colour words people use, each with light and dark variants where people
// say them. Names are matched in CIELAB with CIEDE2000, so "dark blue" and "light grey" come out
// where a person would say them, not where RGB distance puts them.
var palette = func() []namedColour {
	p := []namedColour{
		{name: "black", r: 20, g: 20, b: 20},
		{name: "dark grey", r: 70, g: 70, b: 70},
		{name: "grey", r: 128, g: 128, b: 128},
		{name: "light grey", r: 190, g: 190, b: 190},
		{name: "white", r: 245, g: 245, b: 245},
		{name: "dark red", r: 120, g: 15, b: 20},
		{name: "red", r: 210, g: 30, b: 35},
		{name: "pink", r: 240, g: 130, b: 170},
		{name: "light pink", r: 250, g: 200, b: 210},
		{name: "orange", r: 245, g: 130, b: 25},
		{name: "dark brown", r: 75, g: 45, b: 25},
		{name: "brown", r: 135, g: 85, b: 45},
		{name: "light brown", r: 190, g: 145, b: 100},
		{name: "beige", r: 225, g: 205, b: 165},
		{name: "yellow", r: 245, g: 220, b: 40},
		{name: "light yellow", r: 250, g: 240, b: 150},
		{name: "olive green", r: 110, g: 110, b: 40},
		{name: "dark green", r: 20, g: 80, b: 35},
		{name: "green", r: 50, g: 160, b: 60},
		{name: "light green", r: 150, g: 220, b: 140},
		{name: "turquoise", r: 40, g: 190, b: 180},
		{name: "teal", r: 0, g: 110, b: 115},
		{name: "light blue", r: 150, g: 195, b: 240},
		{name: "blue", r: 30, g: 90, b: 210},
		{name: "dark blue", r: 20, g: 30, b: 100},
		{name: "purple", r: 120, g: 50, b: 160},
		{name: "dark purple", r: 65, g: 25, b: 80},
		{name: "lilac", r: 195, g: 160, b: 220},
		{name: "magenta", r: 210, g: 40, b: 160},
	}
	for i := range p {
		p[i].lab = LabOf(p[i].r, p[i].g, p[i].b)
	}
	return p
}()

// ColourName is the palette word nearest to c in CIEDE2000.
func ColourName(c Lab) string {
	best, bd := "", math.Inf(1)
	for _, n := range palette {
		if d := DeltaE2000(c, n.lab); d < bd {
			best, bd = n.name, d
		}
	}
	return best
}

// ColourShare is one colour of a region and the fraction of its pixels that have it.
type ColourShare struct {
	Name  string
	Share float64
}

// CentreColours names the colours of the middle of the picture (the middle third in each
// direction, where a wearer points the camera), most common first. Each sampled pixel is named on
// its own, so a blue mug on a white table is "blue" and "white", never their average.
func CentreColours(img image.Image) []ColourShare {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil
	}
	x0, x1 := b.Min.X+w/3, b.Min.X+w-w/3
	y0, y1 := b.Min.Y+h/3, b.Min.Y+h-h/3
	step := max(1, min(x1-x0, y1-y0)/48) // about 48x48 samples
	count := map[string]int{}
	total := 0
	cache := map[[3]uint8]string{}
	for y := y0; y < y1; y += step {
		for x := x0; x < x1; x += step {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			// Quantise to 32 levels a channel for the cache: below a step a person sees here.
			k := [3]uint8{c.R | 7, c.G | 7, c.B | 7}
			name, ok := cache[k]
			if !ok {
				name = ColourName(LabOf(k[0]-3, k[1]-3, k[2]-3))
				cache[k] = name
			}
			count[name]++
			total++
		}
	}
	var out []ColourShare
	for n, c := range count {
		out = append(out, ColourShare{Name: n, Share: float64(c) / float64(total)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Share != out[j].Share {
			return out[i].Share > out[j].Share
		}
		return out[i].Name < out[j].Name
	})
	return out
}

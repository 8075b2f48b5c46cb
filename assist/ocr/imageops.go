package ocr

import (
	"image"
	"math"
)

// The picture operations the reading pipeline needs, on 8-bit grey, origin (0, 0).

// scaleGray resizes g by factor f: area averaging when shrinking (no aliasing of small print),
// bilinear when enlarging.
func scaleGray(g *image.Gray, f float64) *image.Gray {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	ow, oh := max(1, int(math.Round(float64(w)*f))), max(1, int(math.Round(float64(h)*f)))
	out := image.NewGray(image.Rect(0, 0, ow, oh))
	if f < 1 {
		// Each output pixel averages the source pixels its footprint covers (integer footprints).
		for y := 0; y < oh; y++ {
			y0, y1 := y*h/oh, max((y+1)*h/oh, y*h/oh+1)
			for x := 0; x < ow; x++ {
				x0, x1 := x*w/ow, max((x+1)*w/ow, x*w/ow+1)
				sum := 0
				for yy := y0; yy < y1; yy++ {
					row := g.Pix[yy*g.Stride:]
					for xx := x0; xx < x1; xx++ {
						sum += int(row[xx])
					}
				}
				n := (y1 - y0) * (x1 - x0)
				out.Pix[y*out.Stride+x] = uint8((sum + n/2) / n)
			}
		}
		return out
	}
	for y := 0; y < oh; y++ {
		sy := (float64(y)+0.5)/f - 0.5
		y0 := int(math.Floor(sy))
		fy := sy - float64(y0)
		y0c, y1c := clampi(y0, 0, h-1), clampi(y0+1, 0, h-1)
		for x := 0; x < ow; x++ {
			sx := (float64(x)+0.5)/f - 0.5
			x0 := int(math.Floor(sx))
			fx := sx - float64(x0)
			x0c, x1c := clampi(x0, 0, w-1), clampi(x0+1, 0, w-1)
			a := float64(g.Pix[y0c*g.Stride+x0c])*(1-fx) + float64(g.Pix[y0c*g.Stride+x1c])*fx
			b := float64(g.Pix[y1c*g.Stride+x0c])*(1-fx) + float64(g.Pix[y1c*g.Stride+x1c])*fx
			out.Pix[y*out.Stride+x] = uint8(a*(1-fy) + b*fy + 0.5)
		}
	}
	return out
}

func clampi(v, lo, hi int) int { return min(max(v, lo), hi) }

// invertGray turns light-on-dark into dark-on-light.
func invertGray(g *image.Gray) *image.Gray {
	out := image.NewGray(g.Rect)
	for i, v := range g.Pix {
		out.Pix[i] = 255 - v
	}
	return out
}

// turnGray rotates g by quarter turns clockwise.
func turnGray(g *image.Gray, q int) *image.Gray {
	q = ((q % 4) + 4) % 4
	if q == 0 {
		return g
	}
	w, h := g.Rect.Dx(), g.Rect.Dy()
	ow, oh := w, h
	if q%2 == 1 {
		ow, oh = h, w
	}
	out := image.NewGray(image.Rect(0, 0, ow, oh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var nx, ny int
			switch q {
			case 1:
				nx, ny = h-1-y, x
			case 2:
				nx, ny = w-1-x, h-1-y
			case 3:
				nx, ny = y, w-1-x
			}
			out.Pix[ny*out.Stride+nx] = g.Pix[y*g.Stride+x]
		}
	}
	return out
}

// cropGray copies r (clipped to g) into a new image with origin (0, 0).
func cropGray(g *image.Gray, r image.Rectangle) *image.Gray {
	r = r.Intersect(g.Rect)
	out := image.NewGray(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		copy(out.Pix[y*out.Stride:y*out.Stride+r.Dx()], g.Pix[(r.Min.Y+y)*g.Stride+r.Min.X:])
	}
	return out
}

// stretchGray maps the 1st..99th percentile of g onto 0..255: a dim or washed-out picture gets
// the contrast Tesseract's thresholding expects.
func stretchGray(g *image.Gray) *image.Gray {
	var hist [256]int
	for _, v := range g.Pix {
		hist[v]++
	}
	n := len(g.Pix)
	lo, hi := percentile(&hist, n, 0.01), percentile(&hist, n, 0.99)
	if hi-lo < 8 {
		return g
	}
	out := image.NewGray(g.Rect)
	for i, v := range g.Pix {
		out.Pix[i] = uint8(clampi((int(v)-lo)*255/(hi-lo), 0, 255))
	}
	return out
}

func percentile(hist *[256]int, n int, p float64) int {
	target := int(p * float64(n))
	acc := 0
	for v, c := range hist {
		acc += c
		if acc > target {
			return v
		}
	}
	return 255
}

// brightness is the mean grey level, 0..255.
func brightness(g *image.Gray) float64 {
	sum := 0
	for _, v := range g.Pix {
		sum += int(v)
	}
	return float64(sum) / float64(max(1, len(g.Pix)))
}

// sharpness measures focus: the mean absolute Laplacian of the strongest fifth of the edge
// pixels (those above an eighth of the contrast), divided by the contrast of print against
// paper (inkContrast), so that neither the light nor how much of the frame is text changes it.
// -1 when the picture has no contrast at all (nothing to focus on).
func sharpness(g *image.Gray) float64 {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	contrast := inkContrast(g)
	if contrast < 16 || w < 3 || h < 3 {
		return -1
	}
	var lap [1024]int
	n := 0
	floor := contrast / 8
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			i := y*g.Stride + x
			v := 4*int(g.Pix[i]) - int(g.Pix[i-1]) - int(g.Pix[i+1]) - int(g.Pix[i-g.Stride]) - int(g.Pix[i+g.Stride])
			if v < 0 {
				v = -v
			}
			if v > floor {
				lap[min(v, 1023)]++
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	want := max(1, n/5)
	sum, got := 0, 0
	for v := 1023; v >= 0 && got < want; v-- {
		take := min(lap[v], want-got)
		sum += take * v
		got += take
	}
	return float64(sum) / float64(got) / (4 * float64(contrast))
}

// inkContrast is the difference of the mean grey levels of the two sides of Otsu's threshold:
// the contrast of print against its paper, however little of the frame the print covers.
func inkContrast(g *image.Gray) int {
	var hist [256]int
	for _, v := range g.Pix {
		hist[v]++
	}
	t := otsu(&hist, len(g.Pix))
	var s0, n0, s1, n1 int
	for v, c := range hist {
		if v <= t {
			s0 += v * c
			n0 += c
		} else {
			s1 += v * c
			n1 += c
		}
	}
	if n0 == 0 || n1 == 0 {
		return 0
	}
	return s1/n1 - s0/n0
}

// rotateGray rotates g by deg degrees clockwise (the convention of textimage.Rotate) onto a
// canvas large enough to hold all of it, filling the corners with fill; bilinear.
func rotateGray(g *image.Gray, deg float64, fill uint8) *image.Gray {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	s, c := math.Sincos(deg * math.Pi / 180)
	ow := int(math.Ceil(math.Abs(float64(w)*c) + math.Abs(float64(h)*s)))
	oh := int(math.Ceil(math.Abs(float64(w)*s) + math.Abs(float64(h)*c)))
	out := image.NewGray(image.Rect(0, 0, ow, oh))
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			sx, sy := unrotate(float64(x)+0.5, float64(y)+0.5, s, c, ow, oh, w, h)
			sx, sy = sx-0.5, sy-0.5
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			fx, fy := sx-float64(x0), sy-float64(y0)
			at := func(xx, yy int) float64 {
				if xx < 0 || yy < 0 || xx >= w || yy >= h {
					return float64(fill)
				}
				return float64(g.Pix[yy*g.Stride+xx])
			}
			v := (at(x0, y0)*(1-fx)+at(x0+1, y0)*fx)*(1-fy) + (at(x0, y0+1)*(1-fx)+at(x0+1, y0+1)*fx)*fy
			out.Pix[y*out.Stride+x] = uint8(v + 0.5)
		}
	}
	return out
}

// unrotate maps a point of the rotated canvas (ow x oh) back to the w x h source.
func unrotate(x, y, s, c float64, ow, oh, w, h int) (float64, float64) {
	dx, dy := x-float64(ow)/2, y-float64(oh)/2
	return c*dx + s*dy + float64(w)/2, -s*dx + c*dy + float64(h)/2
}

// skewAngle estimates the angle (degrees, within ±20) by which g must be rotated for its lines
// of ink to lie level: the rotation that makes the ink's row profile most peaked (lines and gaps
// sharply apart). ok is false when no angle beats level by a clear margin.
func skewAngle(g *image.Gray) (deg float64, ok bool) {
	f := math.Min(1, 600/float64(max(g.Rect.Dx(), g.Rect.Dy())))
	small := g
	if f < 1 {
		small = scaleGray(g, f)
	}
	w, h := small.Rect.Dx(), small.Rect.Dy()
	var hist [256]int
	for _, v := range small.Pix {
		hist[v]++
	}
	t := otsu(&hist, len(small.Pix))
	dark := 0
	for v := 0; v <= t; v++ {
		dark += hist[v]
	}
	inkDark := dark*2 < len(small.Pix)
	var xs, ys []float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if (small.Pix[y*small.Stride+x] <= uint8(t)) == inkDark {
				xs = append(xs, float64(x)-float64(w)/2)
				ys = append(ys, float64(y)-float64(h)/2)
			}
		}
	}
	if len(xs) < 50 || len(xs)*3 > w*h {
		return 0, false
	}
	diag := int(math.Hypot(float64(w), float64(h))) + 2
	bins := make([]float64, diag)
	profile := func(a float64) float64 {
		s, c := math.Sincos(a * math.Pi / 180)
		clear(bins)
		for i := range xs {
			b := int(s*xs[i]+c*ys[i]) + diag/2
			if b >= 0 && b < diag {
				bins[b]++
			}
		}
		sum := 0.0
		for _, v := range bins {
			sum += v * v
		}
		return sum
	}
	level := profile(0)
	best, bestA := level, 0.0
	for a := -20.0; a <= 20; a++ {
		if p := profile(a); p > best {
			best, bestA = p, a
		}
	}
	for a := bestA - 0.75; a <= bestA+0.75; a += 0.25 {
		if p := profile(a); p > best {
			best, bestA = p, a
		}
	}
	return bestA, math.Abs(bestA) >= 2 && best > 1.15*level
}

// gaussBlur is g blurred by a Gaussian of the given sigma (separable, edges clamped), as floats.
func gaussBlur(g *image.Gray, sigma float64) []float64 {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	r := max(1, int(math.Ceil(3*sigma)))
	k := make([]float64, 2*r+1)
	s := 0.0
	for i := range k {
		x := float64(i - r)
		k[i] = math.Exp(-x * x / (2 * sigma * sigma))
		s += k[i]
	}
	for i := range k {
		k[i] /= s
	}
	tmp := make([]float64, w*h)
	for y := 0; y < h; y++ {
		row := g.Pix[y*g.Stride:]
		for x := 0; x < w; x++ {
			v := 0.0
			for i := -r; i <= r; i++ {
				v += k[i+r] * float64(row[clampi(x+i, 0, w-1)])
			}
			tmp[y*w+x] = v
		}
	}
	out := make([]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 0.0
			for i := -r; i <= r; i++ {
				v += k[i+r] * tmp[clampi(y+i, 0, h-1)*w+x]
			}
			out[y*w+x] = v
		}
	}
	return out
}

// sharpenGray is an unsharp mask: g + amount·(g − Gaussian(g, sigma)), then the contrast
// stretched. A photo's word is blurred (focus, motion, JPEG); its strokes, sharpened at the size
// Tesseract reads, come apart.
func sharpenGray(g *image.Gray, sigma, amount float64) *image.Gray {
	b := gaussBlur(g, sigma)
	w, h := g.Rect.Dx(), g.Rect.Dy()
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := float64(g.Pix[y*g.Stride+x])
			out.Pix[y*out.Stride+x] = uint8(clampi(int(math.Round(v+amount*(v-b[y*w+x]))), 0, 255))
		}
	}
	return stretchGray(out)
}

// padGray puts a border of p pixels of grey v around g (Tesseract reads a word that touches the
// edge of its picture badly).
func padGray(g *image.Gray, p int, v uint8) *image.Gray {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	out := image.NewGray(image.Rect(0, 0, w+2*p, h+2*p))
	for i := range out.Pix {
		out.Pix[i] = v
	}
	for y := 0; y < h; y++ {
		copy(out.Pix[(y+p)*out.Stride+p:], g.Pix[y*g.Stride:y*g.Stride+w])
	}
	return out
}

// inkIsDark reports whether the print is darker than its ground: the smaller side of Otsu's
// threshold is the ink.
func inkIsDark(g *image.Gray) bool {
	var hist [256]int
	for _, v := range g.Pix {
		hist[v]++
	}
	t := otsu(&hist, len(g.Pix))
	dark := 0
	for v := 0; v <= t; v++ {
		dark += hist[v]
	}
	return dark*2 < len(g.Pix)
}

// inkHeight is the height of the band of rows holding the ink (dark print on light ground):
// the rows with at least a tenth of the inkiest row's ink, first to last. 0 without ink.
func inkHeight(g *image.Gray) int {
	var hist [256]int
	for _, v := range g.Pix {
		hist[v]++
	}
	t := otsu(&hist, len(g.Pix))
	w, h := g.Rect.Dx(), g.Rect.Dy()
	rows := make([]int, h)
	most := 0
	for y := 0; y < h; y++ {
		for _, v := range g.Pix[y*g.Stride : y*g.Stride+w] {
			if int(v) <= t {
				rows[y]++
			}
		}
		most = max(most, rows[y])
	}
	first, last := -1, -1
	for y, n := range rows {
		if most > 0 && 10*n >= most {
			if first < 0 {
				first = y
			}
			last = y
		}
	}
	if first < 0 {
		return 0
	}
	return last - first + 1
}

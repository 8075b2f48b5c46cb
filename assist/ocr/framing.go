package ocr

import (
	"fmt"
	"image"
	"math"
	"sort"
)

// Framing guidance: what a blind user most needs to hear when a reading is cut short or fails —
// which way to move the camera, or that the light, the focus or the distance is the problem.

// Thresholds of the cues, measured on generated labels (framing_test.go): sharp print measures
// 0.35-0.6, a label blurred by 3 px (3 box passes) under 0.15; a dim room's frame has a mean
// grey level under 50.
const (
	darkBrightness = 50
	blurSharpness  = 0.17
	smallTextPx    = 12 // below this (box height of a line's words) print is too far to read well
	edgeMargin     = 2  // a word box this close to the frame's edge is cut off by it
)

// edge names in clockwise order, and the camera move that brings what is beyond them in.
var edges = [4]struct{ name, move string }{{"top", "up"}, {"right", "right"}, {"bottom", "down"}, {"left", "left"}}

func guidance(g *image.Gray, p Page) []string {
	var cues []string
	// Text cut by an edge of the frame: word boxes mapped back to the picture as the camera took
	// it (turns and levelling undone), so the edge named is the camera's.
	var touched [4]bool
	w, h := p.Original.X, p.Original.Y
	margin := int(math.Ceil(edgeMargin / math.Min(1, p.Scale)))
	for _, l := range p.Lines {
		for _, wd := range l.Words {
			if wd.Confidence < 40 {
				continue
			}
			b := p.SourceBox(wd.Box)
			if b.Min.Y <= margin {
				touched[0] = true
			}
			if b.Max.X >= w-margin {
				touched[1] = true
			}
			if b.Max.Y >= h-margin {
				touched[2] = true
			}
			if b.Min.X <= margin {
				touched[3] = true
			}
		}
	}
	for k, t := range touched {
		if t {
			cues = append(cues, fmt.Sprintf("Text runs off the %s edge; move the camera %s.", edges[k].name, edges[k].move))
		}
	}
	weak := !strongReading(p.Lines) || p.Unread > 0
	for _, l := range p.Lines {
		for _, w := range l.Words {
			weak = weak || w.Confidence < 60
		}
	}
	if p.Brightness < darkBrightness {
		cues = append(cues, "The picture is very dark; turn on a light or move to brighter light.")
	}
	if weak && p.Sharpness >= 0 && p.Sharpness < blurSharpness && p.Brightness >= darkBrightness/2 {
		cues = append(cues, "The picture is blurred; hold the camera still and try again.")
	}
	{
		// The rows of marks measure print better than Tesseract's word boxes, which take in the
		// line spacing of small print.
		var hs []int
		for _, r := range textRows(g) {
			hs = append(hs, r.Dy())
		}
		if len(hs) == 0 {
			hs = textHeights(p.Lines)
		}
		if len(hs) > 0 && (weak || len(p.Lines) == 0) {
			sort.Ints(hs)
			if m := hs[len(hs)/2]; m < smallTextPx {
				cues = append(cues, fmt.Sprintf("The text is very small, about %d pixels high; move the camera closer.", m))
			}
		}
	}
	return cues
}

func textHeights(lines []Line) []int {
	var hs []int
	for _, l := range lines {
		if h := l.Height(); h > 0 {
			hs = append(hs, h)
		}
	}
	return hs
}

// textRows finds rows of character-sized marks without reading them (the print may be too
// small or too blurred for Tesseract, lost next to larger print, or a word on a photo) and
// returns their boxes. Ink is what is darker, or lighter, than its neighbourhood (a local
// threshold: a photo has no one paper colour); its connected parts of plausible character size
// that stand side by side, three or more of similar height, are a row.
func textRows(g *image.Gray) []image.Rectangle {
	rows, _ := textRowsInk(g)
	return rows
}

// textRowsInk is textRows with, for each row, whether its ink is lighter than its ground.
func textRowsInk(g *image.Gray) (rows []image.Rectangle, light []bool) {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	if w*h > 2_000_000 || w < 8 || h < 8 {
		return nil, nil
	}
	// Integral image for the local means.
	integ := make([]int64, (w+1)*(h+1))
	for y := 0; y < h; y++ {
		var row int64
		for x := 0; x < w; x++ {
			row += int64(g.Pix[y*g.Stride+x])
			integ[(y+1)*(w+1)+x+1] = integ[y*(w+1)+x+1] + row
		}
	}
	rad := max(8, min(w, h)/16)
	const offset = 12
	local := func(x, y int) int {
		x0, y0, x1, y1 := max(0, x-rad), max(0, y-rad), min(w, x+rad+1), min(h, y+rad+1)
		s := integ[y1*(w+1)+x1] - integ[y0*(w+1)+x1] - integ[y1*(w+1)+x0] + integ[y0*(w+1)+x0]
		return int(s / int64((x1-x0)*(y1-y0)))
	}
	means := make([]int16, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			means[y*w+x] = int16(local(x, y))
		}
	}
	for _, dark := range []bool{true, false} {
		ink := make([]bool, w*h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v, m := int(g.Pix[y*g.Stride+x]), int(means[y*w+x])
				if dark {
					ink[y*w+x] = v < m-offset
				} else {
					ink[y*w+x] = v > m+offset
				}
			}
		}
		found := rowsOf(components(ink, w, h), w, h)
		rows = append(rows, found...)
		for range found {
			light = append(light, !dark)
		}
	}
	return rows, light
}

type comp struct{ minX, minY, maxX, maxY, n int }

// components labels the 4-connected parts of ink.
func components(ink []bool, w, h int) []comp {
	seen := make([]bool, w*h)
	var comps []comp
	var stack []int
	for start := range ink {
		if seen[start] || !ink[start] {
			continue
		}
		x, y := start%w, start/w
		c := comp{x, y, x, y, 0}
		seen[start] = true
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			cx, cy := i%w, i/w
			c.n++
			c.minX, c.maxX, c.minY, c.maxY = min(c.minX, cx), max(c.maxX, cx), min(c.minY, cy), max(c.maxY, cy)
			for _, d := range [4][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
				nx, ny := cx+d[0], cy+d[1]
				if nx < 0 || ny < 0 || nx >= w || ny >= h {
					continue
				}
				j := ny*w + nx
				if !seen[j] && ink[j] {
					seen[j] = true
					stack = append(stack, j)
				}
			}
		}
		comps = append(comps, c)
	}
	return comps
}

// rowsOf keeps the character-like components and chains them into rows.
func rowsOf(comps []comp, w, h int) []image.Rectangle {
	var chars []comp
	for _, c := range comps {
		cw, ch := c.maxX-c.minX+1, c.maxY-c.minY+1
		if ch < 3 || ch > h/3 || cw > w/3 || cw > 3*ch || ch > 10*cw {
			continue
		}
		if fill := float64(c.n) / float64(cw*ch); fill < 0.12 || fill > 0.92 {
			continue
		}
		chars = append(chars, c)
	}
	sort.Slice(chars, func(i, j int) bool { return chars[i].minX < chars[j].minX })
	used := make([]bool, len(chars))
	mid := func(a comp) int { return (a.minY + a.maxY) / 2 }
	var rows []image.Rectangle
	for i := range chars {
		if used[i] {
			continue
		}
		row := []comp{chars[i]}
		used[i] = true
		last := chars[i]
		for j := i + 1; j < len(chars); j++ {
			c := chars[j]
			if used[j] {
				continue
			}
			lh, ch := last.maxY-last.minY+1, c.maxY-c.minY+1
			if c.minX-last.maxX > 2*max(lh, ch) {
				break
			}
			if 3*ch < 2*lh || 3*lh < 2*ch || abs(mid(c)-mid(last)) > max(lh, ch)/3 {
				continue
			}
			used[j] = true
			row = append(row, c)
			last = c
		}
		if len(row) >= 3 {
			r := image.Rect(row[0].minX, row[0].minY, row[0].maxX+1, row[0].maxY+1)
			for _, c := range row {
				r = r.Union(image.Rect(c.minX, c.minY, c.maxX+1, c.maxY+1))
			}
			rows = append(rows, r)
		}
	}
	return rows
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// otsu returns the threshold that best separates the histogram into two classes.
func otsu(hist *[256]int, n int) int {
	sum := 0.0
	for v, c := range hist {
		sum += float64(v * c)
	}
	sumB, wB, best, bestT := 0.0, 0, -1.0, 127
	for t := 0; t < 256; t++ {
		wB += hist[t]
		if wB == 0 {
			continue
		}
		wF := n - wB
		if wF == 0 {
			break
		}
		sumB += float64(t * hist[t])
		mB, mF := sumB/float64(wB), (sum-sumB)/float64(wF)
		if between := float64(wB) * float64(wF) * (mB - mF) * (mB - mF); between > best {
			best, bestT = between, t
		}
	}
	return bestT
}

package ocr

import (
	"context"
	"fmt"
	"image"
	"math"
	"sort"
	"strings"
	"time"
	"unicode"
)

// The reading pipeline: what "read this" does with a picture. Its rule is that it never reads
// less than the tesseract program with its default settings: the first pass *is* that reading
// (full layout analysis on the picture as it is), and every later pass may only add lines it
// missed or replace a line it read at low confidence with a confident reading of the same place.
// The later passes are the ones a wearable camera needs: a turned page, small print (read again
// at twice the size), light-on-dark signs (inverted), scattered scene text (sparse mode), and
// digits read twice at another scale, so a number is never silently changed.

// Line is one line of the reading.
type Line struct {
	Words []Word
	Box   image.Rectangle // in the working picture's pixels (after scaling and turning)
	Pass  string          // the pass that read it: page, small, inverted, sparse
	// Alternatives maps a doubtful number to its second reading where the two passes disagree.
	Alternatives map[string]string
	// Checked holds the numbers a second pass confirmed.
	Checked map[string]bool
}

// Text is the line's words joined by spaces.
func (l Line) Text() string {
	ws := make([]string, len(l.Words))
	for i, w := range l.Words {
		ws[i] = w.Text
	}
	return strings.Join(ws, " ")
}

// Confidence is the mean word confidence, 0..100.
func (l Line) Confidence() float64 {
	if len(l.Words) == 0 {
		return 0
	}
	s := 0.0
	for _, w := range l.Words {
		s += w.Confidence
	}
	return s / float64(len(l.Words))
}

// Height is the median height of the line's word boxes in pixels (the size of the print).
func (l Line) Height() int {
	hs := make([]int, 0, len(l.Words))
	for _, w := range l.Words {
		hs = append(hs, w.Box.Dy())
	}
	if len(hs) == 0 {
		return 0
	}
	sort.Ints(hs)
	return hs[len(hs)/2]
}

// Hedge is the one doubt said after the line, in plain words, or "" when the line is sure (a
// word under minConf, or a number under numberSure that no second reading confirmed):
// "The number may be 4821 or 44821." / "I am not sure of the word Loradezt."
func (l Line) Hedge(minConf float64) string {
	var maybes, numbers, words []string
	doubtful := 0
	for _, w := range l.Words {
		if alt, ok := l.Alternatives[w.Text]; ok {
			maybes = append(maybes, fmt.Sprintf("the number may be %s or %s", w.Text, alt))
			doubtful++
			continue
		}
		if l.Checked[w.Text] {
			continue
		}
		// A number neither read surely nor confirmed by a second reading is said with a doubt:
		// "2627" read at 66 for 2027 was said plainly when only words under minConf were.
		if w.Confidence >= minConf && !(hasDigit(w.Text) && w.Confidence < numberSure) {
			continue
		}
		doubtful++
		if hasDigit(w.Text) {
			numbers = append(numbers, w.Text)
		} else {
			words = append(words, w.Text)
		}
	}
	if doubtful == 0 {
		return ""
	}
	var parts []string
	for _, m := range maybes {
		parts = append(parts, capitalize(m)+".")
	}
	if doubtful > len(l.Words)/2 && len(l.Words) > 2 && len(maybes) == 0 {
		// Mostly doubtful: listing every word would repeat the line.
		s := "This line is hard to read"
		if len(numbers) > 0 {
			s += "; I am not sure of the " + plural("number", numbers)
		}
		return s + "."
	}
	var unsure []string
	if len(numbers) > 0 {
		unsure = append(unsure, "the "+plural("number", numbers))
	}
	if len(words) > 0 {
		unsure = append(unsure, "the "+plural("word", words))
	}
	if len(unsure) > 0 {
		parts = append(parts, "I am not sure of "+strings.Join(unsure, ", or ")+".")
	}
	return strings.Join(parts, " ")
}

func plural(what string, items []string) string {
	if len(items) == 1 {
		return what + " " + items[0]
	}
	return what + "s " + strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Page is the pipeline's reading of one picture.
type Page struct {
	Lines []Line
	// Turned is the quarter turns clockwise the picture was given to read it upright.
	Turned int
	// Scale is the factor the picture was resized by before reading (1: as it came).
	Scale float64
	// Guidance is what to say about the framing (edges, light, focus, distance), in words.
	Guidance []string
	// Original is the size of the picture as it was given.
	Original image.Point
	// Skew is the rotation (degrees clockwise) the picture was given to level its lines.
	Skew     float64
	skewFrom image.Point // the size before that rotation
	// Size is the working picture's size (after scaling, turning and levelling); the boxes are
	// in it.
	Size image.Point
	// Unread counts the rows of character-like marks that no pass could read.
	Unread int
	// Stats for framing decisions and tests.
	Brightness, Sharpness float64
}

// SourceBox maps a box of the working picture back to the picture as it was given (undoing the
// turn and the scaling).
func (p Page) SourceBox(r image.Rectangle) image.Rectangle {
	w, h := p.Size.X, p.Size.Y
	if p.Skew != 0 {
		s, c := math.Sincos(p.Skew * math.Pi / 180)
		var bb image.Rectangle
		for i, pt := range []image.Point{r.Min, {r.Max.X, r.Min.Y}, {r.Min.X, r.Max.Y}, r.Max} {
			x, y := unrotate(float64(pt.X), float64(pt.Y), s, c, w, h, p.skewFrom.X, p.skewFrom.Y)
			q := image.Pt(int(math.Round(x)), int(math.Round(y)))
			if i == 0 {
				bb = image.Rectangle{q, q}
			} else {
				bb = bb.Union(image.Rectangle{q, q.Add(image.Pt(1, 1))})
			}
		}
		r, w, h = bb, p.skewFrom.X, p.skewFrom.Y
	}
	a, b := r.Min, r.Max
	for q := 0; q < (4-p.Turned)%4; q++ {
		// One more clockwise quarter turn of a w x h picture: (x, y) -> (h - y, x).
		a, b = image.Pt(h-b.Y, a.X), image.Pt(h-a.Y, b.X)
		w, h = h, w
	}
	out := image.Rectangle{Min: a, Max: b}.Canon()
	if p.Scale != 1 && p.Scale > 0 {
		out = image.Rect(int(float64(out.Min.X)/p.Scale), int(float64(out.Min.Y)/p.Scale), int(math.Ceil(float64(out.Max.X)/p.Scale)), int(math.Ceil(float64(out.Max.Y)/p.Scale)))
	}
	return out
}

// Found reports whether any text was read.
func (p Page) Found() bool { return len(p.Lines) > 0 }

// Text is the lines verbatim, one per row, without hedges: what CER and word recall measure.
func (p Page) Text() string {
	ls := make([]string, len(p.Lines))
	for i, l := range p.Lines {
		ls[i] = l.Text()
	}
	return strings.Join(ls, "\n")
}

// Confidence is the mean word confidence of the reading, 0..1.
func (p Page) Confidence() float64 {
	s, n := 0.0, 0
	for _, l := range p.Lines {
		for _, w := range l.Words {
			s += w.Confidence
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return s / float64(n) / 100
}

// Options tune the pipeline; the zero value is the default.
type ReadOptions struct {
	MinConfidence float64 // words under this (0..100) are hedged; default 60
	// skip names passes to leave out ("rows", "sparse"): the benchmark that chose between the
	// text detectors measures each alone.
	skip map[string]bool
	// First, when set, receives the largest confidently read line as soon as the first pass has
	// it, so speech can start while the rest of the pipeline runs (short text first).
	First func(Line)
}

// maxRegions bounds the unread rows of characters read one by one.
const maxRegions = 24

// maxWorkPixels bounds the picture the pipeline reads: a larger photo is scaled down first (an
// 8000x8000 photo is read, not refused). Pages scanned at 300 dpi stay as they are.
const maxWorkPixels = 12_000_000

// Read runs the pipeline on img.
func (e *Engine) Read(ctx context.Context, img image.Image, o ReadOptions) (Page, error) {
	if o.MinConfidence == 0 {
		o.MinConfidence = 60
	}
	b := img.Bounds()
	if b.Dx() < 3 || b.Dy() < 3 {
		return Page{}, fmt.Errorf("ocr: the image is %dx%d pixels, too small to read", b.Dx(), b.Dy())
	}
	g := toGray(img)
	p := Page{Scale: 1, Original: b.Size()}
	if n := b.Dx() * b.Dy(); n > maxWorkPixels {
		p.Scale = math.Sqrt(float64(maxWorkPixels) / float64(n))
		g = scaleGray(g, p.Scale)
	}
	p.Brightness, p.Sharpness = brightness(g), sharpness(g)

	// Short text first on a large picture: a quick reading of a copy of about a megapixel finds
	// the large print (a heading, a sign) in a fraction of the first pass's time.
	first := o.First
	if px := g.Rect.Dx() * g.Rect.Dy(); first != nil && px > 2_000_000 {
		f := math.Sqrt(1_000_000 / float64(px))
		quick, err := e.passLines(scaleGray(g, f), PSMAuto, f, image.Point{}, "quick")
		if err != nil {
			return Page{}, err
		}
		if l, ok := firstLine(dropNoise(quick), o.MinConfidence); ok {
			first(l)
			first = nil
		}
	}
	// Pass 1: the tesseract program's own reading.
	base, err := e.passLines(g, PSMAuto, 1, image.Point{}, "page")
	if err != nil {
		return Page{}, err
	}
	base = dropNoise(base)
	if first != nil {
		if l, ok := firstLine(base, o.MinConfidence); ok {
			first(l)
		}
	}
	if err := ctx.Err(); err != nil {
		return Page{}, err
	}

	// Orientation: a page read poorly may be turned. Tesseract reads a page turned by 90° or
	// 270° as vertical lines, and one upside down as confident-looking nonsense; so the other
	// turns are read too, and the reading with the most confident horizontal text wins. (A
	// picture where nothing at all was read is not a turned page.) Tesseract's own orientation
	// detection (OSD) needs more text than a label has: "too few characters" on a 3-line label.
	if len(base) > 0 && !strongReading(base) {
		bestScore, best, bestG, bestQ := horizontalScore(base), base, g, 0
		for _, q := range []int{2, 1, 3} {
			if q != 2 && strongReading(best) {
				break
			}
			tg := turnGray(g, q)
			ls, err := e.passLines(tg, PSMAuto, 1, image.Point{}, "page")
			if err != nil {
				return Page{}, err
			}
			ls = dropNoise(ls)
			if s := horizontalScore(ls); s > 1.5*bestScore+1 {
				bestScore, best, bestG, bestQ = s, ls, tg, q
			}
		}
		base, g, p.Turned = best, bestG, bestQ
	}
	// Skew: a label held askew by more than a couple of degrees defeats Tesseract's own deskew
	// (a label at 12° reads as "Take 1 tablet ev,"; at 8° the lot number comes out wrong). The
	// angle that makes the ink's row profile most peaked is undone, and that reading kept when
	// it is clearly better.
	{
		if a, ok := skewAngle(g); ok {
			rg := rotateGray(g, a, paperLevel(g))
			ls, err := e.passLines(rg, PSMAuto, 1, image.Point{}, "page")
			if err != nil {
				return Page{}, err
			}
			ls = dropNoise(ls)
			// Level print reads at least as well as askew print: the levelled reading is kept
			// when it reads more (not when neither reads anything).
			if horizontalScore(ls) > horizontalScore(base) {
				p.Skew, p.skewFrom = a, g.Rect.Size()
				base, g = ls, rg
			}
		}
	}
	lines := base
	if err := ctx.Err(); err != nil {
		return Page{}, err
	}

	// Small print: read again at twice the size when some print is small or little was found
	// — but not a photo where nothing was read (over half a megapixel, no small line): on the
	// ICDAR photos that reading found none of the 21 marked regions that the rows below did not,
	// and was a sixth to a third of their time.
	px := g.Rect.Dx() * g.Rect.Dy()
	photoNothing := px > 500_000 && !smallPrint(lines) && !confidentLine(lines)
	if px <= 1_500_000 && (smallPrint(lines) || !confidentLine(lines)) && !photoNothing {
		extra, err := e.passLines(scaleGray(g, 2), PSMAuto, 2, image.Point{}, "small")
		if err != nil {
			return Page{}, err
		}
		lines = merge(lines, dropNoise(extra))
	}
	// Rows of characters nobody read (a small line under a large heading, a word on a photo):
	// each is cut out, scaled to print about 40 px high and read as one line.
	if err := ctx.Err(); err != nil {
		return Page{}, err
	}
	var missed []image.Rectangle
	var rows []image.Rectangle
	var light []bool
	if !o.skip["rows"] {
		rows, light = textRowsInk(g)
	}
	var missedLight []bool
	for i, r := range rows {
		covered := false
		for _, l := range lines {
			if !l.Box.Overlaps(r) {
				continue
			}
			// Word by word: a line's box is tall when it is askew, and takes in its neighbours.
			for _, w := range l.Words {
				covered = covered || samePlace(w.Box, r) || samePlace(l.Box, r)
			}
		}
		if !covered {
			missed = append(missed, r)
			missedLight = append(missedLight, light[i])
		}
	}
	if len(missed) > maxRegions {
		idx := make([]int, len(missed))
		for i := range idx {
			idx[i] = i
		}
		area := func(r image.Rectangle) int { return r.Dx() * r.Dy() }
		sort.SliceStable(idx, func(i, j int) bool { return area(missed[idx[i]]) > area(missed[idx[j]]) })
		var m []image.Rectangle
		var ml []bool
		for _, i := range idx[:maxRegions] {
			m, ml = append(m, missed[i]), append(ml, missedLight[i])
		}
		missed, missedLight = m, ml
	}
	for i, r := range missed {
		pad := max(3, r.Dy()/3)
		rr := r.Inset(-pad).Intersect(g.Rect)
		f := math.Max(1, math.Min(4, 40/float64(max(1, r.Dy()))))
		crop := scaleGray(cropGray(g, rr), f)
		// Read in the row's own polarity, light print inverted (reading every unread row the
		// other way round as well found nothing more on the ICDAR photos, at 70% more calls).
		if missedLight[i] {
			crop = invertGray(crop)
		}
		extra, err := e.passLines(crop, PSMSingleLine, f, rr.Min, "region")
		if err != nil {
			return Page{}, err
		}
		lines = merge(lines, dropNoise(extra))
	}
	// Print too large for Tesseract (letters hundreds of pixels high, a close-up of a sign
	// taken at full resolution): read a copy at most 1000 pixels across.
	if side := max(g.Rect.Dx(), g.Rect.Dy()); side > 1600 && !confidentLine(lines) {
		f := 1000 / float64(side)
		extra, err := e.passLines(scaleGray(g, f), PSMAuto, f, image.Point{}, "large")
		if err != nil {
			return Page{}, err
		}
		lines = merge(lines, dropNoise(extra))
	}
	// Little found: a photo of a sign or a shop front. Light-on-dark text (inverted) and
	// scattered text (sparse mode), with the contrast stretched.
	if !confidentLine(lines) {
		st := stretchGray(g)
		type pass struct {
			img  *image.Gray
			psm  int
			f    float64
			name string
		}
		passes := []pass{{invertGray(st), PSMAuto, 1, "inverted"}}
		// Tesseract's sparse-text mode only where the rows found nothing: on the ICDAR photos it
		// found none of the 21 marked regions alone and added none to the rows' 5, at twice the
		// time (BenchmarkSceneTextDetectors).
		if len(rows) == 0 {
			passes = append(passes, pass{st, PSMSparse, 1, "sparse"})
		}
		for _, pass := range passes {
			if err := ctx.Err(); err != nil {
				return Page{}, err
			}
			extra, err := e.passLines(pass.img, pass.psm, pass.f, image.Point{}, pass.name)
			if err != nil {
				return Page{}, err
			}
			lines = merge(lines, dropNoise(extra))
		}
		if h := g.Rect.Dy(); h <= 160 && g.Rect.Dx() <= 1000 {
			// A picture one line high (a word cut out of a photo, a close-up of a sign).
			if err := ctx.Err(); err != nil {
				return Page{}, err
			}
			extra, err := e.wordLine(g)
			if err != nil {
				return Page{}, err
			}
			lines = merge(lines, dropNoise(extra))
		}
		lines = readingOrder(lines)
	}
	// The text-recognition network, where one is installed, re-reads what Tesseract was unsure
	// of or did not read (network.go).
	lines, err = e.networkPass(ctx, g, lines, missed)
	if err != nil {
		return Page{}, err
	}
	// Numbers: every number not read with high confidence is read again at another scale.
	lines, err = e.checkNumbers(ctx, g, lines)
	if err != nil {
		return Page{}, err
	}
	p.Lines = lines
	p.Size = g.Rect.Size()
	for _, r := range missed {
		read := false
		for _, l := range lines {
			if samePlace(l.Box, r) {
				read = true
			}
		}
		if !read {
			p.Unread++
		}
	}
	p.Guidance = guidance(g, p)
	return p, nil
}

// wordLine reads a picture one line high (a word cut out of a photo, a close-up of a sign) as
// one line four ways and returns the reading whose least sure word is surest, when that word
// reaches wordSure. The ways: the picture contrast-stretched and scaled to 64 px high, both
// ways round (the former "line" pass); then dark print on light (the ink is the smaller side of
// Otsu's threshold) with a margin of 32 px, once with its band of ink scaled to 64 px high and
// once with the picture scaled to 72 px high and unsharp-masked (photos of signs are blurred).
// Chosen on 60 generated blurred, noisy, askew words (ways and threshold; old two ways: 21 read,
// 1 wrong; these four: 28 read, 1 wrong), then measured on the ICDAR word crops.
func (e *Engine) wordLine(g *image.Gray) ([]Line, error) {
	var pick wordPick
	f := math.Max(1, math.Min(6, 64/float64(g.Rect.Dy())))
	big := scaleGray(stretchGray(g), f)
	for _, x := range []*image.Gray{big, invertGray(big)} {
		if err := pick.read(e, g, x, f, 0); err != nil {
			return nil, err
		}
	}
	if err := e.sharperWays(g, &pick); err != nil {
		return nil, err
	}
	return pick.best, nil
}

// sharperWays: dark print on light (the ink is the smaller side of Otsu's threshold) with a
// margin of 32 px, once with its band of ink scaled to 64 px high and once with the picture
// scaled to 72 px high and unsharp-masked.
func (e *Engine) sharperWays(g *image.Gray, pick *wordPick) error {
	st := stretchGray(g)
	if !inkIsDark(st) {
		st = invertGray(st)
	}
	const pad = 32
	th := inkHeight(st)
	if 3*th < st.Rect.Dy() {
		th = st.Rect.Dy()
	}
	f := math.Max(1, math.Min(8, 64/float64(th)))
	x := scaleGray(st, f)
	if err := pick.read(e, g, padGray(x, pad, paperLevel(x)), f, pad); err != nil {
		return err
	}
	f = math.Max(1, math.Min(8, 72/float64(g.Rect.Dy())))
	x = sharpenGray(scaleGray(st, f), 4, 1.5)
	return pick.read(e, g, padGray(x, pad, paperLevel(x)), f, pad)
}

// wordPick keeps, of the readings of one word picture, the one whose least sure word is surest,
// when that word reaches wordSure and the reading has three letters or digits.
type wordPick struct {
	best  []Line
	least float64
}

// read reads x (g scaled by f with a margin of pad pixels) as one line and considers it.
func (p *wordPick) read(e *Engine, g, x *image.Gray, f float64, pad int) error {
	ls, err := e.passLines(x, PSMSingleLine, f, image.Point{}, "line")
	if err != nil {
		return err
	}
	shift := image.Pt(int(math.Round(float64(pad)/f)), int(math.Round(float64(pad)/f)))
	least, n := 100.0, 0
	for i := range ls {
		l := &ls[i]
		l.Box = l.Box.Sub(shift).Intersect(g.Rect)
		for j := range l.Words {
			l.Words[j].Box = l.Words[j].Box.Sub(shift).Intersect(g.Rect)
			least = math.Min(least, l.Words[j].Confidence)
			n += alnumCount(l.Words[j].Text)
		}
	}
	if n >= 3 && least >= wordSure && (p.best == nil || least > p.least) {
		p.best, p.least = ls, least
	}
	return nil
}

// wordSure is the confidence every word of a word picture's reading must reach (wordLine).
const wordSure = 80

// paperLevel is the grey level of the paper: the median.
func paperLevel(g *image.Gray) uint8 {
	var hist [256]int
	for _, v := range g.Pix {
		hist[v]++
	}
	return uint8(percentile(&hist, len(g.Pix), 0.5))
}

// passLines reads g (the working picture scaled by f and offset by off) and returns its lines
// with boxes in working-picture pixels.
func (e *Engine) passLines(g *image.Gray, psm int, f float64, off image.Point, pass string) ([]Line, error) {
	if trace != nil {
		defer trace(pass, g.Rect.Size(), time.Now())
	}
	res, err := e.RecognizeMode(g, psm)
	if err != nil {
		return nil, err
	}
	var lines []Line
	for i, w := range res.Words {
		w.Box = image.Rect(int(float64(w.Box.Min.X)/f), int(float64(w.Box.Min.Y)/f), int(math.Ceil(float64(w.Box.Max.X)/f)), int(math.Ceil(float64(w.Box.Max.Y)/f))).Add(off)
		if i == 0 || w.LineStart || w.ParaStart || w.BlockStart || len(lines) == 0 {
			lines = append(lines, Line{Pass: pass, Box: w.Box})
		}
		l := &lines[len(lines)-1]
		l.Words = append(l.Words, w)
		l.Box = l.Box.Union(w.Box)
	}
	return lines, nil
}

// trace, when set (tests), is told of every pass and its duration.
var trace func(pass string, size image.Point, start time.Time)

// dropNoise removes what is not text: words that are only marks and not confident, and lines
// whose every word is very low confidence (shapes in a photo that Tesseract "reads"). A word
// Tesseract is confident of is never dropped.
func dropNoise(lines []Line) []Line {
	var out []Line
	for _, l := range lines {
		var ws []Word
		for _, w := range l.Words {
			if hasAlnum(w.Text) || w.Confidence >= 60 {
				ws = append(ws, w)
			}
		}
		if len(ws) == 0 {
			continue
		}
		l.Words = ws
		maxConf, alnum := 0.0, 0
		for _, w := range ws {
			maxConf = math.Max(maxConf, w.Confidence)
			for _, r := range w.Text {
				if unicode.IsLetter(r) || unicode.IsDigit(r) {
					alnum++
				}
			}
		}
		if maxConf < 30 || (maxConf < 50 && alnum < 3) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// score weighs a reading by how much it read and how sure it is: confident letters count most.
func score(lines []Line) float64 {
	s := 0.0
	for _, l := range lines {
		for _, w := range l.Words {
			c := w.Confidence / 100
			n := 0
			for _, r := range w.Text {
				if unicode.IsLetter(r) || unicode.IsDigit(r) {
					n++
				}
			}
			s += c * c * c * float64(n)
		}
	}
	return s
}

// horizontalScore is score counting only the lines that lie horizontally (wider than tall, or
// one short word).
func horizontalScore(lines []Line) float64 {
	var hl []Line
	for _, l := range lines {
		if l.Box.Dx() >= l.Box.Dy() || (len(l.Words) == 1 && len([]rune(l.Words[0].Text)) <= 2) {
			hl = append(hl, l)
		}
	}
	return score(hl)
}

func alnumCount(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

// strongReading: most words confident, so the page is upright and its reading is not in doubt.
func strongReading(lines []Line) bool {
	n, good := 0, 0
	for _, l := range lines {
		for _, w := range l.Words {
			n++
			if w.Confidence >= 75 {
				good++
			}
		}
	}
	// A page with photographs has many unsure "words" in them; twenty sure ones still make it
	// an upright page.
	return n >= 2 && (good*10 >= n*7 || good >= 20)
}

// confidentLine: some line of two or more letters or digits read at 80 or more.
func confidentLine(lines []Line) bool {
	for _, l := range lines {
		if l.Confidence() >= 80 && alnumCount(l.Text()) >= 2 {
			return true
		}
	}
	return false
}

func smallPrint(lines []Line) bool {
	for _, l := range lines {
		if h := l.Height(); h > 0 && h < 20 {
			return true
		}
	}
	return false
}

// firstLine picks the line to say first: the largest print among the lines read with high
// confidence and with no number in doubt.
func firstLine(lines []Line, minConf float64) (Line, bool) {
	best, ok := Line{}, false
	for _, l := range lines {
		sure := l.Confidence() >= 85
		for _, w := range l.Words {
			if w.Confidence < max(70, minConf) || (hasDigit(w.Text) && w.Confidence < numberSure) {
				sure = false
			}
		}
		// Larger means clearly larger (a heading): among lines of one size, the first.
		if sure && (!ok || 4*l.Height() > 5*best.Height()) {
			best, ok = l, true
		}
	}
	return best, ok
}

// merge adds to base the lines of extra that read a place base did not, and replaces a base
// line read at low confidence by a much more confident reading of the same place. Nothing
// base read confidently is dropped.
func merge(base, extra []Line) []Line {
	out := append([]Line(nil), base...)
	for _, x := range extra {
		// The passes that look for text where the first found none (regions, sparse, inverted,
		// a photo's whole frame as one line) meet shapes Tesseract is sure of that are not text:
		// they must be surer.
		need, chars := 60.0, 2
		switch x.Pass {
		case "region":
			need, chars = 75, 2
		case "sparse", "inverted", "line":
			need, chars = 70, 3
		}
		if alnumCount(x.Text()) < chars || x.Confidence() < need {
			continue
		}
		var hits []int
		for i, b := range out {
			if samePlace(b.Box, x.Box) {
				hits = append(hits, i)
			}
		}
		switch {
		case len(hits) == 0:
			out = insertLine(out, x)
		case len(hits) == 1 && betterLine(x, out[hits[0]]):
			out[hits[0]] = x
		}
	}
	return out
}

// betterLine: x reads the whole of b's place with much more confidence (a small line read again
// at a readable size).
func betterLine(x, b Line) bool {
	cx, cb := x.Confidence(), b.Confidence()
	return cx >= 80 && cx >= cb+15 && 5*x.Box.Dx() >= 4*b.Box.Dx()
}

// overlaps: the boxes share at least a third of the smaller one.
func overlaps(a, b image.Rectangle) bool {
	in := a.Intersect(b)
	if in.Empty() {
		return false
	}
	small := min(a.Dx()*a.Dy(), b.Dx()*b.Dy())
	return 3*in.Dx()*in.Dy() >= small
}

// samePlace: the boxes overlap and each one's middle lies within the other's height (Tesseract's
// box of a large word can take in a small line under it, which is still another line).
func samePlace(a, b image.Rectangle) bool {
	ma, mb := (a.Min.Y+a.Max.Y)/2, (b.Min.Y+b.Max.Y)/2
	return overlaps(a, b) && ma >= b.Min.Y && ma <= b.Max.Y && mb >= a.Min.Y && mb <= a.Max.Y
}

// insertLine puts x after the last line above it that shares its columns (or, with none, after
// the last line above it), keeping the first pass's layout order for the rest.
func insertLine(lines []Line, x Line) []Line {
	at := -1
	for i, l := range lines {
		sameCol := l.Box.Min.X < x.Box.Max.X && x.Box.Min.X < l.Box.Max.X
		if sameCol && l.Box.Min.Y <= x.Box.Min.Y {
			at = i
		}
	}
	if at < 0 {
		for i, l := range lines {
			if l.Box.Min.Y <= x.Box.Min.Y {
				at = i
			}
		}
	}
	lines = append(lines, Line{})
	copy(lines[at+2:], lines[at+1:])
	lines[at+1] = x
	return lines
}

// readingOrder sorts scattered lines top to bottom, left to right: lines whose middles are
// within half a line of each other are one row.
func readingOrder(lines []Line) []Line {
	sort.SliceStable(lines, func(i, j int) bool {
		a, b := lines[i].Box, lines[j].Box
		ma, mb := (a.Min.Y+a.Max.Y)/2, (b.Min.Y+b.Max.Y)/2
		tol := min(a.Dy(), b.Dy()) / 2
		if ma-mb > tol || mb-ma > tol {
			return ma < mb
		}
		return a.Min.X < b.Min.X
	})
	return lines
}

// numberSure is the confidence at or above which a number is taken as read; below, it is read
// again.
const numberSure = 93

// checkNumbers reads every line holding a number of less than numberSure confidence again, at
// another scale as one line, and compares: an agreeing reading confirms the number, a differing
// one is kept as the alternative to say ("the number may be 4821 or 44821"). The first reading is
// never replaced silently.
func (e *Engine) checkNumbers(ctx context.Context, g *image.Gray, lines []Line) ([]Line, error) {
	checked := 0
	for i := range lines {
		l := &lines[i]
		var doubtful []int
		for j, w := range l.Words {
			if hasDigit(w.Text) && w.Confidence < numberSure {
				doubtful = append(doubtful, j)
			}
		}
		if len(doubtful) == 0 || checked >= 12 {
			continue
		}
		checked++
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pad := max(4, l.Height()/2)
		r := l.Box.Inset(-pad).Intersect(g.Rect)
		f := 48 / float64(max(1, l.Height()))
		f = math.Max(0.5, math.Min(3, f))
		if math.Abs(f-1) < 0.3 {
			f = 1.6
		}
		again, err := e.passLines(scaleGray(cropGray(g, r), f), PSMSingleLine, f, r.Min, l.Pass)
		if err != nil {
			return nil, err
		}
		var words []Word
		for _, a := range again {
			words = append(words, a.Words...)
		}
		for _, j := range doubtful {
			w := l.Words[j]
			alt, ok := sameWord(w, words)
			if !ok || !hasDigit(alt.Text) {
				continue // the second reading did not find it: the confidence decides the hedge
			}
			if digitsOf(alt.Text) == digitsOf(w.Text) {
				if l.Checked == nil {
					l.Checked = map[string]bool{}
				}
				l.Checked[w.Text] = true
				continue
			}
			if l.Alternatives == nil {
				l.Alternatives = map[string]string{}
			}
			l.Alternatives[w.Text] = alt.Text
		}
	}
	return lines, nil
}

// sameWord finds the word of ws in the same place as w (the most overlap along the line).
func sameWord(w Word, ws []Word) (Word, bool) {
	best, bestOv := Word{}, 0
	for _, x := range ws {
		ov := min(w.Box.Max.X, x.Box.Max.X) - max(w.Box.Min.X, x.Box.Min.X)
		if ov > bestOv {
			best, bestOv = x, ov
		}
	}
	return best, bestOv*2 >= min(w.Box.Dx(), best.Box.Dx()) && bestOv > 0
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func hasDigit(s string) bool {
	for _, r := range s {
		if unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

// Speech is what to say, a piece at a time: each line verbatim with its one hedge after it, then
// the orientation when it helps, then the framing cues; or, with no text, why not.
func (p Page) Speech(minConf float64) []string { return p.SpeechAfter(minConf, "") }

// SpeechAfter is Speech without the line already said first (ReadOptions.First).
func (p Page) SpeechAfter(minConf float64, said string) []string {
	if minConf == 0 {
		minConf = 60
	}
	var out []string
	skipped := said == ""
	for _, l := range p.Lines {
		s := l.Text()
		if !skipped && s == said && l.Hedge(minConf) == "" {
			skipped = true
			continue
		}
		if h := l.Hedge(minConf); h != "" {
			s += "\n" + h
		}
		out = append(out, s+"\n")
	}
	if len(out) == 0 && len(p.Lines) == 0 {
		msg := NoText
		if len(p.Guidance) > 0 {
			msg = "I can't find any text." // the cues say why
		}
		out = append(out, msg+"\n")
	} else if p.Turned == 2 && len(p.Lines) > 0 {
		// Said after the text, and only for a page upside down: the reading is already upright,
		// but the user holding a box the wrong way up wants to know.
		out = append(out, "The text was upside down.\n")
	}
	for _, c := range p.Guidance {
		out = append(out, c+"\n")
	}
	return out
}

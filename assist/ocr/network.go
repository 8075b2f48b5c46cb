package ocr

import (
	"context"
	"image"
	"sort"
	"strings"
	"time"

	"github.com/rpiq/rpiq/assist/textdet"
	"github.com/rpiq/rpiq/assist/textrec"
)

// The text-recognition network (assist/textrec, PaddleOCR's PP-OCR recogniser) as a second
// reader. Tesseract stays the first: the network re-reads only what Tesseract read with low
// confidence or not at all — a picture one line high (a word cut out of a photo, a sign), the
// lines Tesseract was unsure of, and the rows of characters no pass read — and its reading is
// taken where it is surer. A line Tesseract read with every word at keepSure or more is kept as
// read. A number the two readers read differently is said with both ("the number may be ...").

// SetRecognizer gives the pipeline the text-recognition network (nil: Tesseract alone).
func (e *Engine) SetRecognizer(r *textrec.Recognizer) { e.net = r }

// SetDetector gives the pipeline the text-detection network (nil: none). With the recogniser
// too, the network reads the detector's boxes that no line covers (scene text).
func (e *Engine) SetDetector(d *textdet.Detector) { e.det = d }

// maxDetLines bounds the network's readings of the detector's boxes in one picture.
const maxDetLines = 16

// keepSure: a line whose every word Tesseract read at this confidence or more is kept as read.
// On a page or photo that is 80, the tesseract program's confident line that the NeverBelow
// tests hold the pipeline to (at 90 the network replaced four such lines of the UNLV pages,
// "wandered around the ‘house" among them); in a picture one line high, where both readers read
// the whole picture, 90 (Tesseract's "Reserves" at 87 gives way to the network's "Reserve" at
// 99; at 80 the crops read 13 of 17, not 14).
const (
	keepSure     = 80
	keepSureWord = 90
)

// netSure is the mean character probability (×100) a network reading needs to be said where
// Tesseract read nothing; netMargin is how much surer than Tesseract's line it must be to
// replace it.
const (
	netSure   = 75
	netMargin = 5
)

// minNetHeight is the smallest print (pixels) the network re-reads: smaller print, scaled up
// tenfold to its 48 rows, comes out as confident half-words ("daly withbod" for 5-pixel "daily
// with food"), where the cue to move the camera closer is the better answer.
const minNetHeight = 10

// maxNetLines bounds the network's re-readings of one picture.
const maxNetLines = 16

// netRead reads g (one line of print) with the network as it is and, when twoWays, also with a
// margin of paper a quarter of its height wide, keeping the reading whose least sure character
// is surer. (Lines and rows cut from a page or photo already have a margin of their
// surroundings: read one way, they halve the network's time there.)
func (e *Engine) netRead(g *image.Gray, twoWays bool) (textrec.Reading, error) {
	if trace != nil {
		defer trace("network", g.Rect.Size(), time.Now())
	}
	a, err := e.net.Read(g)
	if err != nil || !twoWays {
		return a, err
	}
	pad := max(4, (g.Rect.Dy()+3)/4)
	b, err := e.net.Read(padGray(g, pad, paperLevel(g)))
	if err != nil {
		return a, err
	}
	if b.Least > a.Least {
		return b, nil
	}
	return a, nil
}

// netLine makes a Line of a network reading of the place box: words split at spaces, each with
// its characters' mean probability as its confidence and a share of the box in proportion to
// its characters (the network gives no boxes).
func netLine(rd textrec.Reading, box image.Rectangle) Line {
	l := Line{Pass: "network", Box: box}
	n := len(rd.Chars)
	start := 0
	flush := func(end int) {
		if end <= start {
			return
		}
		var b strings.Builder
		s := 0.0
		for _, c := range rd.Chars[start:end] {
			b.WriteString(c.Text)
			s += c.Prob
		}
		x0 := box.Min.X + box.Dx()*start/n
		x1 := box.Min.X + box.Dx()*end/n
		l.Words = append(l.Words, Word{Text: b.String(), Confidence: 100 * s / float64(end-start), Box: image.Rect(x0, box.Min.Y, max(x1, x0+1), box.Max.Y)})
	}
	for i, c := range rd.Chars {
		if strings.TrimSpace(c.Text) == "" {
			flush(i)
			start = i + 1
		}
	}
	flush(n)
	return l
}

// sureLine: every word read at sure or more.
func sureLine(l Line, sure float64) bool {
	for _, w := range l.Words {
		if w.Confidence < sure {
			return false
		}
	}
	return len(l.Words) > 0
}

// sayable: a network reading good enough to say where nothing else was read.
func sayable(x Line) bool {
	return alnumCount(x.Text()) >= 2 && x.Confidence() >= netSure
}

// crossNumbers compares the numbers of the line kept with the other reader's reading of the
// same place: the same digits confirm a number, other digits are kept as its alternative.
func crossNumbers(kept *Line, other Line) {
	for _, w := range kept.Words {
		if !hasDigit(w.Text) {
			continue
		}
		alt, ok := sameWord(w, other.Words)
		if !ok || !hasDigit(alt.Text) {
			continue
		}
		if digitsOf(alt.Text) == digitsOf(w.Text) {
			if w.Confidence < numberSure && alt.Confidence < numberSure {
				continue // two unsure readings agreeing: still said with a doubt
			}
			if kept.Checked == nil {
				kept.Checked = map[string]bool{}
			}
			kept.Checked[w.Text] = true
			continue
		}
		if kept.Alternatives == nil {
			kept.Alternatives = map[string]string{}
		}
		kept.Alternatives[w.Text] = alt.Text
	}
}

// networkPass re-reads with the network what Tesseract was unsure of or did not read.
func (e *Engine) networkPass(ctx context.Context, g *image.Gray, lines []Line, missed []image.Rectangle) ([]Line, error) {
	if e.net == nil {
		return lines, nil
	}
	// A picture one line high: the network reads the whole of it.
	if g.Rect.Dy() <= 160 && g.Rect.Dx() <= 1000 && len(lines) <= 1 {
		rd, err := e.netRead(g, true)
		if err != nil {
			return nil, err
		}
		x := netLine(rd, g.Rect)
		switch {
		case len(lines) == 0:
			if sayable(x) {
				lines = []Line{x}
			}
		case !sureLine(lines[0], keepSureWord) && sayable(x) && x.Confidence() >= lines[0].Confidence()+netMargin:
			x.Box = lines[0].Box
			crossNumbers(&x, lines[0])
			lines[0] = x
		default:
			crossNumbers(&lines[0], x)
		}
		return lines, nil
	}
	done := 0
	// The lines Tesseract was unsure of.
	for i := range lines {
		l := &lines[i]
		if sureLine(*l, keepSure) || done >= maxNetLines || l.Height() < minNetHeight {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		done++
		pad := max(2, l.Height()/6)
		r := l.Box.Inset(-pad).Intersect(g.Rect)
		rd, err := e.netRead(cropGray(g, r), false)
		if err != nil {
			return nil, err
		}
		x := netLine(rd, l.Box)
		// Surer, and not fewer words (the network runs words together where the spaces are
		// narrow; a line read as one long word is not a better reading of a line of words).
		if sayable(x) && x.Confidence() >= l.Confidence()+netMargin && len(x.Words) >= len(l.Words) {
			crossNumbers(&x, *l)
			*l = x
		} else {
			crossNumbers(l, x)
		}
	}
	// The rows of characters no pass read.
	for _, r := range missed {
		if done >= maxNetLines {
			break
		}
		read := false
		for _, l := range lines {
			if samePlace(l.Box, r) {
				read = true
			}
		}
		if read || r.Dy() < minNetHeight {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		done++
		pad := max(2, r.Dy()/6)
		rr := r.Inset(-pad).Intersect(g.Rect)
		rd, err := e.netRead(cropGray(g, rr), false)
		if err != nil {
			return nil, err
		}
		// Rows in a photo meet shapes that are not text: a surer reading of three characters.
		if x := netLine(rd, r); sayable(x) && alnumCount(x.Text()) >= 3 && x.Confidence() >= 85 {
			lines = insertLine(lines, x)
		}
	}
	return e.detectorPass(ctx, g, lines)
}

// detectorPass reads with the network the text detector's boxes that no line read covers,
// largest first, each said on the same terms as an unread row.
func (e *Engine) detectorPass(ctx context.Context, g *image.Gray, lines []Line) ([]Line, error) {
	if e.det == nil {
		return lines, nil
	}
	if trace != nil {
		defer trace("detector", g.Rect.Size(), time.Now())
	}
	boxes, err := e.det.Detect(g)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(boxes, func(i, j int) bool {
		a, b := boxes[i].Rect, boxes[j].Rect
		return a.Dx()*a.Dy() > b.Dx()*b.Dy()
	})
	done := 0
	for _, bx := range boxes {
		r := bx.Rect
		if done >= maxDetLines {
			break
		}
		if r.Dy() < minNetHeight || r.Dx() < r.Dy()/2 {
			continue
		}
		covered := false
		for _, l := range lines {
			if samePlace(l.Box, r) {
				covered = true
			}
			for _, w := range l.Words {
				covered = covered || samePlace(w.Box, r)
			}
		}
		if covered {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		done++
		rd, err := e.netRead(cropGray(g, r), false)
		if err != nil {
			return nil, err
		}
		if x := netLine(rd, r); sayable(x) && alnumCount(x.Text()) >= 3 && x.Confidence() >= 85 {
			lines = insertLine(lines, x)
		}
	}
	return lines, nil
}

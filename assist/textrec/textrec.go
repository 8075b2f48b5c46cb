// Package textrec reads one line of text in a picture with a text-recognition network of the
// PaddleOCR PP-OCR family (CRNN/SVTR with a CTC head): the picture is scaled to 48 px high, its
// width in proportion (at most MaxWidth), normalised to [-1, 1] in BGR order and padded on the
// right; the network gives, per 8-pixel column step, a distribution over blank, the
// dictionary's characters and a space; greedy CTC decoding (the most likely class per step,
// repeats collapsed, blanks dropped) gives the text and each character's probability.
//
// The network is run by a Runner (runtime/onnx in the assistant); this package holds the
// pre-processing, the decoding and the dictionary parser.
package textrec

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/rpiq/rpiq/assist/netimage"
)

// Runner runs the network on one input of shape [1, 3, H, W] and returns its output of shape
// [1, T, C] (per step, per class; probabilities, or scores that Decode turns into them).
type Runner interface {
	Run(x []float32, shape []int) (y []float32, yshape []int, err error)
}

// Height is the input height PP-OCR recognisers are trained at.
const Height = 48

// Recognizer reads single lines of text.
type Recognizer struct {
	mu   sync.Mutex // one run at a time
	run  Runner
	keys []string // class i+1 is keys[i]; the class after the last key is a space
	// MinWidth is the padded input width (PP-OCR's 320); MaxWidth bounds a long line's width
	// (wider lines are squeezed to it).
	MinWidth, MaxWidth int
	name               string // the model file, for errors
}

// New makes a recognizer from a runner and the dictionary (ParseDict). name is the model file,
// for errors.
func New(run Runner, keys []string, name string) *Recognizer {
	return &Recognizer{run: run, keys: keys, MinWidth: 320, MaxWidth: 960, name: name}
}

// Char is one decoded character.
type Char struct {
	Text string  // the dictionary entry (one character, or a space)
	Prob float64 // the probability of its most likely step, 0..1
	Step int     // the first output step (8 input columns each) it was read at
}

// Reading is the network's reading of one line.
type Reading struct {
	Text  string
	Chars []Char
	// Confidence is the mean of the characters' probabilities, 0..1 (0 when nothing was read).
	Confidence float64
	// Least is the smallest character probability (0 when nothing was read).
	Least float64
	// Steps is the number of output steps; Width the input columns the line itself took (the
	// rest is padding): each step is 8 columns of the padded input, so a character
	// lies at about Char.Step·8/Width of the line's width.
	Steps, Width int
}

// Read reads img as one line of text.
func (r *Recognizer) Read(img image.Image) (Reading, error) {
	x, w := Preprocess(img, Height, r.MinWidth, r.MaxWidth)
	if x == nil {
		return Reading{}, fmt.Errorf("textrec: the picture is %v, too small to read", img.Bounds().Size())
	}
	r.mu.Lock()
	y, shape, err := r.run.Run(x, []int{1, 3, Height, w})
	r.mu.Unlock()
	if err != nil {
		return Reading{}, fmt.Errorf("textrec: %s: %w", r.name, err)
	}
	if len(shape) != 3 || shape[0] != 1 || shape[1] < 1 || shape[1]*shape[2] != len(y) {
		return Reading{}, fmt.Errorf("textrec: %s: the network's output has shape %v; expected [1, steps, classes]", r.name, shape)
	}
	if shape[2] != len(r.keys)+2 {
		return Reading{}, fmt.Errorf("textrec: %s: the network has %d classes; the dictionary has %d characters, so %d were expected (blank, the characters, space): is it the dictionary that came with the model?", r.name, shape[2], len(r.keys), len(r.keys)+2)
	}
	rd := Decode(y, shape[1], shape[2], r.keys)
	rd.Width = min(r.MaxWidth, int(math.Ceil(float64(Height)*float64(img.Bounds().Dx())/float64(img.Bounds().Dy()))))
	return rd, nil
}

// Preprocess scales img to height h keeping its proportions (width ceil(h·w/hImg), at most
// maxW), converts it to BGR planes normalised as x/127.5 − 1 and pads it with 0 on the right to
// at least minW (and to a multiple of 8). It returns the planes and the padded width; nil for an
// empty picture.
func Preprocess(img image.Image, h, minW, maxW int) ([]float32, int) {
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 || h < 1 {
		return nil, 0
	}
	rw := int(math.Ceil(float64(h) * float64(b.Dx()) / float64(b.Dy())))
	rw = max(1, min(rw, maxW))
	pw := max(rw, minW)
	pw = (pw + 7) / 8 * 8
	src := netimage.FromImage(img)
	out := make([]float32, 3*h*pw)
	sx := float64(b.Dx()) / float64(rw)
	sy := float64(b.Dy()) / float64(h)
	plane := h * pw
	for y := 0; y < h; y++ {
		fy := (float64(y)+0.5)*sy - 0.5
		for x := 0; x < rw; x++ {
			fx := (float64(x)+0.5)*sx - 0.5
			rgb := src.Bilinear(fx, fy)
			i := y*pw + x
			// BGR order, as PaddleOCR's OpenCV pictures are.
			out[i] = float32(rgb[2]/127.5 - 1)
			out[plane+i] = float32(rgb[1]/127.5 - 1)
			out[2*plane+i] = float32(rgb[0]/127.5 - 1)
		}
	}
	return out, pw
}

// Decode is greedy CTC decoding of y ([steps][classes], probabilities or scores: a step whose
// values do not sum to 1 is put through a softmax): the most likely class per step, repeats
// collapsed, class 0 (blank) dropped, class i → keys[i−1], the class after the last key → space.
func Decode(y []float32, steps, classes int, keys []string) Reading {
	rd := Reading{Steps: steps}
	prev := -1
	row := make([]float64, classes)
	for t := 0; t < steps; t++ {
		s := y[t*classes : (t+1)*classes]
		tot, hi := 0.0, math.Inf(-1)
		for c, v := range s {
			row[c] = float64(v)
			tot += row[c]
			hi = math.Max(hi, row[c])
		}
		if math.Abs(tot-1) > 1e-2 || hi > 1 {
			tot = 0
			for c := range row {
				row[c] = math.Exp(row[c] - hi)
				tot += row[c]
			}
			for c := range row {
				row[c] /= tot
			}
		}
		best := 0
		for c := 1; c < classes; c++ {
			if row[c] > row[best] {
				best = c
			}
		}
		if best != 0 && best != prev {
			ch := " "
			if best-1 < len(keys) {
				ch = keys[best-1]
			}
			rd.Chars = append(rd.Chars, Char{Text: ch, Prob: row[best], Step: t})
		} else if best != 0 && best == prev && row[best] > rd.Chars[len(rd.Chars)-1].Prob {
			rd.Chars[len(rd.Chars)-1].Prob = row[best] // a character's surest step
		}
		prev = best
	}
	var b strings.Builder
	rd.Least = 1
	sum := 0.0
	for _, c := range rd.Chars {
		b.WriteString(c.Text)
		sum += c.Prob
		rd.Least = math.Min(rd.Least, c.Prob)
	}
	if len(rd.Chars) == 0 {
		rd.Least = 0
		return rd
	}
	rd.Text = strings.TrimSpace(b.String())
	rd.Confidence = sum / float64(len(rd.Chars))
	return rd
}

// maxKeys bounds the dictionary (PP-OCR's Chinese one has 6623 entries).
const maxKeys = 100_000

// ParseDict parses a recogniser's dictionary: one character a line (UTF-8; a final line break
// is optional; a line ending in CR LF loses the CR). name is the file, for errors.
func ParseDict(name string, data []byte) ([]string, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("textrec: %s: the dictionary is empty; expected one character a line", name)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, fmt.Errorf("textrec: %s: the dictionary holds a zero byte; expected text, one character a line", name)
	}
	text := strings.TrimSuffix(string(data), "\n")
	lines := strings.Split(text, "\n")
	if len(lines) > maxKeys {
		return nil, fmt.Errorf("textrec: %s: the dictionary has %d lines; at most %d were expected", name, len(lines), maxKeys)
	}
	keys := make([]string, len(lines))
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		switch {
		case !utf8.ValidString(l):
			return nil, fmt.Errorf("textrec: %s: line %d is not UTF-8 text", name, i+1)
		case l == "":
			return nil, fmt.Errorf("textrec: %s: line %d is empty; expected one character a line", name, i+1)
		case utf8.RuneCountInString(l) > 8:
			return nil, fmt.Errorf("textrec: %s: line %d holds %q; expected one character a line", name, i+1, l)
		}
		keys[i] = l
	}
	return keys, nil
}

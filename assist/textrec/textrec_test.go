package textrec

import (
	"errors"
	"image"
	"image/color"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rpiq/rpiq/assist/textrec/textrectest"
)

func TestParseDict(t *testing.T) {
	keys, err := ParseDict("k.txt", []byte("a\r\nb\n中\n"))
	if err != nil || strings.Join(keys, ",") != "a,b,中" {
		t.Fatalf("got %q, %v", keys, err)
	}
	if keys, err := ParseDict("k.txt", []byte("a\nb")); err != nil || len(keys) != 2 {
		t.Fatalf("no final line break: %q, %v", keys, err)
	}
	for _, c := range []struct{ in, want string }{
		{"", "k.txt: the dictionary is empty"},
		{"a\n\nb\n", "k.txt: line 2 is empty"},
		{"a\n\xff\n", "k.txt: line 2 is not UTF-8 text"},
		{"a\x00\n", "zero byte"},
		{"a\nthis is a sentence\n", `k.txt: line 2 holds "this is a sentence"`},
		{strings.Repeat("a\n", maxKeys+1), "at most 100000"},
	} {
		_, err := ParseDict("k.txt", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
}

func FuzzParseDict(f *testing.F) {
	f.Add([]byte("a\nb\n"))
	f.Add([]byte("a\r\n中\n\n"))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParseDict("f", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "textrec: f: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("no keys and no error")
		}
		for _, k := range keys {
			if k == "" || !utf8.ValidString(k) || strings.ContainsAny(k, "\n\x00") {
				t.Fatalf("bad key %q", k)
			}
		}
	})
}

// dist builds per-step distributions: at each step the class in seq gets p, the rest share 1-p.
func dist(seq []int, p []float64, classes int) []float32 {
	y := make([]float32, len(seq)*classes)
	for t, c := range seq {
		for k := 0; k < classes; k++ {
			y[t*classes+k] = float32((1 - p[t]) / float64(classes-1))
		}
		y[t*classes+c] = float32(p[t])
	}
	return y
}

func TestDecode(t *testing.T) {
	keys := []string{"a", "b", "c"} // classes: 0 blank, 1 a, 2 b, 3 c, 4 space
	seq := []int{0, 1, 1, 0, 1, 2, 4, 3, 3, 0}
	p := []float64{.9, .6, .8, .9, .7, .5, .9, .4, .95, .9}
	rd := Decode(dist(seq, p, 5), len(seq), 5, keys)
	if rd.Text != "aab c" {
		t.Fatalf("text %q, want %q", rd.Text, "aab c")
	}
	// Characters: a(.8, its surer step), a(.7), b(.5), space(.9), c(.95).
	want := []float64{.8, .7, .5, .9, .95}
	if len(rd.Chars) != len(want) {
		t.Fatalf("chars %v", rd.Chars)
	}
	mean := 0.0
	for i, w := range want {
		if math.Abs(rd.Chars[i].Prob-w) > 1e-6 {
			t.Errorf("char %d prob %v, want %v", i, rd.Chars[i].Prob, w)
		}
		mean += w / float64(len(want))
	}
	if math.Abs(rd.Confidence-mean) > 1e-6 || math.Abs(rd.Least-.5) > 1e-6 || rd.Chars[2].Step != 5 {
		t.Errorf("confidence %v least %v step %d", rd.Confidence, rd.Least, rd.Chars[2].Step)
	}
	// Scores (logits) decode to the same text, with softmax probabilities.
	logits := make([]float32, len(seq)*5)
	for i, c := range seq {
		logits[i*5+c] = 3
	}
	rd = Decode(logits, len(seq), 5, keys)
	soft := math.Exp(3) / (math.Exp(3) + 4)
	if rd.Text != "aab c" || math.Abs(rd.Confidence-soft) > 1e-6 {
		t.Errorf("logits: %q %v, want %v", rd.Text, rd.Confidence, soft)
	}
	if rd := Decode(dist([]int{0, 0}, []float64{.9, .9}, 5), 2, 5, keys); rd.Text != "" || rd.Confidence != 0 {
		t.Errorf("all blank: %+v", rd)
	}
}

func TestPreprocess(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 40, 10)) // 48 high: ceil(48*40/10) = 192 columns
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 255, 51, 0, 255
	}
	x, w := Preprocess(img, 48, 320, 960)
	if w != 320 || len(x) != 3*48*320 {
		t.Fatalf("width %d, len %d", w, len(x))
	}
	plane := 48 * 320
	for y := 0; y < 48; y++ {
		for c := 0; c < 320; c++ {
			b, g, r := x[y*320+c], x[plane+y*320+c], x[2*plane+y*320+c]
			want := [3]float32{0/127.5 - 1, 51/127.5 - 1, 255/127.5 - 1} // BGR
			if c >= 192 {
				want = [3]float32{}
			}
			if math.Abs(float64(b-want[0])) > 1e-5 || math.Abs(float64(g-want[1])) > 1e-5 || math.Abs(float64(r-want[2])) > 1e-5 {
				t.Fatalf("(%d,%d): %v %v %v, want %v", c, y, b, g, r, want)
			}
		}
	}
	// A long line is squeezed to the widest input; the width is a multiple of 8.
	if _, w := Preprocess(image.NewGray(image.Rect(0, 0, 1000, 10)), 48, 320, 960); w != 960 {
		t.Errorf("long line width %d", w)
	}
	if _, w := Preprocess(image.NewGray(image.Rect(0, 0, 101, 12)), 48, 100, 960); w != 408 {
		t.Errorf("width %d, want 408 (ceil(48*101/12)=404, to a multiple of 8)", w)
	}
	// A gradient: the bilinear resize of a grey ramp stays a ramp (naive float64 reference).
	g := image.NewGray(image.Rect(0, 0, 96, 48))
	for y := 0; y < 48; y++ {
		for c := 0; c < 96; c++ {
			g.SetGray(c, y, color.Gray{uint8(2 * c)})
		}
	}
	x, w = Preprocess(g, 48, 96, 960)
	for c := 0; c < 96; c++ {
		if want := float32(2*float64(c)/127.5 - 1); math.Abs(float64(x[c]-want)) > 1e-5 {
			t.Fatalf("ramp column %d: %v, want %v", c, x[c], want)
		}
	}
}

type fixedRunner struct {
	y     []float32
	shape []int
	got   []int
}

func (f *fixedRunner) Run(x []float32, shape []int) ([]float32, []int, error) {
	f.got = shape
	if len(x) != shape[1]*shape[2]*shape[3] {
		return nil, nil, errors.New("input size does not match its shape")
	}
	return f.y, f.shape, nil
}

func TestReadChecksClasses(t *testing.T) {
	keys := []string{"E", "X", "I", "T"}
	seq := []int{1, 0, 2, 3, 0, 4}
	run := &fixedRunner{y: dist(seq, []float64{.9, .9, .9, .9, .9, .9}, 6), shape: []int{1, 6, 6}}
	r := New(run, keys, "rec.onnx")
	rd, err := r.Read(image.NewGray(image.Rect(0, 0, 30, 12)))
	if err != nil || rd.Text != "EXIT" {
		t.Fatalf("%q %v", rd.Text, err)
	}
	if run.got[2] != 48 || run.got[3] != 320 {
		t.Errorf("input shape %v", run.got)
	}
	r = New(run, keys[:3], "rec.onnx")
	if _, err := r.Read(image.NewGray(image.Rect(0, 0, 30, 12))); err == nil || !strings.Contains(err.Error(), "rec.onnx: the network has 6 classes; the dictionary has 3 characters") {
		t.Errorf("class mismatch: %v", err)
	}
}

// TestLoadTiny: the tiny network written by textrectest, loaded from files and run by the
// project's ONNX interpreter, reads back the code it was drawn in (the real network's test is
// in assist/ocr, with RPIQ_TEXTREC_DIR).
func TestLoadTiny(t *testing.T) {
	model, dict, err := textrectest.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Load(model, dict)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"EXIT", "TIE XI"} {
		rd, err := r.Read(textrectest.Picture(want))
		if err != nil {
			t.Fatal(err)
		}
		if rd.Text != want || rd.Least < 0.99 {
			t.Errorf("read %q (least %.3f), want %q", rd.Text, rd.Least, want)
		}
	}
	// Damaged files: the error names the file.
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte("not a model"), 0o644)
	if _, err := Load(bad, dict); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("damaged model: %v", err)
	}
	os.WriteFile(bad+".txt", []byte("E\n\nX\n"), 0o644)
	if _, err := Load(model, bad+".txt"); err == nil || !strings.Contains(err.Error(), bad+".txt: line 2 is empty") {
		t.Errorf("damaged dictionary: %v", err)
	}
	if _, err := Load(model, filepath.Join(t.TempDir(), "none.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dictionary: %v", err)
	}
}

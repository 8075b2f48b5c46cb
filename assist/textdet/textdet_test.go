package textdet

import (
	"errors"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist/textimage"
	"github.com/rpiq/rpiq/assist/textrec/textrectest"
)

// greyNet writes a tiny detector: a 1×1 Conv that undoes the normalisation and averages the
// three planes, so the output map at each pixel is v/255 of a grey picture (white: certain
// text, black: none). Input [1, 3, H, W], output [1, 1, H, W], like DBNet's.
func greyNet(t testing.TB) string {
	var w [3]float32
	bias := 0.0
	for c := 0; c < 3; c++ {
		w[c] = float32(std[c] / 3)
		bias += mean[c] / 3
	}
	m := textrectest.Graph("tiny_det",
		[][]byte{textrectest.Node("Conv", []string{"x", "w", "b"}, "y")},
		[][]byte{textrectest.FloatTensor("w", []int64{1, 3, 1, 1}, w[:]), textrectest.FloatTensor("b", []int64{1}, []float32{float32(bias)})},
		textrectest.ValueInfo("x", 1, 3, -1, -1), textrectest.ValueInfo("y", 1, 1, -1, -1))
	p := filepath.Join(t.TempDir(), "det.onnx")
	if err := os.WriteFile(p, m, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fill(g *image.Gray, x0, y0, x1, y1 int, v uint8) { // inclusive pixel ranges
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			g.SetGray(x, y, color.Gray{v})
		}
	}
}

// TestTinyNetwork runs the whole path (pre-processing, the ONNX interpreter, post-processing)
// on a 96×64 picture (no scaling) whose map is known, and checks the boxes exactly.
func TestTinyNetwork(t *testing.T) {
	d, err := Load(greyNet(t))
	if err != nil {
		t.Fatal(err)
	}
	g := image.NewGray(image.Rect(0, 0, 96, 64))
	// A: 20×10 pixels of map 1; contour rectangle 19×9, d = 171·1.5/56 = 4.580:
	// x 10−d = 5.42 → 5, 29+d = 33.58 → 34; y 20−d → 15, 29+d → 34.
	fill(g, 10, 20, 29, 29, 255)
	// B: map 128/255 = 0.502: above 0.3, but its mean is under 0.6: dropped.
	fill(g, 50, 5, 69, 14, 128)
	// C: 40×12, half 1 and half 0.4: mean 0.7, kept; rectangle 39×11, d = 429·1.5/100 = 6.435:
	// x 50−d = 43.565 → 44, 89+d = 95.435 → 95; y 40−d = 33.565 → 34, 51+d = 57.435 → 57.
	fill(g, 50, 40, 69, 51, 255)
	fill(g, 70, 40, 89, 51, 102)
	// D: 2×2, narrower than PaddleOCR's min_size 3: dropped.
	fill(g, 2, 2, 3, 3, 255)
	boxes, err := d.Detect(g)
	if err != nil {
		t.Fatal(err)
	}
	want := []Box{{image.Rect(5, 15, 34, 34), 1}, {image.Rect(44, 34, 95, 57), 0.7}}
	if len(boxes) != len(want) {
		t.Fatalf("boxes %v, want %v", boxes, want)
	}
	for i, w := range want {
		if boxes[i].Rect != w.Rect || math.Abs(boxes[i].Score-w.Score) > 1e-6 {
			t.Errorf("box %d: %v, want %v", i, boxes[i], w)
		}
	}
	// A blank picture has no text.
	if boxes, err := d.Detect(image.NewGray(image.Rect(0, 0, 200, 100))); err != nil || len(boxes) != 0 {
		t.Errorf("blank: %v, %v", boxes, err)
	}
}

// TestBoxesScaled: a map smaller than the picture, and a picture not at (0, 0).
func TestBoxesScaled(t *testing.T) {
	d := New(nil, "x")
	m := make([]float32, 32*32)
	for y := 8; y <= 11; y++ {
		for x := 4; x <= 13; x++ {
			m[y*32+x] = 0.9
		}
	}
	// Rectangle 9×3, d = 27·1.5/24 = 1.6875; scale 2: x (4−d)·2 = 4.625 → 5, (13+d)·2 = 29.375
	// → 29; y (8−d)·2 = 12.625 → 13, (11+d)·2 = 25.375 → 25; then offset by (100, 200).
	got := d.Boxes(m, 32, 32, image.Rect(100, 200, 164, 264))
	if len(got) != 1 || got[0].Rect != image.Rect(105, 213, 129, 225) || math.Abs(got[0].Score-0.9) > 1e-6 {
		t.Fatalf("got %v", got)
	}
	// At the edge, boxes are clipped to the picture.
	m = make([]float32, 32*32)
	for y := 0; y <= 5; y++ {
		for x := 0; x <= 31; x++ {
			m[y*32+x] = 1
		}
	}
	if got := d.Boxes(m, 32, 32, image.Rect(0, 0, 32, 32)); len(got) != 1 || got[0].Rect.Min != (image.Point{}) || got[0].Rect.Max.X != 32 {
		t.Fatalf("edge: %v", got)
	}
}

func TestInputSize(t *testing.T) {
	for _, c := range []struct{ w, h, ih, iw int }{
		{1280, 720, 544, 960}, // ratio 0.75: 540 → 544
		{100, 50, 64, 96},
		{10, 10, 32, 32},
		{960, 960, 960, 960},
		{2000, 100, 64, 960}, // 48 → 64
	} {
		if ih, iw := InputSize(c.w, c.h, 960); ih != c.ih || iw != c.iw {
			t.Errorf("%d×%d: %d×%d, want %d×%d", c.w, c.h, iw, ih, c.iw, c.ih)
		}
	}
}

func TestPreprocess(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 5, 3))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 255, 51, 0, 255
	}
	x := Preprocess(img, 32, 32)
	want := [3]float64{(0 - 0.485) / 0.229, (0.2 - 0.456) / 0.224, (1 - 0.406) / 0.225} // B, G, R
	for c := 0; c < 3; c++ {
		for i := 0; i < 32*32; i++ {
			if math.Abs(float64(x[c*1024+i])-want[c]) > 1e-5 {
				t.Fatalf("plane %d pixel %d: %v, want %v", c, i, x[c*1024+i], want[c])
			}
		}
	}
}

type badRunner struct {
	shape []int
	err   error
}

func (r badRunner) Run(x []float32, shape []int) ([]float32, []int, error) {
	n := 1
	for _, v := range r.shape {
		n *= v
	}
	return make([]float32, n), r.shape, r.err
}

func TestErrors(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	if _, err := New(badRunner{shape: []int{1, 2, 64, 64}}, "d.onnx").Detect(img); err == nil || !strings.Contains(err.Error(), "d.onnx: the network's output has shape [1 2 64 64]; expected [1, 1, 64, 64]") {
		t.Errorf("shape: %v", err)
	}
	if _, err := New(badRunner{err: errors.New("boom")}, "d.onnx").Detect(img); err == nil || !strings.Contains(err.Error(), "d.onnx: boom") {
		t.Errorf("run error: %v", err)
	}
	if _, err := New(badRunner{}, "d.onnx").Detect(image.NewGray(image.Rect(0, 0, 0, 5))); err == nil {
		t.Error("empty picture: no error")
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.onnx")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing: %v", err)
	}
	bad := filepath.Join(dir, "bad.onnx")
	os.WriteFile(bad, []byte("not a network"), 0o644)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("damaged: %v", err)
	}
}

// RealModel loads PP-OCRv4's detector from RPIQ_TEXTREC_DIR (ch_PP-OCRv4_det_infer.onnx), or
// skips.
func realModel(t testing.TB) *Detector {
	dir := os.Getenv("RPIQ_TEXTREC_DIR")
	if dir == "" {
		t.Skip("RPIQ_TEXTREC_DIR not set (the folder holding ch_PP-OCRv4_det_infer.onnx)")
	}
	d, err := Load(filepath.Join(dir, "ch_PP-OCRv4_det_infer.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRealModel: PP-OCRv4's detector boxes the lines of a rendered label, and nothing on blank
// paper.
func TestRealModel(t *testing.T) {
	d := realModel(t)
	img, err := textimage.Render([]string{"EXIT 12", "Platform 3"}, textimage.Options{Width: 480, Height: 320})
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := d.Detect(img)
	if err != nil {
		t.Fatal(err)
	}
	// Ink: the dark pixels; covered: those inside a box.
	var ink image.Rectangle
	n, covered := 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, _, _, _ := img.At(x, y).RGBA(); r>>8 < 128 {
				n++
				ink = ink.Union(image.Rect(x, y, x+1, y+1))
				for _, bx := range boxes {
					if (image.Point{x, y}).In(bx.Rect) {
						covered++
						break
					}
				}
			}
		}
	}
	t.Logf("ink %v, boxes %v", ink, boxes)
	if len(boxes) != 2 || float64(covered) < 0.95*float64(n) {
		t.Errorf("%d boxes cover %d of %d ink pixels; want 2 lines covering 95%%", len(boxes), covered, n)
	}
	for _, bx := range boxes {
		if !bx.Rect.In(ink.Inset(-20)) {
			t.Errorf("box %v lies outside the text %v", bx.Rect, ink)
		}
	}
	white := image.NewGray(image.Rect(0, 0, 320, 240))
	for i := range white.Pix {
		white.Pix[i] = 255
	}
	if boxes, err := d.Detect(white); err != nil || len(boxes) != 0 {
		t.Errorf("blank paper: %v, %v", boxes, err)
	}
}

// TestLoadShared: the reading and scene engines load the same file once; a changed file is
// parsed again.
func TestLoadShared(t *testing.T) {
	p := greyNet(t)
	a, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a.run != b.run {
		t.Fatalf("two loads of one file: detectors %p %p, networks %v %v; want two detectors over one network", a, b, a.run, b.run)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.run == a.run {
		t.Fatal("a changed file was not parsed again")
	}
}

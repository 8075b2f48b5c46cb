package ocr

import (
	"image"
	"image/color"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist/imagefile"
	"github.com/rpiq/rpiq/assist/textimage"
	"github.com/rpiq/rpiq/internal/shareddata"
)

var shared *Engine

func engine(t testing.TB) *Engine {
	t.Helper()
	if shared != nil {
		return shared
	}
	e, err := New(Options{})
	if err != nil {
		if os.Getenv("RPIQ_REQUIRE_DEPS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	shared = e
	return e
}

func render(t testing.TB, lines []string, o textimage.Options) image.Image {
	img, err := textimage.Render(lines, o)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestReadsRenderedText(t *testing.T) {
	e := engine(t)
	lines := []string{"EXIT 12 Main Street", "Take 2 tablets daily"}
	img := render(t, lines, textimage.Options{Width: 800, Height: 240})
	start := time.Now()
	res, err := e.Recognize(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("800x240: %v, mean confidence %.0f", time.Since(start), res.MeanConfidence)
	if got := res.Lines(); strings.Join(got, "|") != strings.Join(lines, "|") {
		t.Errorf("lines %q, want %q", got, lines)
	}
	rd := res.Read(60)
	if !rd.Found || rd.Text != strings.Join(lines, "\n") || len(rd.Unsure) != 0 {
		t.Errorf("reading %+v", rd)
	}
	for _, w := range res.Words {
		if w.Box.Empty() || !w.Box.In(img.Bounds()) {
			t.Errorf("word %q has box %v", w.Text, w.Box)
		}
	}
	// Dark text on beige at 640x480, off the origin (a sub-image), as a camera frame would be.
	beige := color.RGBA{230, 215, 180, 255}
	big := render(t, []string{"", "Best before 05/2026"}, textimage.Options{Width: 700, Height: 500, Paper: beige, Ink: color.RGBA{40, 30, 20, 255}, Size: 36})
	sub := big.(*image.RGBA).SubImage(image.Rect(20, 10, 660, 490))
	res, err = e.Recognize(sub)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Read(60).Text; got != "Best before 05/2026" {
		t.Errorf("beige frame read %q", got)
	}
}

func TestNoTextAndNoise(t *testing.T) {
	e := engine(t)
	blank := render(t, nil, textimage.Options{})
	res, err := e.Recognize(blank)
	if err != nil {
		t.Fatal(err)
	}
	if rd := res.Read(60); rd.Found || rd.Text != NoText {
		t.Errorf("blank page read as %+v", rd)
	}
	// Smooth random blobs: no text, though Tesseract may find shapes.
	rng := rand.New(rand.NewSource(1))
	noise := image.NewGray(image.Rect(0, 0, 320, 240))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(100 + rng.Intn(40))
	}
	res, err = e.Recognize(noise)
	if err != nil {
		t.Fatal(err)
	}
	if rd := res.Read(60); rd.Found && len(rd.Text) > 40 {
		t.Errorf("noise read as text: %q", rd.Text)
	}
	if _, err := e.Recognize(image.NewGray(image.Rect(0, 0, 2, 2))); err == nil {
		t.Error("2x2 image accepted")
	}
}

func TestHedging(t *testing.T) {
	res := Result{Words: []Word{
		{Text: "Expires", Confidence: 95, LineStart: true},
		{Text: "O5/2O26", Confidence: 40},
		{Text: "|", Confidence: 10},
		{Text: "Keep", Confidence: 90, LineStart: true},
		{Text: "cold", Confidence: 91},
	}}
	rd := res.Read(60)
	want := "Expires maybe O5/2O26\nKeep cold\nI am not sure of: O5/2O26."
	if rd.Text != want || !rd.Found || len(rd.Unsure) != 1 {
		t.Errorf("got %q, want %q", rd.Text, want)
	}
	bad := Result{Words: []Word{{Text: "a1", Confidence: 50}, {Text: "b2", Confidence: 45, LineStart: true}, {Text: "c3", Confidence: 90}}}
	if rd := bad.Read(60); !strings.HasPrefix(rd.Text, "This is hard to read") {
		t.Errorf("mostly unsure text not flagged: %q", rd.Text)
	}
	if rd := (Result{Words: []Word{{Text: "x", Confidence: 20}}}).Read(60); rd.Found {
		t.Error("low-confidence noise spoken as text")
	}
}

func TestCER(t *testing.T) {
	cases := []struct {
		got, want string
		cer       float64
	}{
		{"abc", "abc", 0},
		{"a  b\nc", "a b c", 0},
		{"abd", "abc", 1.0 / 3},
		{"", "abcd", 1},
		{"ab", "", 1},
		{"", "", 0},
		{"kitten", "sitting", 3.0 / 7},
	}
	for _, c := range cases {
		if got := CER(c.got, c.want); got < c.cer-1e-9 || got > c.cer+1e-9 {
			t.Errorf("CER(%q,%q) = %v, want %v", c.got, c.want, got, c.cer)
		}
	}
}

// TestSharedPagesCER reads the ground-truth pages of ../shared/data/ocr and reports the
// character error rate (the number in the README). The bounds catch a broken binding (wrong
// order, lost lines), not Tesseract's own quality.
func TestSharedPagesCER(t *testing.T) {
	e := engine(t)
	// The UNLV pages are magazine pages in columns with photographs; their ground truth lists the
	// text zones in an order Tesseract's layout analysis does not follow, so their CER is mostly
	// order and is bounded loosely; word recall bounds the reading itself.
	pages := []struct {
		name      string
		max       float64
		minRecall float64
	}{
		{"phototest", 0.03, 0.97},
		{"eurotext", 0.10, 0.85}, // English data reading German/French/... diacritics
		{"8071_093.3B", 0.90, 0.85},
		{"8087_054.3B", 0.90, 0.85},
	}
	var total, totalChars float64
	for _, p := range pages {
		img, err := imagefile.Load(shareddata.Path(t, "ocr/"+p.name+".tif"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(shareddata.Path(t, "ocr/"+p.name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := e.Recognize(img)
		if err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		cer := CER(res.Text(), string(want))
		n := float64(len([]rune(strings.Join(strings.Fields(string(want)), " "))))
		total += cer * n
		totalChars += n
		recall := WordRecall(res.Text(), string(want))
		t.Logf("CER %-12s %6.2f%%  word recall %5.1f%%  (%d chars, %dx%d, %v, mean conf %.0f)", p.name, 100*cer, 100*recall, int(n), img.Bounds().Dx(), img.Bounds().Dy(), el.Round(time.Millisecond), res.MeanConfidence)
		if cer > p.max || recall < p.minRecall {
			t.Errorf("%s: CER %.3f (max %.2f), word recall %.3f (min %.2f)\n--- got\n%s", p.name, cer, p.max, recall, p.minRecall, res.Text())
		}
	}
	t.Logf("CER all pages %.2f%% (character-weighted)", 100*total/totalChars)
}

func BenchmarkRecognize640x480(b *testing.B) {
	e := engine(b)
	img := render(b, []string{"EXIT 12 Main Street", "Take 2 tablets daily"}, textimage.Options{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Recognize(img); err != nil {
			b.Fatal(err)
		}
	}
}

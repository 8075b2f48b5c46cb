package assist

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/ocr"
	"github.com/rpiq/rpiq/assist/textimage"
	"github.com/rpiq/rpiq/assist/textrec/textrectest"
)

// fakeVLM stands in for the vision-language model at the model boundary (no model can run in
// a test on this machine): it reads a fixed text and counts how often it was asked.
type fakeVLM struct {
	text  string
	asked int
}

func (f *fakeVLM) Name() string { return "vlm" }
func (f *fakeVLM) Answer(ctx context.Context, frame image.Image, q string, emit func(Piece) error) error {
	f.asked++
	return emit(Piece{Text: f.text, Confidence: -1})
}

func ocrEngine(t *testing.T) *OCREngine {
	t.Helper()
	e, err := newOCREngine(config.Default())
	if err != nil {
		if errors.Is(err, ErrNotInstalled) && os.Getenv("RPIQ_REQUIRE_DEPS") != "1" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	return e.(*OCREngine)
}

func answer(t *testing.T, e Engine, img image.Image) []string {
	t.Helper()
	var pieces []string
	if err := e.Answer(context.Background(), img, Read.Question(), func(p Piece) error {
		pieces = append(pieces, p.Text)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return pieces
}

// TestReadLabelHeadingFirst: "read this" on a medicine label says the heading first, then every
// other line once, with no hedge where nothing is in doubt.
func TestReadLabelHeadingFirst(t *testing.T) {
	e := ocrEngine(t)
	img, err := textimage.RenderLines([]textimage.Line{
		{Text: "Take 1 tablet every 4 hours", Size: 24},
		{Text: "IBUPROFEN 200 mg", Size: 56, Font: textimage.Bold},
		{Text: "Lot 44821 Exp 03/2027", Size: 24},
	}, textimage.Options{Width: 720, Height: 260})
	if err != nil {
		t.Fatal(err)
	}
	got := answer(t, e, img)
	want := []string{"IBUPROFEN 200 mg\n", "Take 1 tablet every 4 hours\n", "Lot 44821 Exp 03/2027\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("pieces %q, want %q", got, want)
	}
}

// TestSecondReader: with a vision-language model installed, "read this" asks it only where OCR
// reads nothing or little, and says which reader read what when they disagree.
func TestSecondReader(t *testing.T) {
	e := ocrEngine(t)
	vlm := &fakeVLM{text: "Handwritten: call Anna at six"}
	e.Second = vlm
	label, err := textimage.Render([]string{"Keep refrigerated"}, textimage.Options{Width: 640, Height: 160})
	if err != nil {
		t.Fatal(err)
	}
	if got := answer(t, e, label); strings.Join(got, "") != "Keep refrigerated\n" || vlm.asked != 0 {
		t.Errorf("a clear label: %q, the model asked %d times", got, vlm.asked)
	}
	blank := image.NewGray(image.Rect(0, 0, 320, 240))
	for i := range blank.Pix {
		blank.Pix[i] = 200
	}
	got := strings.Join(answer(t, e, blank), "")
	if vlm.asked != 1 || got != "The text reader found no text. The vision model reads: Handwritten: call Anna at six\n" {
		t.Errorf("nothing read by OCR: %q (asked %d)", got, vlm.asked)
	}
	// OCR reads a little, unsure, and the model reads something else: both are said, by name.
	weak := ocr.Page{Lines: []ocr.Line{{Words: []ocr.Word{{Text: "Cal", Confidence: 41}, {Text: "Anma", Confidence: 38}}}}}
	var pieces []string
	if err := e.withSecond(context.Background(), blank, Read.Question(), weak, "", func(p Piece) error {
		pieces = append(pieces, p.Text)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := "The text reader reads:\nCal Anma\nI am not sure of the words Cal and Anma.\nThe vision model reads it differently: Handwritten: call Anna at six\n"
	if got := strings.Join(pieces, ""); got != want {
		t.Errorf("disagreement: %q, want %q", got, want)
	}
	// When they agree, the OCR reading is said alone.
	vlm.text = "cal anma"
	pieces = nil
	e.withSecond(context.Background(), blank, Read.Question(), weak, "", func(p Piece) error {
		pieces = append(pieces, p.Text)
		return nil
	})
	if got := strings.Join(pieces, ""); strings.Contains(got, "vision model") {
		t.Errorf("agreement: %q", got)
	}
	// The router gives the OCR engine the model when both are configured.
	o := &OCREngine{}
	NewRouterWith(map[Intent]string{Read: "ocr", Describe: "vlm"}, map[string]Engine{"ocr": o, "vlm": vlm})
	if o.Second != vlm {
		t.Error("the router did not give OCR its second reader")
	}
}

// TestTextRecognizerSettings: the text-recognition network from the settings to the spoken
// answer (the tiny network of textrectest, which reads a grey-level code): installed, it reads
// what Tesseract cannot; damaged, only it is off and the file is named; switched off, nothing
// is loaded.
func TestTextRecognizerSettings(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := textrectest.Write(dir); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Models.Dir = dir
	cfg.Models.TextRecognizer, cfg.Models.TextDictionary = "rec.onnx", "keys.txt"
	answer := func(cfg config.Config) (*OCREngine, string) {
		e, err := newOCREngine(cfg)
		if err != nil {
			if errors.Is(err, ErrNotInstalled) && os.Getenv("RPIQ_REQUIRE_DEPS") != "1" {
				t.Skip(err)
			}
			t.Fatal(err)
		}
		oe := e.(*OCREngine)
		t.Cleanup(func() { oe.Close() })
		var said strings.Builder
		if err := oe.Answer(context.Background(), textrectest.Picture("EXIT"), "read this", func(p Piece) error {
			said.WriteString(p.Text)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return oe, said.String()
	}
	oe, said := answer(cfg)
	if oe.TextErr != nil || !strings.HasPrefix(said, "EXIT") {
		t.Errorf("installed: said %q (error %v)", said, oe.TextErr)
	}
	os.WriteFile(filepath.Join(dir, "bad.onnx"), []byte("damaged"), 0o644)
	bad := cfg
	bad.Models.TextRecognizer = "bad.onnx"
	oe, said = answer(bad)
	ps := oe.ModelProblems()
	if oe.TextErr == nil || len(ps) != 1 || ps[0].Field != "models.text_recognizer" || !strings.Contains(ps[0].Msg, filepath.Join(dir, "bad.onnx")) {
		t.Errorf("damaged: error %v, problems %v", oe.TextErr, ps)
	}
	if strings.Contains(said, "EXIT") {
		t.Errorf("damaged: said %q", said)
	}
	off := cfg
	off.Models.TextRecognizer, off.Models.TextDictionary = "", ""
	if oe, said = answer(off); oe.TextErr != nil || strings.Contains(said, "EXIT") {
		t.Errorf("off: said %q (error %v)", said, oe.TextErr)
	}
}

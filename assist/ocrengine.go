package assist

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"strings"
	"unicode"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/ocr"
	"github.com/rpiq/rpiq/assist/textdet"
	"github.com/rpiq/rpiq/assist/textrec"
)

func init() { RegisterEngine("ocr", newOCREngine) }

// OCREngine answers "read this" with the reading pipeline (assist/ocr): the largest confident
// line first, as soon as the first pass has it, then the rest of the page a line at a time, each
// doubtful line followed by one hedge in plain words, then the framing cues ("text runs off the
// right edge; move the camera right"). With a vision-language model installed (Second), it is
// asked about pictures OCR reads nothing or little in, and the answer says which reader read what.
type OCREngine struct {
	OCR           *ocr.Engine
	MinConfidence float64 // 0..100
	// Second is the vision-language model, or nil; NewRouter sets it when one is configured.
	Second Engine
	// TextErr is why the text-recognition network (models.text_recognizer) is off, nil when it
	// is on or switched off in the settings; textFiles are its two files.
	TextErr   error
	textFiles [2]string
}

// tesseractLang maps the configuration's language to Tesseract's data names.
var tesseractLang = map[string]string{
	"en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "pt": "por", "nl": "nld",
	"sv": "swe", "da": "dan", "no": "nor", "fi": "fin", "pl": "pol", "cs": "ces", "ru": "rus",
}

// TesseractLanguage returns the Tesseract data name for a configuration language ("en-us" ->
// "eng").
func TesseractLanguage(lang string) (string, error) {
	base := strings.ToLower(lang)
	if i := strings.IndexByte(base, '-'); i >= 0 {
		base = base[:i]
	}
	if t, ok := tesseractLang[base]; ok {
		return t, nil
	}
	return "", fmt.Errorf("assist: no Tesseract language for %q", lang)
}

func newOCREngine(cfg config.Config) (Engine, error) {
	lang, err := TesseractLanguage(cfg.Language)
	if err != nil {
		return nil, err
	}
	e, err := ocr.New(ocr.Options{Language: lang, Tessdata: cfg.Models.Tessdata})
	if err != nil {
		if errors.Is(err, ocr.ErrNoTesseract) && cfg.Models.Tessdata == "" {
			return nil, fmt.Errorf("%w: %v", ErrNotInstalled, err)
		}
		return nil, err // a configured tessdata folder that does not work: a setting to fix
	}
	oe := &OCREngine{OCR: e, MinConfidence: cfg.Engines.MinConfidence}
	// The text-recognition network: a missing or damaged file switches only it off (Tesseract
	// reads alone); assist check --deep and assist doctor name the file.
	if m := cfg.Models; m.TextRecognizer != "" && m.TextDictionary != "" {
		oe.textFiles = [2]string{m.Path(m.TextRecognizer), m.Path(m.TextDictionary)}
		rec, err := textrec.Load(oe.textFiles[0], oe.textFiles[1])
		if err != nil {
			oe.TextErr = err
		} else {
			e.SetRecognizer(rec)
			// The text-detection network's boxes are read by the recogniser (scene text); a
			// missing or damaged file leaves it out (the scene engine's check names the file).
			if m.TextDetector != "" {
				if det, err := textdet.Load(m.Path(m.TextDetector)); err == nil {
					e.SetDetector(det)
				}
			}
		}
	}
	return oe, nil
}

// ModelProblems implements ModelChecker: the text-recognition network's file that exists but
// does not load (a missing one is the settings check's).
func (e *OCREngine) ModelProblems() []config.Problem {
	if e.TextErr == nil || errors.Is(e.TextErr, fs.ErrNotExist) {
		return nil
	}
	field := "models.text_recognizer"
	if strings.Contains(e.TextErr.Error(), e.textFiles[1]) {
		field = "models.text_dictionary"
	}
	return []config.Problem{{Field: field, Msg: fmt.Sprintf("the text-recognition network is off: %v", e.TextErr)}}
}

// Name implements Engine.
func (e *OCREngine) Name() string { return "ocr" }

// Close frees the Tesseract instance (the router closes the engines a reload replaced). The
// second reader is the router's to close.
func (e *OCREngine) Close() error { return e.OCR.Close() }

// Answer implements Engine; the question is ignored (OCR only reads), except that it is passed
// on to the second reader.
func (e *OCREngine) Answer(ctx context.Context, frame image.Image, question string, emit func(Piece) error) error {
	if frame == nil {
		return errors.New("assist: no picture to read")
	}
	said, first := "", error(nil)
	page, err := e.OCR.Read(ctx, frame, ocr.ReadOptions{MinConfidence: e.MinConfidence, First: func(l ocr.Line) {
		if first = emit(Piece{Text: l.Text() + "\n", Confidence: l.Confidence() / 100}); first == nil {
			said = l.Text()
		}
	}})
	if first != nil {
		return first
	}
	if err != nil {
		return err
	}
	if e.Second != nil && weakPage(page) {
		return e.withSecond(ctx, frame, question, page, said, emit)
	}
	for _, text := range page.SpeechAfter(e.MinConfidence, said) {
		if err := emit(Piece{Text: text, Confidence: page.Confidence()}); err != nil {
			return err
		}
	}
	return nil
}

// weakPage: OCR read nothing, or nothing it is sure of (a sign in a photo, handwriting).
func weakPage(p ocr.Page) bool {
	for _, l := range p.Lines {
		if l.Confidence() >= 75 {
			return false
		}
	}
	return true
}

// withSecond asks the vision-language model to read the picture OCR could not read well, and
// says which reader read what when they disagree.
func (e *OCREngine) withSecond(ctx context.Context, frame image.Image, question string, page ocr.Page, said string, emit func(Piece) error) error {
	var vb strings.Builder
	verr := e.Second.Answer(ctx, frame, question, func(p Piece) error {
		vb.WriteString(p.Text)
		return ctx.Err()
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	vtext := strings.TrimSpace(vb.String())
	if verr != nil || vtext == "" {
		// The second reader failed: OCR's reading stands, as it would without one.
		for _, text := range page.SpeechAfter(e.MinConfidence, said) {
			if err := emit(Piece{Text: text, Confidence: page.Confidence()}); err != nil {
				return err
			}
		}
		return nil
	}
	if !page.Found() {
		return emit(Piece{Text: "The text reader found no text. The vision model reads: " + vtext + "\n", Confidence: -1})
	}
	if sameWords(page.Text(), vtext) {
		for _, text := range page.SpeechAfter(e.MinConfidence, said) {
			if err := emit(Piece{Text: text, Confidence: page.Confidence()}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := emit(Piece{Text: "The text reader reads:\n", Confidence: page.Confidence()}); err != nil {
		return err
	}
	for _, text := range page.SpeechAfter(e.MinConfidence, said) {
		if err := emit(Piece{Text: text, Confidence: page.Confidence()}); err != nil {
			return err
		}
	}
	return emit(Piece{Text: "The vision model reads it differently: " + vtext + "\n", Confidence: -1})
}

// sameWords: most of the OCR reading's words (letters and digits, any case) are in the model's.
func sameWords(ocrText, vlmText string) bool {
	norm := func(s string) []string {
		var out []string
		for _, w := range strings.Fields(strings.ToLower(s)) {
			w = strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
			if w != "" {
				out = append(out, w)
			}
		}
		return out
	}
	have := map[string]int{}
	for _, w := range norm(vlmText) {
		have[w]++
	}
	ws := norm(ocrText)
	found := 0
	for _, w := range ws {
		if have[w] > 0 {
			have[w]--
			found++
		}
	}
	return len(ws) > 0 && found*5 >= len(ws)*4
}

package assist

import (
	"context"
	"errors"
	"fmt"
	"image"
	"strings"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/ocr"
)

func init() { RegisterEngine("ocr", newOCREngine) }

// OCREngine answers "read this" with Tesseract: the text verbatim, a line at a time (so the first
// line is spoken while nothing else is left to wait for), low-confidence words hedged, and "I
// can't find any text" when there is none.
type OCREngine struct {
	OCR           *ocr.Engine
	MinConfidence float64 // 0..100
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
	return &OCREngine{OCR: e, MinConfidence: cfg.Engines.MinConfidence}, nil
}

// Name implements Engine.
func (e *OCREngine) Name() string { return "ocr" }

// Answer implements Engine; the question is ignored (OCR only reads).
func (e *OCREngine) Answer(ctx context.Context, frame image.Image, _ string, emit func(Piece) error) error {
	if frame == nil {
		return errors.New("assist: no picture to read")
	}
	res, err := e.OCR.Recognize(frame)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rd := res.Read(e.MinConfidence)
	for _, line := range strings.SplitAfter(rd.Text, "\n") {
		if line == "" {
			continue
		}
		if err := emit(Piece{Text: line, Confidence: rd.Confidence}); err != nil {
			return err
		}
	}
	return nil
}

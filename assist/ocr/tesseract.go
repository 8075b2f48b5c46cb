// Package ocr reads printed text in a picture with Tesseract (libtesseract, loaded at run time
// with purego, so no cgo), word by word with a confidence for each, in Tesseract's reading order
// (blocks, then paragraphs, lines and words, following its layout analysis of columns).
package ocr

import (
	"errors"
	"fmt"
	"github.com/rpiq/rpiq/assist/textdet"
	"github.com/rpiq/rpiq/assist/textrec"
	"image"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// ErrNoTesseract is wrapped when libtesseract or its English data cannot be loaded.
var ErrNoTesseract = errors.New("Tesseract OCR is not installed (apt-get install tesseract-ocr tesseract-ocr-eng libtesseract5)")

// Page segmentation modes (tesseract/publictypes.h PageSegMode) used here.
const (
	PSMOSDOnly     = 0  // orientation and script detection only
	PSMAuto        = 3  // full layout analysis, no OSD: the tesseract program's default
	PSMSingleBlock = 6  // one uniform block of text
	PSMSingleLine  = 7  // one line
	PSMSparse      = 11 // as much text as possible, in no particular order: scene text
)

// Page iterator levels (tesseract/publictypes.h PageIteratorLevel).
const (
	rilBlock    = 0
	rilPara     = 1
	rilTextline = 2
	rilWord     = 3
)

var (
	libOnce sync.Once
	libErr  error

	tessVersion         func() string
	tessCreate          func() uintptr
	tessInit3           func(h uintptr, datapath *byte, lang *byte) int32
	tessSetImage        func(h uintptr, data *byte, w, hgt, bpp, bpl int32)
	tessSetResolution   func(h uintptr, ppi int32)
	tessRecognize       func(h uintptr, monitor uintptr) int32
	tessMeanConf        func(h uintptr) int32
	tessGetIterator     func(h uintptr) uintptr
	tessClear           func(h uintptr)
	tessEnd             func(h uintptr)
	tessDelete          func(h uintptr)
	tessDeleteText      func(p *byte)
	riGetPageIterator   func(ri uintptr) uintptr
	riGetUTF8Text       func(ri uintptr, level int32) *byte
	riConfidence        func(ri uintptr, level int32) float32
	riNext              func(ri uintptr, level int32) int32
	riDelete            func(ri uintptr)
	piIsAtBeginningOf   func(pi uintptr, level int32) int32
	piBoundingBox       func(pi uintptr, level int32, l, t, r, b *int32) int32
	tessSetPageSegMode  func(h uintptr, mode int32)
	tessSetVariable     func(h uintptr, name, value *byte) int32
	tessGetInitLanguage func(h uintptr) string
)

func libName() []string {
	if p := os.Getenv("RPIQ_TESSERACT_LIB"); p != "" {
		return []string{p}
	}
	return []string{"libtesseract.so.5", "libtesseract.so"}
}

func load() {
	// Tesseract parallelises with OpenMP (with explicit num_threads clauses, so only the thread
	// limit caps it), whose worker threads spin while they wait: on a busy two-core device that
	// makes a page 3-4x slower, so one thread unless the user says otherwise. libgomp reads this
	// once, when it is loaded, hence before Dlopen; a program that links libgomp already (OpenCV
	// does, so cmd/assist) must set it before it starts: see OMPThreadLimitEnv.
	if _, set := os.LookupEnv("OMP_THREAD_LIMIT"); !set {
		os.Setenv("OMP_THREAD_LIMIT", "1")
	}
	var h uintptr
	var err error
	for _, n := range libName() {
		if h, err = purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_GLOBAL); err == nil {
			break
		}
	}
	if err != nil {
		libErr = fmt.Errorf("%w: %v", ErrNoTesseract, err)
		return
	}
	for _, f := range []struct {
		ptr  any
		name string
	}{
		{&tessVersion, "TessVersion"},
		{&tessCreate, "TessBaseAPICreate"},
		{&tessInit3, "TessBaseAPIInit3"},
		{&tessSetImage, "TessBaseAPISetImage"},
		{&tessSetResolution, "TessBaseAPISetSourceResolution"},
		{&tessRecognize, "TessBaseAPIRecognize"},
		{&tessMeanConf, "TessBaseAPIMeanTextConf"},
		{&tessGetIterator, "TessBaseAPIGetIterator"},
		{&tessClear, "TessBaseAPIClear"},
		{&tessEnd, "TessBaseAPIEnd"},
		{&tessDelete, "TessBaseAPIDelete"},
		{&tessDeleteText, "TessDeleteText"},
		{&riGetPageIterator, "TessResultIteratorGetPageIterator"},
		{&riGetUTF8Text, "TessResultIteratorGetUTF8Text"},
		{&riConfidence, "TessResultIteratorConfidence"},
		{&riNext, "TessResultIteratorNext"},
		{&riDelete, "TessResultIteratorDelete"},
		{&piIsAtBeginningOf, "TessPageIteratorIsAtBeginningOf"},
		{&piBoundingBox, "TessPageIteratorBoundingBox"},
		{&tessSetPageSegMode, "TessBaseAPISetPageSegMode"},
		{&tessSetVariable, "TessBaseAPISetVariable"},
		{&tessGetInitLanguage, "TessBaseAPIGetInitLanguagesAsString"},
	} {
		sym, err := purego.Dlsym(h, f.name)
		if err != nil {
			libErr = fmt.Errorf("%w: %s missing: %v", ErrNoTesseract, f.name, err)
			return
		}
		purego.RegisterFunc(f.ptr, sym)
	}
}

// OMPThreadLimitEnv is what a program linking OpenMP must have in its environment at start for
// Tesseract to run on one thread (cmd/assist re-executes itself with it).
const OMPThreadLimitEnv = "OMP_THREAD_LIMIT=1"

// Version is the library's version, or an error when it is not installed.
func Version() (string, error) {
	libOnce.Do(load)
	if libErr != nil {
		return "", libErr
	}
	return tessVersion(), nil
}

// Word is one recognised word.
type Word struct {
	Text       string
	Confidence float64         // 0..100
	Box        image.Rectangle // in the image's pixels
	// Where the word starts a new line, paragraph or block of the layout.
	LineStart, ParaStart, BlockStart bool
}

// Result is what Recognize found.
type Result struct {
	Words          []Word
	MeanConfidence float64 // Tesseract's mean word confidence, 0..100
}

// Lines joins the words into lines of text, in reading order.
func (r Result) Lines() []string {
	var lines []string
	var cur []string
	for i, w := range r.Words {
		if i > 0 && w.LineStart && len(cur) > 0 {
			lines = append(lines, strings.Join(cur, " "))
			cur = nil
		}
		cur = append(cur, w.Text)
	}
	if len(cur) > 0 {
		lines = append(lines, strings.Join(cur, " "))
	}
	return lines
}

// Text is the lines joined by newlines, paragraphs separated by a blank line.
func (r Result) Text() string {
	var b strings.Builder
	for i, w := range r.Words {
		if i > 0 {
			switch {
			case w.ParaStart || w.BlockStart:
				b.WriteString("\n\n")
			case w.LineStart:
				b.WriteString("\n")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString(w.Text)
	}
	return b.String()
}

// Engine is one Tesseract instance. Tesseract is not safe for concurrent use of one handle, so
// calls are serialised; Init takes ~70 ms, so the instance is kept for the daemon's life.
type Engine struct {
	mu     sync.Mutex
	h      uintptr
	lang   string
	closed bool
	net    *textrec.Recognizer // the second reader; nil: none (network.go)
	det    *textdet.Detector   // the text detector whose boxes the network reads; nil: none
}

// Options choose the language data.
type Options struct {
	Language string // Tesseract language code(s), "eng", "eng+deu"; default "eng"
	Tessdata string // folder holding LANG.traineddata; default the system's
}

// New loads Tesseract and the language data.
func New(o Options) (*Engine, error) {
	libOnce.Do(load)
	if libErr != nil {
		return nil, libErr
	}
	if o.Language == "" {
		o.Language = "eng"
	}
	if o.Tessdata != "" {
		if st, err := os.Stat(o.Tessdata); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("ocr: tessdata folder %q does not exist", o.Tessdata)
		}
	}
	h := tessCreate()
	if h == 0 {
		return nil, fmt.Errorf("%w: TessBaseAPICreate failed", ErrNoTesseract)
	}
	var dp *byte
	if o.Tessdata != "" {
		dp = cstr(o.Tessdata)
	}
	lang := cstr(o.Language)
	rc := tessInit3(h, dp, lang)
	runtime.KeepAlive(dp)
	runtime.KeepAlive(lang)
	if rc != 0 {
		tessDelete(h)
		where := "the system's tessdata"
		if o.Tessdata != "" {
			where = o.Tessdata
		}
		return nil, fmt.Errorf("%w: no language data %q in %s (apt-get install tesseract-ocr-%s)", ErrNoTesseract, o.Language, where, debianLang(o.Language))
	}
	// Camera frames carry no resolution. Tesseract then estimates it from the text's height, as
	// the tesseract program does for a PNG without one; a fixed 300 dpi made it take 24 px text for
	// 6-point print and drop such lines. Its notes about the estimate go nowhere.
	tessSetVariable(h, cstr("debug_file"), cstr("/dev/null"))
	// The library's default page segmentation is one uniform block (PSM 6), which drops the lines
	// that do not fit the block (a small line under a large heading); the tesseract program uses
	// full automatic layout analysis (PSM 3), and so do we.
	tessSetPageSegMode(h, PSMAuto)
	e := &Engine{h: h, lang: o.Language}
	runtime.SetFinalizer(e, (*Engine).Close)
	return e, nil
}

// Closed reports whether Close has freed the instance (the reload leak check).
func (e *Engine) Closed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

func debianLang(l string) string {
	if i := strings.IndexByte(l, '+'); i >= 0 {
		l = l[:i]
	}
	return l
}

// cstr returns a NUL-terminated copy of s.
func cstr(s string) *byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return &b[0]
}

// goString copies a C string and frees it with TessDeleteText.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	s := string(unsafe.Slice(p, n))
	tessDeleteText(p)
	return s
}

// Close frees the instance.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		tessEnd(e.h)
		tessDelete(e.h)
	}
	return nil
}

// MaxPixels bounds the images Recognize accepts (a 12-megapixel photo is fine; a corrupt header
// claiming billions of pixels is not).
const MaxPixels = 50_000_000

// Recognize reads the text in img with full layout analysis, as the tesseract program does.
func (e *Engine) Recognize(img image.Image) (Result, error) {
	return e.RecognizeMode(img, PSMAuto)
}

// RecognizeMode reads the text in img with the page segmentation mode psm (PSMAuto, PSMSparse,
// PSMSingleLine, ...).
func (e *Engine) RecognizeMode(img image.Image, psm int) (Result, error) {
	g := toGray(img)
	w, h := g.Rect.Dx(), g.Rect.Dy()
	if w < 3 || h < 3 {
		return Result{}, fmt.Errorf("ocr: the image is %dx%d pixels, too small to read", w, h)
	}
	if w*h > MaxPixels {
		return Result{}, fmt.Errorf("ocr: the image is %dx%d pixels, more than %d", w, h, MaxPixels)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Result{}, errors.New("ocr: engine closed")
	}
	tessSetPageSegMode(e.h, int32(psm))
	tessSetImage(e.h, &g.Pix[0], int32(w), int32(h), 1, int32(g.Stride))
	defer tessClear(e.h)
	if rc := tessRecognize(e.h, 0); rc != 0 {
		runtime.KeepAlive(g)
		return Result{}, fmt.Errorf("ocr: Tesseract could not recognise the image (code %d)", rc)
	}
	runtime.KeepAlive(g)
	res := Result{MeanConfidence: float64(tessMeanConf(e.h))}
	ri := tessGetIterator(e.h)
	if ri == 0 {
		return res, nil // no text at all
	}
	defer riDelete(ri)
	pi := riGetPageIterator(ri)
	for {
		text := strings.TrimSpace(goString(riGetUTF8Text(ri, rilWord)))
		if text != "" {
			var l, t, r, b int32
			piBoundingBox(pi, rilWord, &l, &t, &r, &b)
			res.Words = append(res.Words, Word{
				Text:       text,
				Confidence: float64(riConfidence(ri, rilWord)),
				Box:        image.Rect(int(l), int(t), int(r), int(b)),
				LineStart:  piIsAtBeginningOf(pi, rilTextline) != 0,
				ParaStart:  piIsAtBeginningOf(pi, rilPara) != 0,
				BlockStart: piIsAtBeginningOf(pi, rilBlock) != 0,
			})
		}
		if riNext(ri, rilWord) == 0 {
			break
		}
	}
	return res, nil
}

// toGray converts any image to 8-bit grey, origin at (0, 0).
func toGray(img image.Image) *image.Gray {
	if g, ok := img.(*image.Gray); ok && g.Rect.Min == (image.Point{}) {
		return g
	}
	if f, ok := img.(interface{ Gray() *image.Gray }); ok { // a camera frame knows its own grey
		if g := f.Gray(); g.Rect.Min == (image.Point{}) {
			return g
		}
	}
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	if src, ok := img.(*image.RGBA); ok && src.Rect.Min == (image.Point{}) {
		for y := 0; y < b.Dy(); y++ {
			row := src.Pix[y*src.Stride:]
			out := g.Pix[y*g.Stride:]
			for x := 0; x < b.Dx(); x++ {
				r, gg, bb := row[4*x], row[4*x+1], row[4*x+2]
				out[x] = uint8((299*uint32(r) + 587*uint32(gg) + 114*uint32(bb) + 500) / 1000)
			}
		}
		return g
	}
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r, gg, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			g.Pix[y*g.Stride+x] = uint8((299*r + 587*gg + 114*bb + 500) / 1000 >> 8)
		}
	}
	return g
}

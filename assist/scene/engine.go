package scene

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/textdet"
)

func init() { assist.RegisterEngine("scene", newEngine) }

// Capability is one part of the scene engine and whether it works.
type Capability struct {
	Name    string   // "objects", "faces"
	Files   []string // the model files it needs
	Err     error    // nil: it works
	Answers string   // what it answers, in words
}

// Engine answers "what is in front of me", "what colour is this", "is the light on", "how many
// people" and "is there text here" from small detectors and from the pixels. A detector whose
// model is missing or damaged is switched off and said so; the rest keeps working.
type Engine struct {
	objects   *ObjectDetector   // nil: off
	faces     *FaceDetector     // nil: off
	textdet   *textdet.Detector // nil: off (the model-free check answers "is there text here")
	caps      []Capability
	off       []string    // spoken, one sentence per capability that is off
	offSaid   atomic.Bool // off was said in an answer: once per run (a reload builds a new engine)
	verbosity string
	vlmName   string
	vlm       assist.Engine // set by the router when a vision-language model is installed
	vlmWait   time.Duration
	vlmOff    atomic.Bool // the model could not be loaded and this was said; cleared when it answers
	log       *slog.Logger
}

// Options builds an Engine without a configuration file (tests, benchmarks).
type Options struct {
	Objects, Classes   string // model files; "" switches object recognition off
	Faces, FacesConfig string // "" switches face detection off
	TextDetector       string // the text-detection network; "" switches it off
	Verbosity          string // "brief", "normal" (default) or "detailed"
	VLMWait            time.Duration
	Log                *slog.Logger
}

func newEngine(cfg config.Config) (assist.Engine, error) {
	m := cfg.Models
	e := New(Options{
		Objects: m.Path(m.Objects), Classes: m.Path(m.Classes),
		Faces: m.Path(m.Faces), FacesConfig: m.Path(m.FacesConfig), TextDetector: m.Path(m.TextDetector),
		Verbosity: cfg.Verbosity, VLMWait: time.Duration(cfg.Engines.VLMWait * float64(time.Second)),
	})
	if m.VLM != "" {
		e.vlmName = "vlm"
	}
	return e, nil
}

// New loads the detectors Options names. It never fails: what cannot load is recorded in
// Capabilities and said in answers.
func New(o Options) *Engine {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.VLMWait <= 0 {
		o.VLMWait = 10 * time.Second
	}
	e := &Engine{verbosity: o.Verbosity, vlmWait: o.VLMWait, log: o.Log}
	objCap := Capability{Name: "objects", Files: []string{o.Objects, o.Classes}, Answers: `"what is in front of me", "how many people"`}
	if o.Objects == "" || o.Classes == "" {
		objCap.Err = errors.New("switched off in the settings (models.objects)")
	} else if d, err := OpenObjects(o.Objects, o.Classes); err != nil {
		objCap.Err = err
		e.off = append(e.off, "I can't recognise objects: "+why(err, o.Objects, o.Classes)+".")
		o.Log.Warn("object recognition is off", "err", err)
	} else {
		e.objects = d
	}
	faceCap := Capability{Name: "faces", Files: []string{o.Faces, o.FacesConfig}, Answers: `"how many people", people facing you in "what is in front of me"`}
	if o.Faces == "" || o.FacesConfig == "" {
		faceCap.Err = errors.New("switched off in the settings (models.faces)")
	} else if d, err := OpenFaces(o.Faces, o.FacesConfig); err != nil {
		faceCap.Err = err
		e.off = append(e.off, "I can't detect faces: "+why(err, o.Faces, o.FacesConfig)+".")
		o.Log.Warn("face detection is off", "err", err)
	} else {
		e.faces = d
	}
	// The text-detection network: a missing or damaged file switches only it off, silently in
	// answers (the model-free check answers instead); doctor and check --deep name the file.
	detCap := Capability{Name: "textdet", Files: []string{o.TextDetector}, Answers: `"is there text here" with the text-detection network (without it, a model-free check answers)`}
	if o.TextDetector == "" {
		detCap.Err = errors.New("switched off in the settings (models.text_detector)")
	} else if d, err := textdet.Load(o.TextDetector); err != nil {
		detCap.Err = fmt.Errorf("%w: %w", ErrModel, err)
		o.Log.Warn("the text-detection network is off", "err", err)
	} else {
		e.textdet = d
	}
	e.caps = []Capability{objCap, faceCap, detCap,
		{Name: "colour", Answers: `"what colour is this" (no model)`},
		{Name: "light", Answers: `"is the light on" (no model)`},
		{Name: "text", Answers: `"is there text here" (no model)`},
	}
	// The router closes the engine when a settings reload replaces it (after the answers that
	// use it); the finalizer frees the networks' C memory of an engine a caller drops unclosed.
	runtime.SetFinalizer(e, func(e *Engine) { e.Close() })
	return e
}

// why says in a few words why a model did not load, naming the file by its base name (a path
// is hard to follow by ear; the log has it in full).
func why(err error, files ...string) string {
	for _, f := range files {
		if f != "" && strings.Contains(err.Error(), f) {
			name := filepath.Base(f)
			if errors.Is(err, fs.ErrNotExist) {
				return "the model file " + name + " is missing"
			}
			return "the model file " + name + " is damaged"
		}
	}
	return "its model does not load"
}

// Capabilities reports each part of the engine and whether it works (for assist doctor).
func (e *Engine) Capabilities() []Capability { return e.caps }

// Close frees the detectors.
func (e *Engine) Close() error {
	if e.objects != nil {
		e.objects.Close()
	}
	if e.faces != nil {
		e.faces.Close()
	}
	return nil
}

// fields maps the capabilities' files, in order, to their settings.
var fields = map[string][]string{
	"objects": {"models.objects", "models.classes"},
	"faces":   {"models.faces", "models.faces_config"},
	"textdet": {"models.text_detector"},
}

// ModelProblems implements assist.ModelChecker: each model file that exists but does not load,
// by setting (missing files are the settings check's).
func (e *Engine) ModelProblems() []config.Problem {
	var ps []config.Problem
	for _, c := range e.caps {
		if c.Err == nil || !errors.Is(c.Err, ErrModel) || errors.Is(c.Err, fs.ErrNotExist) {
			continue
		}
		field := fields[c.Name][0]
		for i, f := range c.Files {
			if f != "" && strings.Contains(c.Err.Error(), f) {
				field = fields[c.Name][i]
				break
			}
		}
		ps = append(ps, config.Problem{Field: field, Msg: fmt.Sprintf("%s is off: %v", c.What(), c.Err)})
	}
	return ps
}

// What names the capability in words.
func (c Capability) What() string {
	switch c.Name {
	case "objects":
		return "object recognition"
	case "faces":
		return "face detection"
	case "textdet":
		return "the text-detection network"
	}
	return c.Name
}

// Name implements assist.Engine.
func (e *Engine) Name() string { return "scene" }

// Delegate implements assist.Delegator: "describe" goes to the vision-language model when one
// is configured.
func (e *Engine) Delegate() string { return e.vlmName }

// SetDelegate implements assist.Delegator.
func (e *Engine) SetDelegate(v assist.Engine) { e.vlm = v }

// Look runs the detectors and measures on the picture (what needs no model always runs).
func (e *Engine) Look(ctx context.Context, img image.Image, objects, faces bool) (Findings, error) {
	b := img.Bounds()
	f := Findings{Width: b.Dx(), Height: b.Dy(), img: img, Off: e.offNote()}
	if b.Empty() {
		return f, errors.New("scene: empty picture")
	}
	f.Light = MeasureLight(img)
	f.Colours = CentreColours(img)
	var err error
	if objects && e.objects != nil {
		if f.Objects, err = e.objects.Detect(img); err != nil {
			return f, err
		}
	}
	if err := ctx.Err(); err != nil {
		return f, err
	}
	if faces && e.faces != nil {
		if f.Faces, err = e.faces.Detect(img); err != nil {
			return f, err
		}
	}
	return f, nil
}

// Answer implements assist.Engine.
func (e *Engine) Answer(ctx context.Context, frame image.Image, question string, emit func(assist.Piece) error) error {
	if frame == nil {
		return errors.New("scene: no picture")
	}
	intent := assist.IntentOf(question)
	switch intent {
	case assist.Colour:
		f, err := e.Look(ctx, frame, false, false)
		if err != nil {
			return err
		}
		return emit(assist.Piece{Text: f.ColourSentence(), Confidence: -1})
	case assist.Light:
		f, err := e.Look(ctx, frame, false, false)
		if err != nil {
			return err
		}
		return emit(assist.Piece{Text: f.LightOnSentence(), Confidence: -1})
	case assist.TextHere:
		t, err := e.TextHere(frame)
		if err != nil {
			return err
		}
		return emit(assist.Piece{Text: TextSentence(t), Confidence: -1})
	case assist.People:
		f, err := e.Look(ctx, frame, true, true)
		if err != nil {
			return err
		}
		return e.saidOff(f, emit(assist.Piece{Text: f.PeopleSentence(), Confidence: -1}))
	}
	f, err := e.Look(ctx, frame, true, true)
	if err != nil {
		return err
	}
	if e.vlm != nil {
		return e.askVLM(ctx, frame, question, f, emit)
	}
	return e.saidOff(f, emit(assist.Piece{Text: f.Describe(e.verbosity), Confidence: confidence(f)}))
}

// offNote is the sentences about the capabilities that are off, until an answer has said them:
// the user hears why object recognition is off once per run (and again after a settings reload,
// which builds a new engine), not before every description.
func (e *Engine) offNote() []string {
	if e.offSaid.Load() {
		return nil
	}
	return e.off
}

// saidOff records that an answer with f's sentences about what is off was handed to speech
// (emit's err nil; a barge-in before it leaves them to be said next time).
func (e *Engine) saidOff(f Findings, err error) error {
	if err == nil && len(f.Off) > 0 {
		e.offSaid.Store(true)
	}
	return err
}

// confidence is the lowest score among the things said (-1 when nothing was detected).
func confidence(f Findings) float64 {
	c := -1.0
	for _, d := range append(append([]Detection(nil), f.Objects...), f.Faces...) {
		if c < 0 || d.Score < c {
			c = d.Score
		}
	}
	return c
}

// askVLM hands "describe" to the vision-language model with the detectors' findings in the
// prompt. When the model fails before it says anything, or says nothing within vlmWait, the
// findings are the answer.
func (e *Engine) askVLM(ctx context.Context, frame image.Image, question string, f Findings, emit func(assist.Piece) error) error {
	prompt := question
	if found := f.Describe("normal"); len(f.Objects)+len(f.Faces) > 0 {
		prompt = fmt.Sprintf("%s\nA small object detector found (it may be wrong): %s", question, found)
	}
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pieces := make(chan assist.Piece, 16)
	done := make(chan error, 1)
	go func() {
		defer close(pieces)
		done <- e.vlm.Answer(vctx, frame, prompt, func(p assist.Piece) error {
			select {
			case pieces <- p:
				return nil
			case <-vctx.Done():
				return vctx.Err()
			}
		})
	}()
	fallback := func(reason string, err error) error {
		// Not waiting for the model's goroutine: a model checks ctx only between tokens, and
		// encoding a picture of many tiles takes far longer than vlm_wait. Its sends select on
		// vctx, so it ends on its own once its current step is done.
		cancel()
		var off *assist.OffError
		if errors.As(err, &off) {
			// The model did not load: the router logged why once and tries again only when
			// the settings or the model's files change. The user hears it once (as the
			// detectors' off sentences), not every time they ask.
			if e.vlmOff.Load() {
				return e.saidOff(f, emit(assist.Piece{Text: f.Describe(e.verbosity), Confidence: confidence(f)}))
			}
			f.Off = append(f.Off, vlmOffSentence(off))
			err := emit(assist.Piece{Text: f.Describe(e.verbosity), Confidence: confidence(f)})
			if err == nil {
				e.vlmOff.Store(true)
			}
			return e.saidOff(f, err)
		}
		e.log.Warn("vision-language model: answering from the detectors", "why", reason)
		return e.saidOff(f, emit(assist.Piece{Text: f.Describe(e.verbosity), Confidence: confidence(f)}))
	}
	wait := time.NewTimer(e.vlmWait)
	defer wait.Stop()
	said := false
	for {
		select {
		case p, ok := <-pieces:
			if !ok {
				err := <-done
				if err != nil && !said && ctx.Err() == nil {
					return fallback(err.Error(), err)
				}
				return err
			}
			said = true
			e.vlmOff.Store(false) // it loads now: a later failure is said again
			if err := emit(p); err != nil {
				cancel()
				for range pieces {
				}
				return err
			}
		case <-wait.C:
			if !said {
				return fallback(fmt.Sprintf("no answer within %v", e.vlmWait), nil)
			}
		case <-ctx.Done():
			cancel()
			for range pieces {
			}
			return ctx.Err()
		}
	}
}

// vlmOffSentence says why the vision-language model is not describing, in words: its folder
// by base name (a path is hard to follow by ear; the log has it in full).
func vlmOffSentence(off *assist.OffError) string {
	if errors.Is(off.Err, assist.ErrNotInstalled) {
		return "I can't describe in detail: the vision-language model is missing. Here is what my detectors see."
	}
	return "I can't describe in detail: the vision-language model does not load; the details are in the log. Here is what my detectors see."
}

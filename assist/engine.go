// Package assist is the wearable assistant: it takes a command (a button or a spoken phrase),
// captures a picture, routes the question to an answer engine, and speaks the streamed answer,
// with earcons, barge-in, "repeat", live configuration reloads, and a spoken message for every
// fault (the daemon never stops because one request failed).
//
// The package has no cgo: frames come from a FrameSource and speech goes to a speech.Sink, so
// the camera and sound card adapters (assist/devices) are thin, and the loop runs in tests with
// fakes.
package assist

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/speech"
)

// Piece is a part of a streamed answer.
type Piece struct {
	Text string
	// Confidence of this piece, 0..1; negative when the engine cannot tell.
	Confidence float64
}

// Engine answers a question about a picture, streaming the answer through emit as it is made
// (emit's error, e.g. after barge-in, ends the answer). frame may be nil for engines that do not
// look (a text model).
type Engine interface {
	Name() string
	Answer(ctx context.Context, frame image.Image, question string, emit func(Piece) error) error
}

// Intent is the kind of request.
type Intent int

const (
	Read     Intent = iota + 1 // "read this": the text in the picture, verbatim
	Describe                   // "what is in front of me"
	Ask                        // an open question about the picture
	Colour                     // "what colour is this"
	Light                      // "is the light on"
	People                     // "how many people"
	TextHere                   // "is there text here" (whether to say "read this")
)

func (i Intent) String() string {
	switch i {
	case Read:
		return "read"
	case Describe:
		return "describe"
	case Ask:
		return "ask"
	case Colour:
		return "colour"
	case Light:
		return "light"
	case People:
		return "people"
	case TextHere:
		return "text-here"
	}
	return fmt.Sprintf("Intent(%d)", int(i))
}

// Question is the text handed to the engine for each intent.
func (i Intent) Question() string {
	switch i {
	case Read:
		return "Read the text in this picture, word for word."
	case Describe:
		return "What is in front of me? Describe it briefly, the most important thing first."
	case Colour:
		return "What colour is this?"
	case Light:
		return "Is the light on?"
	case People:
		return "How many people are there?"
	case TextHere:
		return "Is there text here?"
	}
	return ""
}

// EngineFactory builds an engine from the configuration. It returns an error wrapping
// ErrNotInstalled when what the engine needs (a library, a model) is missing.
type EngineFactory func(cfg config.Config) (Engine, error)

// Delegator is implemented by engines that hand some requests to another engine when it is
// installed: the scene engine asks the vision-language model to describe, with its detectors'
// findings in the prompt. The router builds the engine Delegate names and passes it in.
type Delegator interface {
	Delegate() string // the engine's name; "" for none
	SetDelegate(Engine)
}

// ErrNotInstalled marks an engine that cannot run on this machine.
var ErrNotInstalled = errors.New("not installed")

var (
	factoriesMu sync.Mutex
	factories   = map[string]EngineFactory{}
)

// RegisterEngine makes an engine available under a name the configuration uses ("ocr", "vlm").
// This is the registration point for the vision-language model: its package calls
// RegisterEngine("vlm", ...) in init() and cmd/assist imports it.
func RegisterEngine(name string, f EngineFactory) {
	factoriesMu.Lock()
	defer factoriesMu.Unlock()
	if _, dup := factories[name]; dup {
		panic("assist: engine " + name + " registered twice")
	}
	factories[name] = f
}

// RegisteredEngines lists the engine names known to this binary.
func RegisteredEngines() []string {
	factoriesMu.Lock()
	defer factoriesMu.Unlock()
	var names []string
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NoEngineError says, in words to be spoken, that no engine can serve a request.
type NoEngineError struct {
	Intent Intent
	Spoken string
}

func (e *NoEngineError) Error() string { return "assist: " + e.Spoken }

// Router chooses the engine for each intent, following the configuration. Engines are built
// on first use, not at start: "read this" loads no detector and no vision-language model
// (issue 11). A router that a configuration reload replaced is closed (Close): its engines are
// freed once the answers that use it have ended (Acquire/Release).
type Router struct {
	cfg    config.Config
	choice map[Intent]string
	fixed  bool // NewRouterWith: the engines were given (and are the caller's to close)
	log    *slog.Logger

	mu      sync.Mutex // guards slots, users, closing
	slots   map[string]*slot
	users   int             // answers in flight (Acquire .. Release)
	told    map[string]bool // why-not sentences said in full (tell)
	closing bool            // Close was called; the last Release frees the engines

	freed     chan struct{} // closed once Close has freed the engines
	freedOnce sync.Once
}

// slot builds one engine once, however many requests ask for it at the same time.
type slot struct {
	once  sync.Once
	e     Engine
	err   error
	stamp string // the model files as they were when the build began (modelStamp)
}

// NewRouter returns the router for cfg. It builds nothing: each engine is built when a request
// first needs it. An engine that cannot be built is not an error (the daemon must start and say
// what it cannot do); the request is answered with why, and Missing reports it.
func NewRouter(cfg config.Config) *Router {
	d := cfg.Engines.Describe
	return &Router{
		cfg: cfg,
		choice: map[Intent]string{Read: cfg.Engines.Read, Describe: d, Ask: cfg.Engines.Ask,
			Colour: d, Light: d, People: d, TextHere: d},
		slots: map[string]*slot{}, freed: make(chan struct{}),
	}
}

// NewRouterWith uses the given engines (tests, and callers that built them already); it builds
// no other and closes none.
func NewRouterWith(choice map[Intent]string, engines map[string]Engine) *Router {
	linkSecondReader(engines)
	r := &Router{choice: choice, fixed: true, slots: map[string]*slot{}, freed: make(chan struct{})}
	for name, e := range engines {
		s := &slot{e: e}
		s.once.Do(func() {})
		r.slots[name] = s
	}
	return r
}

// SetLog sets where "engine unavailable" is logged when an engine fails to build (default: the
// default logger).
func (r *Router) SetLog(l *slog.Logger) { r.log = l }

// engine returns the engine called name, building it on first use (nil when it cannot be).
func (r *Router) engine(name string) Engine {
	s := r.slot(name)
	if s == nil {
		return nil
	}
	s.once.Do(func() { s.stamp = r.modelStamp(); s.e, s.err = r.build(name) })
	if s.e == nil && s.err != nil && !r.fixed && r.modelStamp() != s.stamp {
		// A model file the settings name changed since the build failed (the caregiver
		// installed or repaired it): try once more. Until then the engine stays off, and
		// its failure is not logged again.
		s = r.renew(name, s)
		s.once.Do(func() { s.stamp = r.modelStamp(); s.e, s.err = r.build(name) })
	}
	return s.e
}

// renew replaces the failed slot old of name by a new one (unless another request did already)
// and returns the slot now in place.
func (r *Router) renew(name string, old *slot) *slot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.slots[name] == old && !r.closing {
		r.slots[name] = &slot{}
	}
	return r.slots[name]
}

// modelStamp describes the model files and folders the settings name (size and time of each,
// and of each file in a model folder), so that a failed engine is tried again when one of them
// changes, and not before.
func (r *Router) modelStamp() string {
	var b strings.Builder
	for _, f := range r.cfg.ModelFiles() {
		st, err := os.Stat(f.Path)
		if err != nil {
			fmt.Fprintf(&b, "%s: -\n", f.Path)
			continue
		}
		fmt.Fprintf(&b, "%s: %d %d\n", f.Path, st.Size(), st.ModTime().UnixNano())
		if !st.IsDir() {
			continue
		}
		ents, _ := os.ReadDir(f.Path)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil {
				fmt.Fprintf(&b, " %s %d %d\n", e.Name(), fi.Size(), fi.ModTime().UnixNano())
			}
		}
	}
	return b.String()
}

func (r *Router) slot(name string) *slot {
	if name == "none" || name == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.slots[name]
	if !ok {
		if r.fixed {
			return nil
		}
		s = &slot{}
		r.slots[name] = s
	}
	return s
}

// build makes the engine called name and wires it to the others, lazily too: a scene engine's
// vision-language model and the OCR engine's second reader are built when first asked.
func (r *Router) build(name string) (Engine, error) {
	factoriesMu.Lock()
	f, ok := factories[name]
	factoriesMu.Unlock()
	if !ok {
		return nil, r.unavailable(name, fmt.Errorf("%w: this build has no %q engine yet", ErrNotInstalled, name))
	}
	e, err := f(r.cfg)
	if err != nil {
		return nil, r.unavailable(name, err)
	}
	if dg, ok := e.(Delegator); ok && dg.Delegate() != "" {
		dg.SetDelegate(lazyEngine{r, dg.Delegate()})
	}
	if o, ok := e.(*OCREngine); ok && o.Second == nil && r.cfg.Models.VLM != "" {
		o.Second = lazyEngine{r, "vlm"}
	}
	return e, nil
}

func (r *Router) unavailable(name string, err error) error {
	r.logger().Warn("engine unavailable", "engine", name, "err", err)
	return err
}

func (r *Router) logger() *slog.Logger {
	if r.log == nil {
		return slog.Default()
	}
	return r.log
}

// lazyEngine is an engine of the router built when it first answers (a delegate).
type lazyEngine struct {
	r    *Router
	name string
}

func (l lazyEngine) Name() string { return l.name }

func (l lazyEngine) Answer(ctx context.Context, frame image.Image, question string, emit func(Piece) error) error {
	e := l.r.engine(l.name)
	if e == nil {
		return &OffError{Engine: l.name, Err: l.r.missingErr(l.name)}
	}
	return e.Answer(ctx, frame, question, emit)
}

// missingErr is why the engine called name could not be built (nil if it was, or was not tried).
func (r *Router) missingErr(name string) error {
	r.mu.Lock()
	s := r.slots[name]
	r.mu.Unlock()
	if s == nil {
		return fmt.Errorf("%w: no %q engine", ErrNotInstalled, name)
	}
	s.once.Do(func() {}) // wait for a build in progress
	return s.err
}

// OffError is what a delegate answers when its engine could not be built (a broken or missing
// model): the engine stays off until the settings are reloaded or a model file they name
// changes, and the router has logged why once. The engine that asked (the scene engine) says it
// once and answers without it, with no warning per request.
type OffError struct {
	Engine string // "vlm"
	Err    error  // why it could not be built
}

func (e *OffError) Error() string { return fmt.Sprintf("%s engine is off: %v", e.Engine, e.Err) }
func (e *OffError) Unwrap() error { return e.Err }

// linkSecondReader: "read this" asks the vision-language model, when one is installed, about
// what OCR reads nothing or little in (signs, handwriting).
func linkSecondReader(engines map[string]Engine) {
	if o, ok := engines["ocr"].(*OCREngine); ok && o.Second == nil {
		if v, ok := engines["vlm"]; ok {
			o.Second = v
		}
	}
}

// buildAll builds every engine the configuration names and their delegates.
func (r *Router) buildAll() {
	for _, name := range r.choice {
		if e := r.engine(name); e != nil {
			if dg, ok := e.(Delegator); ok && dg.Delegate() != "" {
				r.engine(dg.Delegate())
			}
		}
	}
}

// Missing builds every engine the configuration names (assist check --deep, doctor) and reports
// those that could not be built, by name.
func (r *Router) Missing() map[string]error {
	r.buildAll()
	out := map[string]error{}
	r.each(func(name string, s *slot) {
		if s.err != nil {
			out[name] = s.err
		}
	})
	return out
}

// Engines builds every engine the configuration names and returns those that were built.
func (r *Router) Engines() map[string]Engine {
	r.buildAll()
	out := map[string]Engine{}
	r.each(func(name string, s *slot) {
		if s.e != nil {
			out[name] = s.e
		}
	})
	return out
}

// Built returns the engines built so far, without building any (tests, the reload leak check).
func (r *Router) Built() map[string]Engine {
	out := map[string]Engine{}
	r.each(func(name string, s *slot) {
		if s.e != nil {
			out[name] = s.e
		}
	})
	return out
}

// each calls f for every slot whose build has finished.
func (r *Router) each(f func(string, *slot)) {
	r.mu.Lock()
	slots := make(map[string]*slot, len(r.slots))
	for n, s := range r.slots {
		slots[n] = s
	}
	r.mu.Unlock()
	for n, s := range slots {
		s.once.Do(func() {}) // a build in progress: wait for it
		f(n, s)
	}
}

// Warm builds, one after the other, the engines the configuration routes to, so that the
// first request after the daemon starts (or after a settings reload) does not wait for its
// engine to load (issue 11: Tesseract's start made the first "read this" 1.25 s slower). The
// reader comes first (the first press is most often "read this"), then the describing engine
// (the scene detectors) and the one for open questions; the vision-language model only when
// one is configured (models.vlm), and last: it is the slowest to load and the least urgent.
// Each engine is built through the same once as a request's, so a request that arrives while
// its engine warms waits for that build and starts no second one, a request for another engine
// builds its own at once, and an engine that fails logs once and is reported missing exactly as
// after a lazy build. Warm stops early when ctx ends or the router is closed; an engine it is
// building then is closed when the build ends (it holds the router like an answer). The caller
// runs it in its own goroutine: it returns when the last build has ended.
func (r *Router) Warm(ctx context.Context) {
	for _, name := range r.warmOrder() {
		if ctx.Err() != nil || !r.tryAcquire() {
			return
		}
		start := time.Now()
		e := r.engine(name)
		r.Release()
		if e != nil {
			r.logger().Info("engine ready", "engine", name, "warm-up", time.Since(start).Round(time.Millisecond))
		}
	}
}

// warmOrder is the engines Warm builds, in its order.
func (r *Router) warmOrder() []string {
	var names []string
	seen := map[string]bool{"": true, "none": true, "vlm": true}
	for _, intent := range []Intent{Read, Describe, Ask} {
		if n := r.choice[intent]; !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	if r.cfg.Models.VLM != "" {
		names = append(names, "vlm")
	}
	return names
}

// tryAcquire is Acquire unless the router is closed (then it reports false).
func (r *Router) tryAcquire() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.users++
	return true
}

// Acquire marks an answer in flight on this router; Release ends it. A closed router frees its
// engines only when no answer uses them.
func (r *Router) Acquire() {
	r.mu.Lock()
	r.users++
	r.mu.Unlock()
}

// Release ends what Acquire began.
func (r *Router) Release() {
	r.mu.Lock()
	r.users--
	last := r.users == 0 && r.closing
	r.mu.Unlock()
	if last {
		r.closeEngines()
	}
}

// Close frees the engines this router built (a configuration reload replaced it), at once when
// no answer is in flight, else when the last one ends. Engines given to NewRouterWith are the
// caller's and stay open.
func (r *Router) Close() {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return
	}
	r.closing = true
	idle := r.users == 0
	r.mu.Unlock()
	if idle {
		r.closeEngines()
	}
}

func (r *Router) closeEngines() {
	defer r.freedOnce.Do(func() { close(r.freed) })
	if r.fixed {
		return
	}
	r.each(func(name string, s *slot) {
		if c, ok := s.e.(interface{ Close() error }); ok {
			c.Close()
		}
	})
}

// Freed is closed once a closed router has freed its engines (after the last answer using them).
func (r *Router) Freed() <-chan struct{} { return r.freed }

// Route returns the engine for intent, or a *NoEngineError that says plainly why there is none.
// "read this" falls back to the vision-language model when OCR is missing, since it can read too.
func (r *Router) Route(intent Intent) (Engine, error) {
	name := r.choice[intent]
	if e := r.engine(name); e != nil {
		return e, nil
	}
	if intent != Ask && (!r.fixed || r.slot("vlm") != nil) {
		if e := r.engine("vlm"); e != nil {
			return e, nil
		}
	}
	return nil, &NoEngineError{Intent: intent, Spoken: r.tell(intent, r.whyNot(intent, name))}
}

// whatOf is what each intent asks for, in words ("I can't ...").
var whatOf = map[Intent]string{Read: "read text", Describe: "describe what is in front of you", Ask: "answer questions about the picture",
	Colour: "tell colours", Light: "tell the light", People: "count people", TextHere: "look for text"}

// tell is the sentence to say when no engine can answer intent: the whole of why (and what
// to do instead) the first time after start or a settings reload, then only "I can't ..."
// (the user knows why; a long sentence on every press hides that nothing else changed).
// Detailed verbosity says all of it every time.
func (r *Router) tell(intent Intent, why string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.told == nil {
		r.told = map[string]bool{}
	}
	if r.told[why] && r.cfg.Verbosity != "detailed" {
		return fmt.Sprintf("I can't %s.", whatOf[intent])
	}
	r.told[why] = true
	return why
}

func (r *Router) whyNot(intent Intent, name string) string {
	what := whatOf[intent]
	switch {
	case name == "none" || name == "":
		return fmt.Sprintf("I can't %s: it is switched off in the settings.", what)
	case name == "vlm" && r.cfg.Models.VLM != "":
		if err := r.missingErr("vlm"); err != nil && !errors.Is(err, ErrNotInstalled) {
			return fmt.Sprintf("I can't %s: the vision-language model does not load. The details are in the log.", what)
		}
		return fmt.Sprintf("I can't %s: the vision-language model is missing.", what)
	case name == "vlm":
		msg := fmt.Sprintf("I can't %s yet: no vision-language model is installed.", what)
		if intent != Read && r.choice[Read] == "ocr" && r.engine("ocr") != nil {
			msg += " I can read text: say read this."
		}
		return msg
	case name == "scene":
		return fmt.Sprintf("I can't %s: the scene engine does not start. The details are in the log.", what)
	case name == "ocr":
		if err := r.missingErr("ocr"); err != nil && !errors.Is(err, ErrNotInstalled) {
			return fmt.Sprintf("I can't %s: the text reader does not start. The details are in the log.", what)
		}
		return fmt.Sprintf("I can't %s: the text reader, Tesseract, is not installed.", what)
	}
	return fmt.Sprintf("I can't %s: the %s engine is not available.", what, strings.ToUpper(name))
}

// OpenSynthesizer opens the speech engine the configuration names.
func OpenSynthesizer(cfg config.Config) (speech.Synthesizer, error) {
	if cfg.Speech.Engine == "program" {
		p, err := speech.OpenProgram("")
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	e, err := speech.OpenESpeak()
	if err != nil {
		return nil, err // not a nil *ESpeak inside a non-nil interface
	}
	return e, nil
}

// IntentOf classifies a typed or transcribed question.
func IntentOf(question string) Intent {
	q := strings.Trim(strings.ToLower(strings.Join(strings.Fields(question), " ")), " ?.!")
	switch q {
	case "", "read this", "read", "read it", "read that", "what does it say", "what does this say":
		return Read
	case "what is in front of me", "what's in front of me", "describe", "describe this", "describe the scene", "what is this", "what's this":
		return Describe
	case "what colour is this", "what color is this", "what colour is it", "what color is it", "what colour", "what color", "colour", "color":
		return Colour
	case "is the light on", "are the lights on", "is it dark", "is it light", "how bright is it", "light":
		return Light
	case "how many people", "how many people are there", "how many people are here", "is anyone here", "is anybody here", "is there anyone here":
		return People
	case "is there text here", "is there any text", "is there text", "is there any text here", "is there writing here":
		return TextHere
	}
	return Ask
}

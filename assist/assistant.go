package assist

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/trigger"
)

// FrameSource gives the picture to answer about: the camera's sharpest frame of a burst, or a
// still image. An error may implement Spoken() to say in words what went wrong.
type FrameSource interface {
	Capture(ctx context.Context) (image.Image, error)
}

// StageTimer is implemented by frame sources that can tell how the last Capture's time split
// between taking the burst and choosing the frame (for the latency trace).
type StageTimer interface {
	LastStages() (capture, choose time.Duration)
}

// Spoken is implemented by errors that carry a message for the user.
type Spoken interface {
	Spoken() string
}

// SpokenError wraps err with words to say.
type SpokenError struct {
	Say string
	Err error
}

func (e *SpokenError) Error() string {
	if e.Err == nil {
		return e.Say
	}
	return e.Err.Error()
}
func (e *SpokenError) Unwrap() error  { return e.Err }
func (e *SpokenError) Spoken() string { return e.Say }

// Options configures an Assistant. Config, Frames, Synth and Sink are required.
type Options struct {
	Config     config.Config
	ConfigPath string        // watched for edits when set
	Poll       time.Duration // how often the file is checked; default 1 s
	Frames     FrameSource
	Router     *Router // default NewRouter(Config)
	Synth      speech.Synthesizer
	Sink       speech.Sink
	Log        *slog.Logger
	// Results receives one Result per handled command (tests and benchmarks); nil: none.
	Results chan<- Result
	// OnReload is called after a changed configuration took effect (the daemon reopens the
	// camera and the triggers there); nil: nothing.
	OnReload func(old, cfg config.Config)
	// Text, when set, receives the words of every answer as they stream and every spoken fault
	// (`assist ask` prints them on stdout); nil: none.
	Text io.Writer
	// Warm builds the engines the configuration routes to in the background when Run starts
	// and after each reload that replaces them (Router.Warm), so the first request does not
	// wait for its engine to load. The daemon sets it; `assist ask`, which answers one
	// question, does not (it builds only the engine that answers).
	Warm bool
}

// Result is what happened for one command.
type Result struct {
	Event  trigger.Event
	Intent Intent // zero for commands that ask no engine
	Engine string // the engine that answered ("ocr", "vlm"); empty when none did
	Text   string // what was spoken
	Err    error  // the fault, already spoken and logged
	Trace  Trace
}

// Trace times one request, from the trigger to the first sample of speech.
type Trace struct {
	Trigger     time.Time
	Route       time.Duration // choosing the engine; building it when this is its first use
	Capture     time.Duration // taking the burst
	Choose      time.Duration // choosing the sharpest frame
	Engine      time.Duration // capture done -> first piece of the answer (OCR, model)
	Synthesis   time.Duration // first piece -> first sentence's PCM handed to the sink
	AudioStart  time.Duration // the sink's own latency to the earpiece
	FirstSample time.Duration // trigger -> first sample of speech at the earpiece
	Total       time.Duration // trigger -> end of speech
}

func (t Trace) String() string {
	return fmt.Sprintf("route %v, capture %v, frame choice %v, engine %v, first sentence to speech %v, audio start %v: trigger to first audio %v (total %v)",
		r(t.Route), r(t.Capture), r(t.Choose), r(t.Engine), r(t.Synthesis), r(t.AudioStart), r(t.FirstSample), r(t.Total))
}

func r(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }

// Assistant is the daemon's loop.
type Assistant struct {
	frames   FrameSource
	synth    speech.Synthesizer
	sink     speech.Sink
	speaker  *speech.Speaker
	history  *speech.History
	log      *slog.Logger
	results  chan<- Result
	watcher  *config.Watcher
	poll     time.Duration
	onReload func(old, cfg config.Config)
	text     io.Writer
	warm     bool
	warming  sync.WaitGroup // warm-ups in progress (tests wait on it; Run does not)

	mu        sync.Mutex // guards the fields below and the start of speech (see speak)
	cfg       config.Config
	router    *Router
	ownRouter bool            // made here (not Options.Router): closed when replaced or at the end
	runCtx    context.Context // Run's context while it runs (warm-ups after a reload end with it)
	voice     speech.Voice
	jobCancel context.CancelFunc
	jobs      sync.WaitGroup
	// repeatBack is how far back the next "repeat" goes (consecutive repeats walk the history).
	repeatBack int
}

// New builds the assistant; it speaks nothing until Run.
func New(o Options) (*Assistant, error) {
	if o.Frames == nil || o.Synth == nil || o.Sink == nil {
		return nil, errors.New("assist: Frames, Synth and Sink are required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	a := &Assistant{
		frames: o.Frames, synth: o.Synth, sink: o.Sink, log: o.Log, results: o.Results, poll: o.Poll,
		cfg: o.Config, router: o.Router, onReload: o.OnReload, text: o.Text, warm: o.Warm,
		history: speech.NewHistory(o.Config.Speech.History),
	}
	if a.router == nil {
		// Engines are built on first use (a reading request loads no detector); one that
		// cannot be built is logged then.
		a.router = NewRouter(o.Config)
		a.router.SetLog(a.log)
		a.ownRouter = true
	}
	a.voice = VoiceOf(o.Config)
	a.speaker = speech.NewSpeaker(o.Synth, o.Sink, a.voice, o.Config.Speech.Earcons)
	if o.ConfigPath != "" {
		a.watcher = config.NewWatcher(o.ConfigPath, o.Config)
	}
	return a, nil
}

// VoiceOf is the speech voice a configuration asks for.
func VoiceOf(c config.Config) speech.Voice {
	name := c.Speech.Voice
	if name == "" {
		name = strings.ToLower(c.Language)
	}
	return speech.Voice{Name: name, RateWPM: c.Speech.RateWPM, Pitch: c.Speech.Pitch, Volume: c.Speech.Volume}
}

// Speaker is the assistant's voice (for announcements by the caller).
func (a *Assistant) Speaker() *speech.Speaker { return a.speaker }

// Config is the configuration in force.
func (a *Assistant) Config() config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// Run handles events until ctx ends or events is closed, then silences speech, waits for the
// request in progress and returns nil.
func (a *Assistant) Run(ctx context.Context, events <-chan trigger.Event) error {
	var tick <-chan time.Time
	if a.watcher != nil {
		t := time.NewTicker(a.poll)
		defer t.Stop()
		tick = t.C
	}
	defer a.shutdown()
	a.mu.Lock()
	a.runCtx = ctx
	a.warmUp(ctx, a.router, nil) // started under a.mu: a.warming counts it once Run runs
	a.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				a.jobs.Wait() // let the last answer finish
				return nil
			}
			a.Handle(ctx, ev)
		case <-tick:
			a.reload(ctx)
		}
	}
}

// warmUp builds router's engines in the background when Options.Warm is set. It does not wait:
// requests are served meanwhile (Router.Warm says how they share the builds). After a reload
// it first waits until the replaced router (prev, when the assistant owned it) has freed its
// engines, so two copies of a model are never loaded by the warm-up: that is at once unless an
// answer is being spoken, and any new command interrupts that answer.
func (a *Assistant) warmUp(ctx context.Context, router, prev *Router) {
	if !a.warm || ctx == nil {
		return
	}
	a.warming.Add(1)
	go func() {
		defer a.warming.Done()
		if prev != nil {
			select {
			case <-prev.Freed():
			case <-ctx.Done():
				return
			}
		}
		router.Warm(ctx)
	}()
}

func (a *Assistant) shutdown() {
	a.mu.Lock()
	a.runCtx = nil
	if a.jobCancel != nil {
		a.jobCancel()
	}
	a.mu.Unlock()
	a.speaker.Stop()
	a.jobs.Wait()
	a.mu.Lock()
	r, own := a.router, a.ownRouter
	a.mu.Unlock()
	if own {
		r.Close()
	}
}

// Handle starts the work for one event. Every command interrupts the answer in progress.
func (a *Assistant) Handle(ctx context.Context, ev trigger.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	a.log.Info("command", "command", ev.Command.String(), "from", ev.Origin.String(), "phrase", ev.Phrase)
	// Barge-in first: silence now, then cancel the work behind it.
	a.speaker.Stop()
	if ev.Command != trigger.Repeat {
		a.mu.Lock()
		a.repeatBack = 0
		a.mu.Unlock()
	}
	jctx := a.newJob(ctx)
	switch ev.Command {
	case trigger.Stop:
		a.finish(ctx, Result{Event: ev})
		return
	case trigger.ReadThis, trigger.Describe, trigger.Colour, trigger.Light, trigger.People, trigger.TextHere:
		intent := commandIntents[ev.Command]
		a.goJob(func() {
			if res := a.answer(ctx, jctx, ev, intent, intent.Question()); res != nil {
				a.finish(ctx, *res)
			}
		})
	case trigger.Repeat:
		// Saying "repeat" again goes one answer further back.
		a.mu.Lock()
		back := a.repeatBack
		a.repeatBack++
		a.mu.Unlock()
		a.goJob(func() {
			text, ok := a.history.Last(back)
			switch {
			case !ok && back == 0:
				text = "There is nothing to repeat yet."
			case !ok:
				text = "That was the oldest answer I keep."
				a.mu.Lock()
				a.repeatBack = back
				a.mu.Unlock()
			}
			a.say(jctx, ctx, Result{Event: ev}, text)
		})
	case trigger.Faster, trigger.Slower, trigger.Louder, trigger.Quieter:
		a.mu.Lock()
		before := a.voice
		a.voice = a.voice.Adjusted(ev.Command.String())
		v := a.voice
		a.mu.Unlock()
		a.speaker.SetVoice(v)
		msg := map[trigger.Command]string{trigger.Faster: "Faster.", trigger.Slower: "Slower.", trigger.Louder: "Louder.", trigger.Quieter: "Quieter."}[ev.Command]
		if v == before {
			msg = map[trigger.Command]string{trigger.Faster: "This is the fastest.", trigger.Slower: "This is the slowest.", trigger.Louder: "This is the loudest.", trigger.Quieter: "This is the quietest I go."}[ev.Command]
		}
		a.goJob(func() { a.say(jctx, ctx, Result{Event: ev}, msg) })
	default:
		a.log.Warn("ignored unknown command", "command", ev.Command.String())
	}
}

// commandIntents is the request each picture command makes.
var commandIntents = map[trigger.Command]Intent{
	trigger.ReadThis: Read, trigger.Describe: Describe, trigger.Colour: Colour,
	trigger.Light: Light, trigger.People: People, trigger.TextHere: TextHere,
}

// Ask answers one typed question about the picture the frame source gives, synchronously, by
// the same route as a spoken command (capture, route, engine, speech, spoken faults): `assist
// ask` is this with a one-picture source. It interrupts the answer in progress, as any command
// does, and returns when the answer has been spoken (Result.Err set when it failed or was
// interrupted).
func (a *Assistant) Ask(ctx context.Context, question string) Result {
	ev := trigger.Event{Command: trigger.Describe, Origin: trigger.FromText, Time: time.Now(), Phrase: question}
	intent := IntentOf(question)
	for c, i := range commandIntents {
		if i == intent {
			ev.Command = c
		}
	}
	q := intent.Question()
	if intent == Ask {
		q = question
	}
	a.log.Info("question", "question", question, "intent", intent.String())
	a.speaker.Stop()
	jctx := a.newJob(ctx)
	res := a.answer(ctx, jctx, ev, intent, q)
	if res == nil {
		err := jctx.Err()
		if err == nil {
			err = context.Canceled
		}
		return Result{Event: ev, Intent: intent, Err: err}
	}
	return *res
}

// newJob cancels the job in progress and returns the context of the next one.
func (a *Assistant) newJob(ctx context.Context) context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.jobCancel != nil {
		a.jobCancel()
	}
	jctx, cancel := context.WithCancel(ctx)
	a.jobCancel = cancel
	return jctx
}

func (a *Assistant) goJob(f func()) {
	a.jobs.Add(1)
	go func() {
		defer a.jobs.Done()
		f()
	}()
}

// begin starts speech for the job jctx, unless a newer command cancelled it: the check and the
// start happen under a.mu, which newJob also takes, so an old job never talks over a new one.
func (a *Assistant) begin(jctx context.Context) *speech.Utterance {
	a.mu.Lock()
	defer a.mu.Unlock()
	if jctx.Err() != nil {
		return nil
	}
	return a.speaker.Begin(jctx)
}

func (a *Assistant) startWorking(jctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if jctx.Err() == nil {
		a.speaker.StartWorking(jctx)
	}
}

// say speaks text as the result of a command.
func (a *Assistant) say(jctx, ctx context.Context, res Result, text string) {
	start := time.Now()
	if u := a.begin(jctx); u != nil {
		u.Write(text)
		if err := u.Close(); err != nil {
			a.log.Error("speech failed", "err", err)
			res.Err = err
		}
	}
	res.Text = text
	res.Trace.Total = time.Since(start)
	a.finish(ctx, res)
}

func (a *Assistant) finish(ctx context.Context, res Result) {
	if a.results == nil {
		return
	}
	select {
	case a.results <- res:
	case <-ctx.Done():
	}
}

// answer captures a picture, asks the engine question and speaks the streamed answer. It returns
// nil when a newer command interrupted it (nothing to report).
func (a *Assistant) answer(ctx, jctx context.Context, ev trigger.Event, intent Intent, question string) *Result {
	res := Result{Event: ev, Intent: intent, Trace: Trace{Trigger: ev.Time}}
	// The listening tone plays while the camera works; then the tick until the answer starts.
	// Speech waits for the tone, so a late tick can never start after the answer.
	earcon := make(chan struct{})
	go func() {
		defer close(earcon)
		if err := a.speaker.Earcon(jctx, speech.Listening); err != nil {
			a.log.Warn("earcon failed", "err", err)
		}
		a.startWorking(jctx)
	}()
	defer func() { <-earcon }()
	fail := func(err error) *Result {
		<-earcon
		if !a.fail(jctx, &res, err) {
			return nil
		}
		return &res
	}
	// The router is marked in use under a.mu, so a reload that replaces it (Apply) closes its
	// engines only after this answer.
	a.mu.Lock()
	router, cfg, frames := a.router, a.cfg, a.frames
	router.Acquire()
	a.mu.Unlock()
	defer router.Release()

	routeStart := time.Now()
	engine, err := router.Route(intent)
	res.Trace.Route = time.Since(routeStart)
	if err != nil {
		return fail(err)
	}
	res.Engine = engine.Name()
	capStart := time.Now()
	frame, err := frames.Capture(jctx)
	capDone := time.Now()
	res.Trace.Capture = capDone.Sub(capStart)
	if st, ok := frames.(StageTimer); ok {
		res.Trace.Capture, res.Trace.Choose = st.LastStages()
	}
	if err != nil {
		return fail(err)
	}
	if cfg.Privacy.DebugCapture {
		a.debugCapture(cfg.Privacy.DebugDir, frame)
	}

	<-earcon
	u := a.begin(jctx)
	if u == nil {
		return nil // interrupted
	}
	var text strings.Builder
	var firstPiece time.Time
	minConf := 2.0
	err = engine.Answer(jctx, frame, question, func(p Piece) error {
		if firstPiece.IsZero() {
			firstPiece = time.Now()
		}
		if p.Confidence >= 0 && p.Confidence < minConf {
			minConf = p.Confidence
		}
		text.WriteString(p.Text)
		a.transcribe(p.Text)
		u.Write(p.Text)
		return jctx.Err()
	})
	if t := text.String(); t != "" && !strings.HasSuffix(t, "\n") {
		a.transcribe("\n")
	}
	if err != nil {
		u.Cancel()
		u.Close()
		if jctx.Err() != nil {
			return nil // interrupted by a newer command
		}
		return fail(fmt.Errorf("%s engine: %w", engine.Name(), err))
	}
	if text.Len() == 0 {
		const none = "I have no answer for that picture."
		a.transcribe(none + "\n")
		u.Write(none)
	}
	if err := u.Close(); err != nil {
		a.log.Error("speech failed", "err", err)
		res.Err = err
	}
	res.Text = strings.TrimSpace(text.String())
	if jctx.Err() == nil {
		a.history.Add(res.Text)
	}
	if !firstPiece.IsZero() {
		res.Trace.Engine = firstPiece.Sub(capDone)
		if fa := u.FirstAudio(); !fa.IsZero() {
			res.Trace.Synthesis = fa.Sub(firstPiece)
			if l, ok := a.sink.(interface{ Latency() time.Duration }); ok {
				res.Trace.AudioStart = l.Latency()
			}
			res.Trace.FirstSample = fa.Sub(ev.Time) + res.Trace.AudioStart
		}
	}
	res.Trace.Total = time.Since(ev.Time)
	a.log.Info("answered", "intent", intent.String(), "engine", engine.Name(), "confidence", minConf, "trace", res.Trace.String())
	return &res
}

// transcribe writes answer text to Options.Text.
func (a *Assistant) transcribe(s string) {
	if a.text != nil {
		io.WriteString(a.text, s)
	}
}

// fail logs the fault and says it: the error tone, then the words. It reports false when a newer
// command had already interrupted the job (nothing is said).
func (a *Assistant) fail(jctx context.Context, res *Result, err error) bool {
	res.Err = err
	if jctx.Err() != nil {
		return false
	}
	msg := SpokenMessage(err)
	a.transcribe(msg + "\n")
	a.log.Error("request failed", "intent", res.Intent.String(), "err", err, "said", msg)
	a.mu.Lock()
	if jctx.Err() == nil {
		a.speaker.Stop() // the tick
	}
	a.mu.Unlock()
	if err := a.speaker.Earcon(jctx, speech.Error); err != nil {
		a.log.Warn("earcon failed", "err", err)
	}
	if u := a.begin(jctx); u != nil {
		u.Write(msg)
		if serr := u.Close(); serr != nil {
			a.log.Error("speech failed", "err", serr)
		}
	}
	res.Text = msg
	return true
}

// SpokenMessage is what the user hears for err.
func SpokenMessage(err error) string {
	var ne *NoEngineError
	if errors.As(err, &ne) {
		return ne.Spoken
	}
	var sp Spoken
	if errors.As(err, &sp) {
		return sp.Spoken()
	}
	return "Sorry, that did not work. The details are in the log."
}

// debugCapture stores the frame (only when privacy.debug_capture is on), atomically.
func (a *Assistant) debugCapture(dir string, frame image.Image) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		a.log.Warn("debug capture", "err", err)
		return
	}
	name := filepath.Join(dir, time.Now().UTC().Format("20060102T150405.000Z")+".png")
	tmp, err := os.CreateTemp(dir, ".capture-*")
	if err == nil {
		err = png.Encode(tmp, frame)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), name)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		a.log.Warn("debug capture", "err", err)
		return
	}
	a.log.Info("debug capture saved", "file", name)
}

// reload checks the configuration file; a good edit takes effect, a broken one is announced once
// and the last good configuration stays.
func (a *Assistant) reload(ctx context.Context) {
	cfg, changed, err := a.watcher.Poll()
	if err != nil {
		a.log.Error("configuration not reloaded; keeping the last good one", "err", err)
		a.announce(ctx, "The settings file has a mistake. I am keeping the previous settings. Run assist check to see it.")
		return
	}
	if !changed {
		return
	}
	old := a.Config()
	a.Apply(cfg)
	if a.onReload != nil {
		a.onReload(old, cfg)
	}
	a.log.Info("configuration reloaded")
	a.announce(ctx, "Settings updated.")
}

// Announce speaks a message (a greeting, a warning) without holding anything up: any command
// interrupts it, and it never starts over an answer. It is skipped while an answer is spoken.
func (a *Assistant) Announce(ctx context.Context, msg string) { a.announce(ctx, msg) }

// announce speaks a message unless an answer is being spoken (it must not interrupt one).
func (a *Assistant) announce(ctx context.Context, msg string) {
	if a.speaker.Speaking() {
		a.log.Info("announcement skipped while speaking", "msg", msg)
		return
	}
	jctx := a.newJob(ctx)
	a.goJob(func() { a.say(jctx, ctx, Result{}, msg) })
}

// SetFrames replaces the picture source (a new camera setting); the next request uses it.
func (a *Assistant) SetFrames(f FrameSource) {
	a.mu.Lock()
	a.frames = f
	a.mu.Unlock()
}

// Apply puts a new configuration in force.
func (a *Assistant) Apply(cfg config.Config) {
	a.mu.Lock()
	old := a.cfg
	a.cfg = cfg
	if !reflect.DeepEqual(old.Speech, cfg.Speech) || old.Language != cfg.Language {
		a.voice = VoiceOf(cfg)
	}
	v := a.voice
	rebuild := !reflect.DeepEqual(old.Engines, cfg.Engines) || !reflect.DeepEqual(old.Models, cfg.Models) || old.Language != cfg.Language || old.Verbosity != cfg.Verbosity
	a.mu.Unlock()
	a.speaker.SetVoice(v)
	a.speaker.SetEarcons(cfg.Speech.Earcons)
	a.history.Resize(cfg.Speech.History)
	if rebuild {
		r := NewRouter(cfg) // builds nothing yet
		r.SetLog(a.log)
		a.mu.Lock()
		old, own := a.router, a.ownRouter
		a.router, a.ownRouter = r, true
		ctx := a.runCtx
		a.mu.Unlock()
		if own {
			old.Close() // its engines are freed when the answers using them end
		} else {
			old = nil // the caller's: not closed here, nothing to wait for
		}
		a.warmUp(ctx, r, old)
	}
}

package assist

import (
	"context"
	"errors"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/textimage"
	"github.com/rpiq/rpiq/assist/trigger"
)

// textSynth records what it is asked to say and makes 1 ms of sound per character, at once.
type textSynth struct {
	mu    sync.Mutex
	texts []string
}

func (s *textSynth) SampleRate() int { return 16000 }
func (s *textSynth) Synthesize(ctx context.Context, text string, v speech.Voice, chunk func([]int16) bool) error {
	if err := v.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.texts = append(s.texts, text)
	s.mu.Unlock()
	buf := make([]int16, 16*len(text))
	for i := range buf {
		buf[i] = 3000
	}
	chunk(buf)
	return ctx.Err()
}

func (s *textSynth) said() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.texts, " | ")
}

func (s *textSynth) reset() {
	s.mu.Lock()
	s.texts = nil
	s.mu.Unlock()
}

// stillSource returns one picture, or an error.
type stillSource struct {
	img image.Image
	err error
}

func (s *stillSource) Capture(ctx context.Context) (image.Image, error) { return s.img, s.err }

// lineEngine answers with fixed lines.
type lineEngine struct {
	name  string
	lines []string
	err   error
	delay time.Duration
}

func (e *lineEngine) Name() string { return e.name }
func (e *lineEngine) Answer(ctx context.Context, frame image.Image, q string, emit func(Piece) error) error {
	if e.delay > 0 {
		select {
		case <-time.After(e.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if e.err != nil {
		return e.err
	}
	for _, l := range e.lines {
		if err := emit(Piece{Text: l, Confidence: 0.9}); err != nil {
			return err
		}
	}
	return nil
}

type rig struct {
	a       *Assistant
	synth   *textSynth
	sink    *speech.Recorder
	events  chan trigger.Event
	results chan Result
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newRig(t testing.TB, o Options) *rig {
	t.Helper()
	if o.Config.Speech.RateWPM == 0 {
		o.Config = config.Default()
	}
	synth := &textSynth{}
	sink := &speech.Recorder{}
	if o.Synth == nil {
		o.Synth = synth
	}
	if o.Sink == nil {
		o.Sink = sink
	}
	res := make(chan Result, 16)
	o.Results = res
	if o.Log == nil {
		o.Log = quietLog()
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rg := &rig{a: a, synth: synth, sink: sink, events: make(chan trigger.Event), results: res, cancel: cancel, done: make(chan error, 1)}
	go func() { rg.done <- a.Run(ctx, rg.events) }()
	t.Cleanup(func() { rg.stop(t) })
	return rg
}

func (rg *rig) stop(t testing.TB) {
	rg.once.Do(func() {
		rg.cancel()
		select {
		case err := <-rg.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop")
		}
	})
}

func (rg *rig) send(c trigger.Command) {
	rg.events <- trigger.Event{Command: c, Origin: trigger.FromKey}
}

func (rg *rig) result(t testing.TB) Result {
	t.Helper()
	select {
	case r := <-rg.results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no result")
	}
	return Result{}
}

func router(engines ...Engine) *Router {
	m := map[string]Engine{}
	for _, e := range engines {
		m[e.Name()] = e
	}
	return NewRouterWith(map[Intent]string{Read: "ocr", Describe: "vlm", Ask: "vlm"}, m)
}

func TestReadRepeatAndAdjust(t *testing.T) {
	rg := newRig(t, Options{
		Frames: &stillSource{img: image.NewGray(image.Rect(0, 0, 64, 64))},
		Router: router(&lineEngine{name: "ocr", lines: []string{"EXIT 12\n", "Main Street\n"}}),
	})
	rg.send(trigger.ReadThis)
	r := rg.result(t)
	if r.Err != nil || r.Text != "EXIT 12\nMain Street" || r.Intent != Read {
		t.Fatalf("read: %+v", r)
	}
	if got := rg.synth.said(); got != "EXIT 12 | Main Street" {
		t.Errorf("said %q", got)
	}
	if r.Trace.FirstSample <= 0 || r.Trace.FirstSample > r.Trace.Total {
		t.Errorf("trace %v", r.Trace)
	}
	rg.synth.reset()
	rg.send(trigger.Repeat)
	if r := rg.result(t); r.Text != "EXIT 12\nMain Street" || rg.synth.said() != "EXIT 12 | Main Street" {
		t.Errorf("repeat: %+v said %q", r, rg.synth.said())
	}
	// A second answer; then "repeat" twice walks back through the history.
	rg.a.mu.Lock()
	rg.a.router = router(&lineEngine{name: "ocr", lines: []string{"Second answer."}})
	rg.a.mu.Unlock()
	rg.send(trigger.ReadThis)
	rg.result(t)
	for i, want := range []string{"Second answer.", "EXIT 12\nMain Street", "That was the oldest answer I keep.", "That was the oldest answer I keep."} {
		rg.send(trigger.Repeat)
		if r := rg.result(t); r.Text != want {
			t.Errorf("repeat %d: %q, want %q", i+1, r.Text, want)
		}
	}
	rg.send(trigger.Faster)
	rg.result(t)
	rg.send(trigger.Repeat)
	if r := rg.result(t); r.Text != "Second answer." {
		t.Errorf("repeat after another command: %q", r.Text)
	}
	rg.send(trigger.Faster)
	rg.result(t)
	if v := rg.a.speaker.Voice(); v.RateWPM != 225 {
		t.Errorf("faster: rate %d", v.RateWPM)
	}
	for i := 0; i < 11; i++ {
		rg.send(trigger.Faster)
		rg.result(t)
	}
	rg.synth.reset()
	rg.send(trigger.Faster)
	if r := rg.result(t); r.Text != "This is the fastest." {
		t.Errorf("at the limit said %q", r.Text)
	}
}

func TestNothingToRepeatAndNoEngines(t *testing.T) {
	rg := newRig(t, Options{
		Frames: &stillSource{img: image.NewGray(image.Rect(0, 0, 64, 64))},
		Router: router(&lineEngine{name: "ocr", lines: []string{"x"}}),
	})
	rg.send(trigger.Repeat)
	if r := rg.result(t); r.Text != "There is nothing to repeat yet." {
		t.Errorf("repeat with no history: %q", r.Text)
	}
	rg.send(trigger.Describe)
	r := rg.result(t)
	var ne *NoEngineError
	if !errors.As(r.Err, &ne) || !strings.Contains(r.Text, "no vision-language model is installed") || !strings.Contains(r.Text, "say read this") {
		t.Errorf("describe without a VLM: %+v", r)
	}
	if !strings.Contains(rg.synth.said(), "no vision-language model") {
		t.Errorf("not spoken: %q", rg.synth.said())
	}
}

func TestRouter(t *testing.T) {
	vlm := &lineEngine{name: "vlm"}
	ocrE := &lineEngine{name: "ocr"}
	if e, err := router(vlm).Route(Read); err != nil || e != vlm {
		t.Errorf("read falls back to the VLM: %v %v", e, err)
	}
	if e, err := router(ocrE, vlm).Route(Describe); err != nil || e != vlm {
		t.Errorf("describe: %v %v", e, err)
	}
	_, err := router().Route(Read)
	if err == nil || !strings.Contains(SpokenMessage(err), "Tesseract, is not installed") {
		t.Errorf("read with nothing: %v", err)
	}
	off := NewRouterWith(map[Intent]string{Read: "none"}, nil)
	if _, err := off.Route(Read); err == nil || !strings.Contains(SpokenMessage(err), "switched off") {
		t.Errorf("switched off: %v", err)
	}
	// The configuration's router: "vlm" is not built into this binary yet; it is reported missing.
	cfg := config.Default()
	cfg.Engines.Read = "none"
	r := NewRouter(cfg)
	if _, ok := r.Missing()["vlm"]; !ok || !errors.Is(r.Missing()["vlm"], ErrNotInstalled) {
		t.Errorf("missing: %v", r.Missing())
	}
}

func TestFaultsAreSpokenAndTheLoopContinues(t *testing.T) {
	src := &stillSource{}
	eng := &lineEngine{name: "ocr", lines: []string{"Hello\n"}}
	rg := newRig(t, Options{Frames: src, Router: router(eng)})
	cases := []struct {
		name  string
		setup func()
		say   string
	}{
		{"unplugged camera", func() {
			src.err = &SpokenError{Say: "The camera is not connected.", Err: errors.New("camera: /dev/video0: unavailable")}
		}, "The camera is not connected."},
		{"corrupt image", func() {
			src.err = &SpokenError{Say: "The picture file cannot be read.", Err: errors.New("image x.png: bad image")}
		}, "The picture file cannot be read."},
		{"engine failure", func() { src.err, src.img, eng.err = nil, image.NewGray(image.Rect(0, 0, 8, 8)), errors.New("boom") }, "Sorry, that did not work."},
		{"recovered", func() { eng.err = nil }, "Hello"},
	}
	for _, c := range cases {
		c.setup()
		rg.synth.reset()
		rg.send(trigger.ReadThis)
		r := rg.result(t)
		if !strings.Contains(rg.synth.said(), c.say) {
			t.Errorf("%s: said %q, want %q (err %v)", c.name, rg.synth.said(), c.say, r.Err)
		}
		if (r.Err != nil) != (c.name != "recovered") {
			t.Errorf("%s: err %v", c.name, r.Err)
		}
	}
}

// failingSink is a missing sound card: every Play fails.
type failingSink struct{ n atomic.Int32 }

func (f *failingSink) Play(ctx context.Context, p speech.PCM) error {
	f.n.Add(1)
	return errors.New("audio: no sound card")
}

func TestMissingSoundCardIsLoggedAndTheLoopContinues(t *testing.T) {
	sink := &failingSink{}
	var logBuf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logBuf.Write(p)
	}), nil))
	rg := newRig(t, Options{
		Frames: &stillSource{img: image.NewGray(image.Rect(0, 0, 8, 8))},
		Router: router(&lineEngine{name: "ocr", lines: []string{"Hi."}}),
		Sink:   sink, Log: log,
	})
	for i := 0; i < 2; i++ {
		rg.send(trigger.ReadThis)
		r := rg.result(t)
		if r.Err == nil || r.Text != "Hi." {
			t.Errorf("try %d: %+v", i, r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logBuf.String(), "no sound card") {
		t.Errorf("not logged: %s", logBuf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestBargeInSilencesWithin100ms(t *testing.T) {
	sink := &speech.Recorder{Paced: true}
	long := strings.Repeat("This is a long answer that keeps going. ", 20)
	rg := newRig(t, Options{
		Frames: &stillSource{img: image.NewGray(image.Rect(0, 0, 8, 8))},
		Router: router(&lineEngine{name: "ocr", lines: []string{long}}),
		Sink:   sink,
	})
	rg.send(trigger.ReadThis)
	deadline := time.Now().Add(3 * time.Second)
	for !rg.a.speaker.Speaking() || len(sink.PCM().Samples) < 8000 {
		if time.Now().After(deadline) {
			t.Fatal("never started speaking")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop := time.Now()
	rg.send(trigger.Stop)
	time.Sleep(150 * time.Millisecond)
	if gap := sink.LastSample().Sub(stop); gap > 100*time.Millisecond {
		t.Errorf("speech went on %v after stop; goal < 100 ms", gap)
	} else {
		t.Logf("barge-in: last sample %v after the stop command", gap)
	}
	var results []Result
	for len(results) < 2 {
		results = append(results, rg.result(t))
	}
}

func TestConfigReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "assist.toml")
	write := func(s string) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Rename(tmp, path)
	}
	write("[speech]\nrate_wpm = 200\n")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rg := newRig(t, Options{
		Config: cfg, ConfigPath: path, Poll: 20 * time.Millisecond,
		Frames: &stillSource{img: image.NewGray(image.Rect(0, 0, 8, 8))},
		Router: router(&lineEngine{name: "ocr", lines: []string{"x"}}),
	})
	write("[speech]\nrate_wpm = 5000\n")
	r := rg.result(t)
	if !strings.Contains(r.Text, "settings file has a mistake") {
		t.Errorf("broken edit: %q", r.Text)
	}
	select {
	case r := <-rg.results:
		t.Errorf("announced twice: %q", r.Text)
	case <-time.After(200 * time.Millisecond):
	}
	if got := rg.a.Config().Speech.RateWPM; got != 200 {
		t.Errorf("rate %d after a broken edit", got)
	}
	write("[speech]\nrate_wpm = 300\n")
	if r := rg.result(t); r.Text != "Settings updated." {
		t.Errorf("good edit: %q", r.Text)
	}
	if got := rg.a.speaker.Voice().RateWPM; got != 300 {
		t.Errorf("rate %d after a good edit", got)
	}
}

func TestDebugCaptureOnlyWhenAsked(t *testing.T) {
	dir := t.TempDir()
	for _, on := range []bool{false, true} {
		cfg := config.Default()
		cfg.Privacy.DebugCapture = on
		cfg.Privacy.DebugDir = filepath.Join(dir, "frames")
		rg := newRig(t, Options{
			Config: cfg,
			Frames: &stillSource{img: image.NewGray(image.Rect(0, 0, 8, 8))},
			Router: router(&lineEngine{name: "ocr", lines: []string{"x"}}),
		})
		rg.send(trigger.ReadThis)
		rg.result(t)
		rg.stop(t)
		files, _ := filepath.Glob(filepath.Join(dir, "frames", "*.png"))
		if on != (len(files) == 1) {
			t.Errorf("debug_capture=%v: %d files stored", on, len(files))
		}
	}
}

// TestSoak runs 200 triggers with faults injected and checks the loop keeps answering and leaks
// neither goroutines nor memory.
func TestSoak(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	var n atomic.Int32
	src := sourceFunc(func(ctx context.Context) (image.Image, error) {
		switch k := n.Add(1); {
		case k%5 == 0:
			return nil, &SpokenError{Say: "The camera is not connected.", Err: errors.New("unplugged")}
		case k%7 == 0:
			return nil, &SpokenError{Say: "The picture file cannot be read.", Err: errors.New("corrupt")}
		}
		return img, nil
	})
	eng := &flakyEngine{}
	sink := &flakySink{}
	runtime.GC()
	baseG := runtime.NumGoroutine()
	rg := newRig(t, Options{Frames: src, Router: router(eng), Sink: sink})
	var before runtime.MemStats
	answered, faults := 0, 0
	for i := 0; i < 200; i++ {
		cmd := trigger.ReadThis
		if i%10 == 9 {
			cmd = trigger.Repeat
		}
		rg.send(cmd)
		r := rg.result(t)
		if r.Err != nil {
			faults++
			if r.Text == "" {
				t.Fatalf("trigger %d: fault without a message: %v", i, r.Err)
			}
		} else {
			answered++
		}
		if i == 49 {
			runtime.GC()
			runtime.ReadMemStats(&before)
		}
	}
	// The daemon still answers after the soak.
	eng.off.Store(true)
	sink.off.Store(true)
	n.Store(1001) // the next capture, 1002, is not a multiple of 5 or 7
	rg.send(trigger.ReadThis)
	if r := rg.result(t); r.Err != nil || !strings.HasPrefix(r.Text, "Line") {
		t.Errorf("after the soak: %+v", r)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	rg.stop(t)
	time.Sleep(50 * time.Millisecond)
	if g := runtime.NumGoroutine(); g > baseG+2 {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after\n%s", baseG, g, buf[:runtime.Stack(buf, true)])
	}
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if growth > 4<<20 {
		t.Errorf("heap grew by %d bytes over 150 triggers", growth)
	}
	t.Logf("soak: %d answered, %d faults spoken; heap %+d bytes after warm-up; goroutines %d -> %d", answered, faults, growth, baseG, runtime.NumGoroutine())
	if answered < 100 || faults < 40 {
		t.Errorf("answered %d, faults %d: the injection did not work as planned", answered, faults)
	}
}

type sourceFunc func(ctx context.Context) (image.Image, error)

func (f sourceFunc) Capture(ctx context.Context) (image.Image, error) { return f(ctx) }

// flakyEngine fails every 11th call (unless off).
type flakyEngine struct {
	n   atomic.Int32
	off atomic.Bool
}

func (e *flakyEngine) Name() string { return "ocr" }
func (e *flakyEngine) Answer(ctx context.Context, frame image.Image, q string, emit func(Piece) error) error {
	if k := e.n.Add(1); k%11 == 0 && !e.off.Load() {
		return errors.New("injected engine failure")
	}
	for _, l := range []string{"Line one.\n", "Line two.\n"} {
		if err := emit(Piece{Text: l, Confidence: 0.9}); err != nil {
			return err
		}
	}
	return nil
}

// flakySink fails every 13th play (unless off).
type flakySink struct {
	n   atomic.Int32
	off atomic.Bool
}

func (s *flakySink) Play(ctx context.Context, p speech.PCM) error {
	if k := s.n.Add(1); k%13 == 0 && !s.off.Load() {
		return errors.New("injected sound card failure")
	}
	return ctx.Err()
}

func TestOCREngineReadsAPicture(t *testing.T) {
	cfg := config.Default()
	e, err := newOCREngine(cfg)
	if err != nil {
		if errors.Is(err, ErrNotInstalled) && os.Getenv("RPIQ_REQUIRE_DEPS") != "1" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	img, err := textimage.Render([]string{"EXIT 12 Main Street", "Take 2 tablets daily"}, textimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pieces []string
	if err := e.Answer(context.Background(), img, "", func(p Piece) error {
		pieces = append(pieces, p.Text)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(pieces, "|") != "EXIT 12 Main Street\n|Take 2 tablets daily\n" {
		t.Errorf("pieces %q", pieces)
	}
	var blank []string
	e.Answer(context.Background(), image.NewGray(image.Rect(0, 0, 200, 100)), "", func(p Piece) error {
		blank = append(blank, p.Text)
		return nil
	})
	// An all-black frame: no text, and the reason is the light.
	if strings.Join(blank, "") != "I can't find any text.\nThe picture is very dark; turn on a light or move to brighter light.\n" {
		t.Errorf("blank: %q", blank)
	}
	if _, err := TesseractLanguage("xx"); err == nil {
		t.Error("unknown language accepted")
	}
}

// questionEngine answers with the question it was asked.
type questionEngine struct{}

func (questionEngine) Name() string { return "vlm" }
func (questionEngine) Answer(ctx context.Context, frame image.Image, q string, emit func(Piece) error) error {
	return emit(Piece{Text: "You asked: " + q, Confidence: -1})
}

// Ask (assist ask) runs the loop's answer path synchronously: the typed question reaches the
// engine, the answer streams to Options.Text and is spoken, and a fault is printed and said.
func TestAskIsTheLoopsAnswerPath(t *testing.T) {
	synth := &textSynth{}
	var text strings.Builder
	src := &stillSource{img: image.NewGray(image.Rect(0, 0, 8, 8))}
	r := NewRouterWith(map[Intent]string{Read: "ocr", Describe: "vlm", Ask: "vlm"},
		map[string]Engine{"ocr": &lineEngine{name: "ocr", lines: []string{"EXIT 12\n"}}, "vlm": questionEngine{}})
	a, err := New(Options{Config: config.Default(), Frames: src, Router: r, Synth: synth, Sink: &speech.Recorder{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Text: &text})
	if err != nil {
		t.Fatal(err)
	}
	res := a.Ask(context.Background(), "is the milk fresh?")
	if res.Err != nil || res.Intent != Ask || res.Engine != "vlm" || res.Text != "You asked: is the milk fresh?" {
		t.Errorf("open question: %+v", res)
	}
	res = a.Ask(context.Background(), "read this")
	if res.Err != nil || res.Engine != "ocr" || res.Text != "EXIT 12" {
		t.Errorf("read this: %+v", res)
	}
	src.err = &SpokenError{Say: "The picture file cannot be opened.", Err: errors.New("x.png: no such file")}
	res = a.Ask(context.Background(), "read this")
	if res.Err == nil || res.Text != "The picture file cannot be opened." {
		t.Errorf("fault: %+v", res)
	}
	want := "You asked: is the milk fresh?\nEXIT 12\nThe picture file cannot be opened.\n"
	if text.String() != want {
		t.Errorf("text %q, want %q", text.String(), want)
	}
	if s := synth.said(); !strings.Contains(s, "You asked: is the milk fresh?") || !strings.Contains(s, "EXIT 12") || !strings.Contains(s, "cannot be opened") {
		t.Errorf("said %q", s)
	}
}

// The spoken questions ("what colour is this", ...) go to the describe engine with their own
// intent, as the typed ones do.
func TestVoiceQuestions(t *testing.T) {
	rg := newRig(t, Options{
		Frames: &stillSource{img: image.NewGray(image.Rect(0, 0, 64, 64))},
		Router: NewRouterWith(map[Intent]string{Read: "ocr", Describe: "vlm", Colour: "vlm", Light: "vlm", People: "vlm", TextHere: "vlm"},
			map[string]Engine{"vlm": questionEngine{}}),
	})
	for cmd, want := range map[trigger.Command]Intent{trigger.Colour: Colour, trigger.Light: Light, trigger.People: People, trigger.TextHere: TextHere} {
		rg.send(cmd)
		r := rg.result(t)
		if r.Err != nil || r.Intent != want || r.Engine != "vlm" || r.Text != "You asked: "+want.Question() {
			t.Errorf("%s: intent %s, engine %q, said %q, err %v", cmd, r.Intent, r.Engine, r.Text, r.Err)
		}
	}
}

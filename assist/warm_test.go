package assist

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist/config"
)

// warmConfig routes reading and describing to probes and open questions nowhere.
func warmConfig(read, describe string) config.Config {
	cfg := config.Default()
	cfg.Engines.Read, cfg.Engines.Describe, cfg.Engines.Ask = read, describe, "none"
	return cfg
}

func grey() FrameSource { return &stillSource{img: image.NewGray(image.Rect(0, 0, 8, 8))} }

// waitWarm waits for Run to start and the assistant's warm-ups to end.
func waitWarm(t *testing.T, a *Assistant) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		a.mu.Lock()
		running := a.runCtx != nil
		a.mu.Unlock()
		if running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not start")
		}
	}
	waitWarming(t, a)
}

// waitWarming waits for the warm-ups started so far to end.
func waitWarming(t *testing.T, a *Assistant) {
	t.Helper()
	done := make(chan struct{})
	go func() { a.warming.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the warm-up did not end")
	}
}

// buildOrder records the order in which probes are built.
type buildOrder struct {
	mu    sync.Mutex
	names []string
}

func (o *buildOrder) hook(name string) func() error {
	return func() error {
		o.mu.Lock()
		o.names = append(o.names, name)
		o.mu.Unlock()
		return nil
	}
}

// Issue 11: with Warm (the daemon), the engines the settings route to are built in the
// background as soon as Run starts, the reader first, before any request; without it (assist
// ask) nothing is built until a request needs it.
func TestWarmBuildsEnginesBeforeTheFirstRequest(t *testing.T) {
	reader, scene := registerProbe("probe-warm-reader"), registerProbe("probe-warm-scene")
	var order buildOrder
	reader.build, scene.build = order.hook("probe-warm-reader"), order.hook("probe-warm-scene")
	cfg := warmConfig("probe-warm-reader", "probe-warm-scene")

	cold := newRig(t, Options{Config: cfg, Frames: grey()})
	waitWarm(t, cold.a)
	if n := reader.builds.Load() + scene.builds.Load(); n != 0 {
		t.Fatalf("without Warm, %d engines were built before a request", n)
	}
	cold.stop(t)

	rg := newRig(t, Options{Config: cfg, Frames: grey(), Warm: true})
	defer rg.stop(t)
	waitWarm(t, rg.a)
	if reader.builds.Load() != 1 || scene.builds.Load() != 1 {
		t.Fatalf("after the warm-up, before any request: reader built %d times, scene %d; want 1 and 1", reader.builds.Load(), scene.builds.Load())
	}
	if want := []string{"probe-warm-reader", "probe-warm-scene"}; !reflect.DeepEqual(order.names, want) {
		t.Errorf("built in the order %v, want %v", order.names, want)
	}
	if r := rg.a.Ask(context.Background(), "read this"); r.Err != nil || r.Text != "ok from probe-warm-reader" {
		t.Fatalf("read this: %q, %v", r.Text, r.Err)
	}
	if r := rg.a.Ask(context.Background(), "what colour is this"); r.Err != nil || r.Text != "ok from probe-warm-scene" {
		t.Fatalf("what colour is this: %q, %v", r.Text, r.Err)
	}
	if reader.builds.Load() != 1 || scene.builds.Load() != 1 {
		t.Errorf("the requests built again: reader %d, scene %d", reader.builds.Load(), scene.builds.Load())
	}
}

// The order: reader, describing engine, open questions; the vision-language model only when
// one is configured, and last, whichever intents name it.
func TestWarmOrder(t *testing.T) {
	for _, c := range []struct {
		read, describe, ask, vlmDir string
		want                        []string
	}{
		{"ocr", "scene", "vlm", "", []string{"ocr", "scene"}},
		{"ocr", "scene", "vlm", "/models/smolvlm", []string{"ocr", "scene", "vlm"}},
		{"vlm", "scene", "vlm", "/models/smolvlm", []string{"scene", "vlm"}},
		{"ocr", "vlm", "none", "/models/smolvlm", []string{"ocr", "vlm"}},
		{"none", "none", "none", "", nil},
	} {
		cfg := config.Default()
		cfg.Engines.Read, cfg.Engines.Describe, cfg.Engines.Ask, cfg.Models.VLM = c.read, c.describe, c.ask, c.vlmDir
		if got := NewRouter(cfg).warmOrder(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("read=%s describe=%s ask=%s vlm=%q: order %v, want %v", c.read, c.describe, c.ask, c.vlmDir, got, c.want)
		}
	}
}

// A request whose engine is warming waits for that build (no second one); a request for
// another engine is answered meanwhile.
func TestWarmSharesTheBuildWithRequests(t *testing.T) {
	reader, scene := registerProbe("probe-slow-reader"), registerProbe("probe-side-scene")
	entered, gate := make(chan struct{}), make(chan struct{})
	reader.build = func() error {
		close(entered)
		<-gate
		return nil
	}
	rg := newRig(t, Options{Config: warmConfig("probe-slow-reader", "probe-side-scene"), Frames: grey(), Warm: true})
	defer rg.stop(t)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the warm-up never built the reader")
	}
	// The reader's build is held: "what colour is this" must not wait for it.
	colour := make(chan Result, 1)
	go func() { colour <- rg.a.Ask(context.Background(), "what colour is this") }()
	select {
	case r := <-colour:
		if r.Err != nil || r.Text != "ok from probe-side-scene" {
			t.Fatalf("what colour is this: %q, %v", r.Text, r.Err)
		}
	case <-time.After(10 * time.Second):
		close(gate)
		t.Fatal("a request for the scene engine waited for the reader's warm-up")
	}
	read := make(chan Result, 1)
	go func() { read <- rg.a.Ask(context.Background(), "read this") }()
	select {
	case r := <-read:
		t.Fatalf("read this answered (%q, %v) before its engine's build ended", r.Text, r.Err)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	if r := <-read; r.Err != nil || r.Text != "ok from probe-slow-reader" {
		t.Fatalf("read this: %q, %v", r.Text, r.Err)
	}
	waitWarm(t, rg.a)
	if reader.builds.Load() != 1 || scene.builds.Load() != 1 {
		t.Errorf("reader built %d times, scene %d; want 1 and 1", reader.builds.Load(), scene.builds.Load())
	}
}

// A warm-up that fails logs once, and the request is told exactly what a lazy build failure
// would have said.
func TestWarmFailureIsReportedAsALazyOne(t *testing.T) {
	broken := registerProbe("probe-broken-reader")
	broken.build = func() error { return fmt.Errorf("%w: probe data missing", ErrNotInstalled) }
	cfg := warmConfig("probe-broken-reader", "none")

	ask := func(warm bool) (said string, logged int) {
		var buf bytes.Buffer
		var mu sync.Mutex
		log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
		rg := newRig(t, Options{Config: cfg, Frames: grey(), Warm: warm, Log: log})
		waitWarm(t, rg.a)
		for i := 0; i < 2; i++ {
			r := rg.a.Ask(context.Background(), "read this")
			if r.Err == nil {
				t.Fatalf("read this answered %q with a broken reader", r.Text)
			}
			said = r.Text
		}
		if _, ok := rg.a.router.Missing()["probe-broken-reader"]; !ok {
			t.Errorf("Missing() does not report the broken reader (warm %v)", warm)
		}
		rg.stop(t)
		mu.Lock()
		defer mu.Unlock()
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, "engine unavailable") && strings.Contains(l, "engine=probe-broken-reader") {
				logged++
			}
		}
		return said, logged
	}
	lazySaid, lazyLogged := ask(false)
	warmSaid, warmLogged := ask(true)
	if warmLogged != 1 || lazyLogged != 1 {
		t.Errorf("the failure was logged %d times with the warm-up, %d without; want once", warmLogged, lazyLogged)
	}
	if warmSaid != lazySaid || warmSaid == "" {
		t.Errorf("with the warm-up the user hears %q; without, %q", warmSaid, lazySaid)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// After a settings reload the new engines are warmed, but only once the replaced ones are freed
// (never two copies of a model): an answer in flight on the old engine delays the warm-up.
func TestWarmAfterReload(t *testing.T) {
	p := registerProbe("probe-reload-warm")
	gate, started := make(chan struct{}), make(chan struct{}, 1)
	var once sync.Once
	p.answer = func(ctx context.Context) error {
		once.Do(func() {
			started <- struct{}{}
			<-gate
		})
		return nil
	}
	cfg := warmConfig("probe-reload-warm", "none")
	rg := newRig(t, Options{Config: cfg, Frames: grey(), Warm: true})
	defer rg.stop(t)
	waitWarm(t, rg.a)
	done := make(chan Result, 1)
	go func() { done <- rg.a.Ask(context.Background(), "read this") }()
	<-started
	rg.a.Apply(toggled(cfg, 0))
	time.Sleep(100 * time.Millisecond)
	if b := p.builds.Load(); b != 1 {
		t.Fatalf("the new engine was warmed while the replaced one still answered (%d builds)", b)
	}
	close(gate)
	if r := <-done; r.Err != nil {
		t.Fatal(r.Err)
	}
	waitWarm(t, rg.a)
	if b, c := p.builds.Load(), p.closes.Load(); b != 2 || c != 1 {
		t.Fatalf("after the answer: %d built, %d closed; want 2 and 1 (the new engine warmed, the old one freed)", b, c)
	}
	rg.a.Apply(toggled(cfg, 1)) // nothing in flight: warmed at once
	waitWarm(t, rg.a)
	if b, c := p.builds.Load(), p.closes.Load(); b != 3 || c != 2 {
		t.Errorf("after an idle reload: %d built, %d closed; want 3 and 2", b, c)
	}
}

// When the assistant stops while an engine warms, that engine is closed when its build ends and
// the warm-up builds nothing more.
func TestWarmStopsWithTheAssistant(t *testing.T) {
	reader, scene := registerProbe("probe-stop-reader"), registerProbe("probe-stop-scene")
	entered, gate := make(chan struct{}), make(chan struct{})
	reader.build = func() error {
		close(entered)
		<-gate
		return nil
	}
	rg := newRig(t, Options{Config: warmConfig("probe-stop-reader", "probe-stop-scene"), Frames: grey(), Warm: true})
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		rg.stop(t)
		t.Fatal("the warm-up never built the reader")
	}
	rg.stop(t) // returns without waiting for the build
	close(gate)
	waitWarming(t, rg.a)
	if b, c, s := reader.builds.Load(), reader.closes.Load(), scene.builds.Load(); b != 1 || c != 1 || s != 0 {
		t.Errorf("reader built %d, closed %d; scene built %d; want 1, 1, 0", b, c, s)
	}
}

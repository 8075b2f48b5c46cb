package assist

import (
	"context"
	"errors"
	"image"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/textimage"
)

// toggled is cfg with a setting changed that makes Apply build a new router.
func toggled(cfg config.Config, i int) config.Config {
	cfg.Verbosity = []string{"brief", "normal"}[i%2]
	return cfg
}

// Issue 11: a settings reload closes the engines it replaces, but not while an answer in flight
// uses them; over many reloads exactly one engine stays open, and none after the loop ends.
func TestReloadClosesReplacedEngines(t *testing.T) {
	p := registerProbe("probe-closer")
	gate, started := make(chan struct{}), make(chan struct{}, 1)
	var calls atomic.Int32
	p.answer = func(ctx context.Context) error {
		if calls.Add(1) == 1 { // the first answer waits while the settings change under it
			started <- struct{}{}
			<-gate
		}
		return nil
	}
	cfg := config.Default()
	cfg.Engines.Read = "probe-closer"
	rg := newRig(t, Options{Config: cfg, Frames: &stillSource{img: image.NewGray(image.Rect(0, 0, 8, 8))}})
	done := make(chan Result, 1)
	go func() { done <- rg.a.Ask(context.Background(), "read this") }()
	<-started
	rg.a.Apply(toggled(cfg, 0))
	if n := p.closes.Load(); n != 0 {
		t.Fatalf("the engine of the answer in flight was closed (%d closes)", n)
	}
	close(gate)
	if r := <-done; r.Err != nil || r.Text != "ok from probe-closer" {
		t.Fatalf("the answer in flight: %q, %v", r.Text, r.Err)
	}
	if n := p.closes.Load(); n != 1 {
		t.Fatalf("the replaced engine was not closed after its answer ended (%d closes)", n)
	}
	for i := 1; i <= 20; i++ {
		if r := rg.a.Ask(context.Background(), "read this"); r.Err != nil {
			t.Fatalf("reload %d: %v", i, r.Err)
		}
		rg.a.Apply(toggled(cfg, i))
	}
	// One engine per router that answered; the last router has built nothing yet (lazy).
	if b, c := p.builds.Load(), p.closes.Load(); b != 21 || c != 21 {
		t.Errorf("after 21 reloads with an answer before each: %d engines built, %d closed; want 21 and 21", b, c)
	}
	rg.a.Ask(context.Background(), "read this")
	rg.stop(t)
	if b, c := p.builds.Load(), p.closes.Load(); b != 22 || c != 22 {
		t.Errorf("after the loop ended: %d built, %d closed; want 22 and 22", b, c)
	}
}

// The same with the real OCR engine: every Tesseract instance a reload replaced is closed. The
// routers are kept reachable, so only Close, not a finalizer, can have freed it.
func TestReloadClosesOCREngine(t *testing.T) {
	cfg := config.Default()
	cfg.Engines.Describe, cfg.Engines.Ask = "none", "none"
	e, err := newOCREngine(cfg)
	if err != nil {
		if errors.Is(err, ErrNotInstalled) && os.Getenv("RPIQ_REQUIRE_DEPS") != "1" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	e.(*OCREngine).OCR.Close()
	img, err := textimage.Render([]string{"EXIT 12"}, textimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rg := newRig(t, Options{Config: cfg, Frames: &stillSource{img: img}})
	var replaced []*Router
	for i := 0; i < 5; i++ {
		if r := rg.a.Ask(context.Background(), "read this"); r.Err != nil || !strings.Contains(r.Text, "EXIT 12") {
			t.Fatalf("reload %d: %q %v", i, r.Text, r.Err)
		}
		rg.a.mu.Lock()
		replaced = append(replaced, rg.a.router)
		rg.a.mu.Unlock()
		rg.a.Apply(toggled(cfg, i))
	}
	for i, r := range replaced {
		o, ok := r.Built()["ocr"].(*OCREngine)
		if !ok {
			t.Fatalf("router %d built no OCR engine", i)
		}
		if !o.OCR.Closed() {
			t.Errorf("the OCR engine of the router replaced by reload %d is still open", i)
		}
	}
	rg.stop(t)
}

package assist

import (
	"context"
	"image"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rpiq/rpiq/assist/config"
)

// countingEngine is an engine whose builds and closes are counted (probe factories).
type countingEngine struct {
	name   string
	closed atomic.Bool
	closes *atomic.Int32
	answer func(ctx context.Context) error // nil: answers "ok" at once
}

func (e *countingEngine) Name() string { return e.name }
func (e *countingEngine) Answer(ctx context.Context, _ image.Image, _ string, emit func(Piece) error) error {
	if e.closed.Load() {
		return errClosedProbe
	}
	if e.answer != nil {
		if err := e.answer(ctx); err != nil {
			return err
		}
	}
	return emit(Piece{Text: "ok from " + e.name, Confidence: -1})
}
func (e *countingEngine) Close() error {
	if !e.closed.Swap(true) && e.closes != nil {
		e.closes.Add(1)
	}
	return nil
}

var errClosedProbe = &SpokenError{Say: "closed engine used"}

// probe registers a factory called name that counts its builds (once per test binary).
type probe struct {
	builds, closes atomic.Int32
	answer         func(ctx context.Context) error
	build          func() error // called in the factory; its error fails the build
}

var (
	probesMu sync.Mutex
	probes   = map[string]*probe{}
)

func registerProbe(name string) *probe {
	probesMu.Lock()
	defer probesMu.Unlock()
	if p, ok := probes[name]; ok {
		p.builds.Store(0)
		p.closes.Store(0)
		p.answer, p.build = nil, nil
		return p
	}
	p := &probe{}
	probes[name] = p
	RegisterEngine(name, func(cfg config.Config) (Engine, error) {
		if p.build != nil {
			if err := p.build(); err != nil {
				return nil, err
			}
		}
		p.builds.Add(1)
		return &countingEngine{name: name, closes: &p.closes, answer: p.answer}, nil
	})
	return p
}

// Issue 11: engines are built on first use, once, however many requests race for them; a
// reading request builds no scene engine (no detector is loaded).
func TestRouterBuildsEnginesLazily(t *testing.T) {
	reader, scene := registerProbe("probe-reader"), registerProbe("probe-scene")
	cfg := config.Default()
	cfg.Engines.Read, cfg.Engines.Describe, cfg.Engines.Ask = "probe-reader", "probe-scene", "none"
	r := NewRouter(cfg)
	if n := reader.builds.Load() + scene.builds.Load(); n != 0 {
		t.Fatalf("NewRouter built %d engines, want none before a request", n)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if e, err := r.Route(Read); err != nil || e.Name() != "probe-reader" {
				t.Errorf("Route(Read) = %v, %v", e, err)
			}
		}()
	}
	wg.Wait()
	if reader.builds.Load() != 1 || scene.builds.Load() != 0 {
		t.Fatalf("after 8 concurrent reading requests: reader built %d times, scene %d; want 1 and 0", reader.builds.Load(), scene.builds.Load())
	}
	if e, err := r.Route(Colour); err != nil || e.Name() != "probe-scene" || scene.builds.Load() != 1 {
		t.Fatalf("Route(Colour) = %v, %v; scene built %d times", e, err, scene.builds.Load())
	}
	r.Route(Describe)
	if scene.builds.Load() != 1 {
		t.Errorf("scene built %d times", scene.builds.Load())
	}
	// Missing and Engines build everything the settings name (check --deep, doctor).
	if es := NewRouter(cfg).Engines(); len(es) != 2 || reader.builds.Load() != 2 || scene.builds.Load() != 2 {
		t.Errorf("Engines() = %v; builds %d %d", es, reader.builds.Load(), scene.builds.Load())
	}
}

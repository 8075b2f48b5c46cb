package daemon

import (
	"context"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/devices"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/textimage"
	"github.com/rpiq/rpiq/assist/trigger"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestReloadSwapsTheCamera: a configuration edit naming another camera source takes effect at
// the next request (the daemon's reload hook).
func TestReloadSwapsTheCamera(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		img, err := textimage.Render([]string{text}, textimage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		f, _ := os.Create(p)
		png.Encode(f, img)
		f.Close()
		return p
	}
	a1, a2 := write("a.png", "FIRST CAMERA"), write("b.png", "SECOND CAMERA")
	cfg := config.Default()
	cfg.Camera.Source = a1
	cfg.Trigger.Voice = false
	cam, err := devices.OpenCamera(a1, 0, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{ctx: context.Background(), log: quiet(), events: make(chan trigger.Event), cam: cam}
	defer d.closeCamera()
	res := make(chan assist.Result, 2)
	r := assist.NewRouter(cfg)
	if _, ok := r.Engines()["ocr"]; !ok {
		t.Skip(r.Missing()["ocr"])
	}
	a, err := assist.New(assist.Options{Config: cfg, Frames: cam, Router: r, Synth: silentSynth{}, Sink: &speech.Recorder{}, Log: quiet(), Results: res, OnReload: d.reload})
	if err != nil {
		t.Fatal(err)
	}
	d.a = a
	read := func() string {
		a.Handle(context.Background(), trigger.Event{Command: trigger.ReadThis})
		return (<-res).Text
	}
	if got := read(); got != "FIRST CAMERA" {
		t.Fatalf("first: %q", got)
	}
	next := cfg
	next.Camera.Source = a2
	d.reload(cfg, next)
	if got := read(); got != "SECOND CAMERA" {
		t.Errorf("after reload: %q", got)
	}
	d.stopTriggers()
}

// silentSynth makes no sound.
type silentSynth struct{}

func (silentSynth) SampleRate() int { return 16000 }
func (silentSynth) Synthesize(ctx context.Context, text string, v speech.Voice, chunk func([]int16) bool) error {
	chunk(make([]int16, 160))
	return nil
}

package vlm

import (
	"context"
	"image"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/trigger"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/sample"
)

// recSynth records what the speech queue asks it to say (1 ms of sound per character).
type recSynth struct {
	mu    sync.Mutex
	texts []string
}

func (s *recSynth) SampleRate() int { return 16000 }
func (s *recSynth) Synthesize(ctx context.Context, text string, v speech.Voice, chunk func([]int16) bool) error {
	s.mu.Lock()
	s.texts = append(s.texts, text)
	s.mu.Unlock()
	chunk(make([]int16, 16*len(text)))
	return ctx.Err()
}

// The whole assistant: the "describe" button → the camera frame → this engine → the speech
// queue, which speaks the model's answer.
func TestAssistantDescribeSpeaksTheModelsAnswer(t *testing.T) {
	dir := tinyModel(t)
	q, closer, err := multimodal.Open(dir, cpubackend.New(0))
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	e := New(q, 12)
	e.opts.Sample = sample.Params{Temperature: 0}
	var want strings.Builder
	if err := e.Answer(context.Background(), frame(), assist.Describe.Question(), func(p assist.Piece) error {
		want.WriteString(p.Text)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	synth := &recSynth{}
	results := make(chan assist.Result, 4)
	a, err := assist.New(assist.Options{
		Config: config.Default(),
		Frames: frameSource{},
		Router: assist.NewRouterWith(map[assist.Intent]string{assist.Describe: "vlm"}, map[string]assist.Engine{"vlm": e}),
		Synth:  synth, Sink: &speech.Recorder{}, Results: results,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan trigger.Event)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, events) }()
	events <- trigger.Event{Command: trigger.Describe, Origin: trigger.FromKey, Time: time.Now()}
	var r assist.Result
	select {
	case r = <-results:
	case <-time.After(60 * time.Second):
		t.Fatal("no result")
	}
	cancel()
	<-done
	if r.Err != nil || r.Intent != assist.Describe {
		t.Fatalf("result %+v", r)
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	if norm(want.String()) == "" || norm(r.Text) != norm(want.String()) {
		t.Fatalf("spoke %q, the model answers %q (synth got %q)", r.Text, want.String(), synth.texts)
	}
	t.Logf("spoken: %q; %s", r.Text, r.Trace)
}

type frameSource struct{}

func (frameSource) Capture(context.Context) (image.Image, error) { return frame(), nil }

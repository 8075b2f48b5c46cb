package vlm

import (
	"context"
	"errors"
	"image"
	"image/color"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/cogvlm2"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/models/smolvlm"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/sample"
)

func tinyModel(t *testing.T) string {
	t.Helper()
	tokDir := shareddata.Path(t, "tokenizers/llama3")
	dir := t.TempDir()
	if _, err := cogvlm2.WriteRandom(dir, cogvlm2.TinySizes, 3); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(tokDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func frame() image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 80, 60))
	for y := 0; y < 60; y++ {
		for x := 0; x < 80; x++ {
			m.Set(x, y, color.RGBA{uint8(3 * x), uint8(4 * y), 50, 255})
		}
	}
	return m
}

// "What is in front of me" is answered by the model: the pieces streamed to the speech queue
// are, joined, the model's own greedy answer to the Describe question.
func TestDescribeStreamsTheModelsAnswer(t *testing.T) {
	dir := tinyModel(t)
	q, closer, err := multimodal.Open(dir, cpubackend.New(0))
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	e := New(q, 8)
	e.opts.Sample = sample.Params{Temperature: 0}
	router := assist.NewRouterWith(map[assist.Intent]string{assist.Describe: "vlm"}, map[string]assist.Engine{"vlm": e})
	eng, err := router.Route(assist.Describe)
	if err != nil || eng.Name() != "vlm" {
		t.Fatalf("route: %v %v", eng, err)
	}
	var pieces []string
	if err := eng.Answer(context.Background(), frame(), assist.Describe.Question(), func(p assist.Piece) error {
		pieces = append(pieces, p.Text)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	if _, err := q.Ask(context.Background(), "x", frame(), assist.Describe.Question(), multimodal.AskOptions{MaxTokens: 8, Sample: sample.Params{Temperature: 0}}, func(s multimodal.Step) error {
		want.WriteString(s.Text)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(pieces) < 2 || strings.Join(pieces, "") != want.String() {
		t.Fatalf("streamed %q (%d pieces), the model answers %q", strings.Join(pieces, ""), len(pieces), want.String())
	}
	// Barge-in: the emit error ends the answer at once.
	stop := errors.New("barge-in")
	n := 0
	err = eng.Answer(context.Background(), frame(), "What is this?", func(assist.Piece) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("after barge-in: %d pieces, %v", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := eng.Answer(ctx, frame(), "q", func(assist.Piece) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

// The engine is registered as "vlm"; without a configured model it is reported not installed
// (the daemon says so instead of failing), and with one it loads.
func TestRegisteredFactory(t *testing.T) {
	if !slices.Contains(assist.RegisteredEngines(), "vlm") {
		t.Fatalf("engines %v", assist.RegisteredEngines())
	}
	cfg := config.Default()
	r := assist.NewRouter(cfg)
	if err := r.Missing()["vlm"]; !errors.Is(err, assist.ErrNotInstalled) {
		t.Fatalf("no models.vlm: %v", err)
	}
	cfg.Models.VLM = t.TempDir()
	if err := assist.NewRouter(cfg).Missing()["vlm"]; !errors.Is(err, assist.ErrNotInstalled) {
		t.Fatalf("empty models.vlm folder: %v", err)
	}
	cfg.Models.VLM = tinyModel(t)
	cfg.Verbosity = "brief"
	r = assist.NewRouter(cfg)
	if err := r.Missing()["vlm"]; err != nil {
		t.Fatalf("tiny model: %v", err)
	}
	if e, err := r.Route(assist.Describe); err != nil || e.Name() != "vlm" || e.(*Engine).opts.MaxTokens != 48 {
		t.Fatalf("route describe: %v %v", e, err)
	}
}

// Whichever vision-language model `[models] vlm` names — a CogVLM2 or a SmolVLM folder — the
// engine opens it through the registry and answers "describe" and a question with that model's
// own greedy answer, knowing neither architecture.
func TestWhicheverVLMIsInstalled(t *testing.T) {
	smol := t.TempDir()
	if _, err := smolvlm.WriteRandom(smol, smolvlm.TinySizes, 4); err != nil {
		t.Fatal(err)
	}
	if err := smolvlm.WriteTinyTokenizer(smol); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{"CogVLMForCausalLM": tinyModel(t), "Idefics3ForConditionalGeneration": smol} {
		cfg := config.Default()
		cfg.Models.VLM = dir
		cfg.Engines.Describe, cfg.Engines.Ask = "vlm", "vlm"
		r := assist.NewRouter(cfg)
		q, closer, err := multimodal.Open(dir, cpubackend.New(0))
		if err != nil {
			t.Fatal(err)
		}
		if arch := q.Model.Info().Arch; arch != name {
			t.Fatalf("%s opened as %s", dir, arch)
		}
		for _, intent := range []assist.Intent{assist.Describe, assist.Ask} {
			eng, err := r.Route(intent)
			if err != nil || eng.Name() != "vlm" {
				t.Fatalf("%s: route %v: %v %v", name, intent, eng, err)
			}
			e := eng.(*Engine)
			e.opts.Sample = sample.Params{Temperature: 0}
			e.opts.MaxTokens = 6
			question := "What does the sign say?"
			if intent == assist.Describe {
				question = assist.Describe.Question()
			}
			var got, want strings.Builder
			if err := e.Answer(context.Background(), frame(), question, func(p assist.Piece) error {
				got.WriteString(p.Text)
				return nil
			}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, err := q.Ask(context.Background(), "frame", frame(), question, multimodal.AskOptions{MaxTokens: 6, Sample: sample.Params{Temperature: 0}}, func(s multimodal.Step) error {
				want.WriteString(s.Text)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Fatalf("%s %v: engine said %q, the model's greedy answer is %q", name, intent, got.String(), want.String())
			}
		}
		closer()
	}
}

// A configured model folder that does not load: the router builds it once and logs why once;
// "describe" (routed to the model) says in full that it does not load the first time, then
// only "I can't ..." (detailed verbosity: in full every time), without building it again,
// until a file in the folder changes: then it is built again and answers. A relative folder is
// found in the model folder, as doctor and check look for it.
func TestBrokenVLMStaysOffUntilItsFilesChange(t *testing.T) {
	models := t.TempDir()
	dir := filepath.Join(models, "smolvlm")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures": ["Idefics3ForConditionalGeneration"], `), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Models.Dir, cfg.Models.VLM = models, "smolvlm"
	cfg.Engines.Describe = "vlm"
	var log strings.Builder
	r := assist.NewRouter(cfg)
	r.SetLog(slog.New(slog.NewTextHandler(&log, nil)))
	var said []string
	for range 3 {
		_, err := r.Route(assist.Describe)
		var ne *assist.NoEngineError
		if !errors.As(err, &ne) {
			t.Fatalf("broken model: %v", err)
		}
		said = append(said, ne.Spoken)
	}
	want := []string{"I can't describe what is in front of you: the vision-language model does not load. The details are in the log.",
		"I can't describe what is in front of you.", "I can't describe what is in front of you."}
	if !slices.Equal(said, want) {
		t.Errorf("said %q, want %q", said, want)
	}
	if n := strings.Count(log.String(), "engine unavailable"); n != 1 {
		t.Errorf("logged %d times: %s", n, log.String())
	}
	detailed := cfg
	detailed.Verbosity = "detailed"
	rd := assist.NewRouter(detailed)
	rd.SetLog(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for range 2 {
		if _, err := rd.Route(assist.Describe); err == nil || !strings.Contains(assist.SpokenMessage(err), "does not load") {
			t.Errorf("detailed: %v", err)
		}
	}
	// The caregiver installs a good model in the same folder.
	if _, err := smolvlm.WriteRandom(dir, smolvlm.TinySizes, 4); err != nil {
		t.Fatal(err)
	}
	if err := smolvlm.WriteTinyTokenizer(dir); err != nil {
		t.Fatal(err)
	}
	e, err := r.Route(assist.Describe)
	if err != nil || e.Name() != "vlm" {
		t.Fatalf("after the model was installed: %v %v", e, err)
	}
	if n := strings.Count(log.String(), "engine unavailable"); n != 1 {
		t.Errorf("logged %d times: %s", n, log.String())
	}
	r.Close()
}

// A missing folder is said to be missing (not "no model is installed": one is configured).
func TestMissingVLMFolder(t *testing.T) {
	cfg := config.Default()
	cfg.Models.VLM = filepath.Join(t.TempDir(), "gone")
	cfg.Engines.Ask = "vlm"
	r := assist.NewRouter(cfg)
	r.SetLog(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := r.Route(assist.Ask); err == nil || assist.SpokenMessage(err) != "I can't answer questions about the picture: the vision-language model is missing." {
		t.Errorf("%v", err)
	}
}

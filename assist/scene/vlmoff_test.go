package scene_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/models/smolvlm"
)

// syncBuf is a log destination the engines' goroutines may write to.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// With `[models] vlm` naming a folder that does not load, "what is in front of me" is answered
// by the detectors; the first answer says that the vision-language model is off and why, the
// next ones do not, and neither the router nor the scene engine logs it again per request.
// Once a good model is in the folder, the model answers (no settings reload needed).
func TestBrokenVLMIsSaidOnceAndLoggedOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "smolvlm")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log syncBuf
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&log, nil)))
	defer slog.SetDefault(old)
	cfg := config.Default()
	cfg.Models.Dir = filepath.Dir(vision(t, "yolox_nano.onnx"))
	cfg.Models.Objects, cfg.Models.Classes = "yolox_nano.onnx", "coco.names"
	cfg.Models.Faces, cfg.Models.FacesConfig = "", ""
	cfg.Models.VLM = dir
	r := assist.NewRouter(cfg)
	defer r.Close()
	img, err := multimodal.DecodeImageFile(vision(t, "dog.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	describe := func() string {
		e, err := r.Route(assist.Describe)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := e.Answer(context.Background(), img, assist.Describe.Question(), func(p assist.Piece) error {
			b.WriteString(p.Text)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for i := 0; i < 3; i++ {
		got := describe()
		if !strings.Contains(got, "dog") {
			t.Errorf("answer %d: %q", i, got)
		}
		if off := strings.Contains(got, "the vision-language model does not load"); off != (i == 0) {
			t.Errorf("answer %d: %q", i, got)
		}
	}
	if n := strings.Count(log.String(), "engine unavailable"); n != 1 {
		t.Errorf("%d build failures logged: %s", n, log.String())
	}
	if strings.Contains(log.String(), "answering from the detectors") {
		t.Errorf("a warning per request: %s", log.String())
	}
	if _, err := smolvlm.WriteRandom(dir, smolvlm.TinySizes, 4); err != nil {
		t.Fatal(err)
	}
	if err := smolvlm.WriteTinyTokenizer(dir); err != nil {
		t.Fatal(err)
	}
	if got := describe(); strings.Contains(got, "dog") || got == "" {
		t.Errorf("with the model installed: %q (the detectors' answer?)", got)
	}
	if _, ok := r.Built()["vlm"]; !ok {
		t.Error("the model was not loaded")
	}
}

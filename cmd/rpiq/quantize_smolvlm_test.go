package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/models/smolvlm"
)

// TestQuantizeSmolVLMThenEvalImage: rpiq quantize on a tiny SmolVLM (decoder 4-bit, vision,
// connector and head 8-bit) from a VQA JSONL, then rpiq eval --image --ref against the float
// model: exit 0, the per-part bits in quantization_config, a small positive KL.
func TestQuantizeSmolVLMThenEvalImage(t *testing.T) {
	dir := t.TempDir()
	fp := filepath.Join(dir, "fp")
	os.MkdirAll(fp, 0o755)
	if _, err := smolvlm.WriteRandom(fp, smolvlm.TinySizes, 3); err != nil {
		t.Fatal(err)
	}
	if err := smolvlm.WriteTinyTokenizer(fp); err != nil {
		t.Fatal(err)
	}
	var calib bytes.Buffer
	for i := 0; i < 4; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 48+8*i, 40))
		for p := range img.Pix {
			img.Pix[p] = uint8(p*7 + i*31)
		}
		name := filepath.Join(dir, fmt.Sprintf("p%d.png", i))
		f, _ := os.Create(name)
		png.Encode(f, img)
		f.Close()
		fmt.Fprintf(&calib, `{"image": %q, "question": "What is in front of me?", "answer": "a wall"}`+"\n", filepath.Base(name))
	}
	cj := filepath.Join(dir, "calib.jsonl")
	os.WriteFile(cj, calib.Bytes(), 0o644)
	q := filepath.Join(dir, "q")
	// Without --calib (even rtn runs the pictures, for the report's errors): exit 2 naming it.
	if code, _, stderr := runCLI("quantize", "--model", fp, "--method", "rtn", "--out", q, "--quiet"); code != 2 || !strings.Contains(stderr, "--calib") {
		t.Fatalf("no --calib: exit %d: %s", code, stderr)
	}
	code, _, stderr := runCLI("quantize", "--model", fp, "--calib", cj, "--out", q, "--samples", "3", "--bits", "4",
		"--group-size", "16", "--vision-bits", "8", "--adapter-bits", "8", "--head-bits", "8", "--quiet", "--threads", "2")
	if code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	var cfg struct {
		Q struct {
			Bits    int            `json:"bits"`
			Dynamic map[string]any `json:"dynamic"`
		} `json:"quantization_config"`
	}
	b, _ := os.ReadFile(filepath.Join(q, "config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Q.Bits != 4 || len(cfg.Q.Dynamic) != 3 {
		t.Fatalf("quantization_config: %+v %v", cfg.Q, err)
	}
	text := filepath.Join(dir, "t.txt")
	os.WriteFile(text, []byte("A door with a sign above it."), 0o644)
	code, stdout, stderr := runCLI("eval", "--model", q, "--ref", fp, "--image", filepath.Join(dir, "p0.png"), "--text", text, "--json", "--quiet", "--threads", "2")
	if code != 0 {
		t.Fatalf("eval --image: exit %d: %s", code, stderr)
	}
	var ev evalResult
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.KLD == nil || !(*ev.KLD > 0) || *ev.KLD > 0.1 {
		t.Fatalf("4-bit SmolVLM against FP: kld %v", ev.KLD)
	}
}

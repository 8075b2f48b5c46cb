package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/cogvlm2"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/metrics"
)

// tinyCogVLM writes a random tiny CogVLM2 with the real Llama-3 tokenizer and a test image.
func tinyCogVLM(t *testing.T) (dir, img string) {
	t.Helper()
	tokDir := shareddata.Path(t, "tokenizers/llama3")
	dir = t.TempDir()
	if _, err := cogvlm2.WriteRandom(dir, cogvlm2.TinySizes, 1); err != nil {
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
	m := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			m.Set(x, y, color.RGBA{uint8(6 * x), uint8(8 * y), 100, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	img = filepath.Join(t.TempDir(), "scene.png")
	if err := os.WriteFile(img, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, img
}

func TestVQAStreamsAnswerAndTimings(t *testing.T) {
	dir, img := tinyCogVLM(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"vqa", "--model", dir, "--image", img, "--question", "What is in front of me?", "--temperature", "0", "--max-tokens", "6"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("vqa exited %d: %s", code, stderr.String())
	}
	for _, want := range []string{"vision encoding:", "prompt: ", "decode: 6 tokens", "max-tokens"} {
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("stderr lacks %q: %s", want, stderr.String())
		}
	}
	if stdout.Len() == 0 {
		t.Fatal("no answer text")
	}
	// Greedy answers are deterministic.
	first := stdout.String()
	stdout.Reset()
	if code := run([]string{"vqa", "--model", dir, "--image", img, "--question", "What is in front of me?", "--temperature", "0", "--max-tokens", "6", "--threads", "1"}, &stdout, &stderr); code != 0 || stdout.String() != first {
		t.Fatalf("second greedy run (exit %d) printed %q, first %q", code, stdout.String(), first)
	}
}

func TestVQABadInput(t *testing.T) {
	dir, img := tinyCogVLM(t)
	junk := filepath.Join(t.TempDir(), "junk.jpg")
	os.WriteFile(junk, []byte("not an image"), 0o644)
	empty := filepath.Join(t.TempDir(), "empty.png")
	os.WriteFile(empty, nil, 0o644)
	for name, args := range map[string][]string{
		"junk image":    {"vqa", "--model", dir, "--image", junk, "--question", "q"},
		"empty image":   {"vqa", "--model", dir, "--image", empty, "--question", "q"},
		"missing image": {"vqa", "--model", dir, "--image", junk + ".none", "--question", "q"},
		"no question":   {"vqa", "--model", dir, "--image", img},
		"bad top-p":     {"vqa", "--model", dir, "--image", img, "--question", "q", "--top-p", "0"},
		"not a model":   {"vqa", "--model", t.TempDir(), "--image", img, "--question", "q"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%s: exit %d, want 2: %s", name, code, stderr.String())
		}
	}
}

// rpiq quantize on a CogVLM2 checkpoint with an image+question+answer JSONL; the output is a
// GPTQ checkpoint with the vision tower at 8 bits that rpiq inspect reads and rpiq vqa answers with.
func TestQuantizeCogVLM2ThenVQA(t *testing.T) {
	dir, img := tinyCogVLM(t)
	calib := filepath.Join(filepath.Dir(img), "calib.jsonl")
	lines := `{"image": "scene.png", "question": "What is in front of me?", "answer": "A door."}
{"image": "` + img + `", "question": "What does the sign say?", "answer": "Exit"}
`
	if err := os.WriteFile(calib, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "q4")
	var stdout, stderr bytes.Buffer
	code := run([]string{"quantize", "--model", dir, "--calib", calib, "--out", out, "--group-size", "32", "--quiet"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("quantize exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "rpiq CogVLM2: LM 4-bit, vision 8, adapter 16, head 16") || !strings.Contains(stdout.String(), "from 2 samples") {
		t.Fatalf("quantize printed %q", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(out, ".rpiq-partial")); !os.IsNotExist(err) {
		t.Fatal("per-block checkpoints left behind after a finished run")
	}
	// --resume on a finished run starts from scratch and writes the same weights (same seed).
	first, _ := os.ReadFile(filepath.Join(out, "model.safetensors"))
	if code := run([]string{"quantize", "--model", dir, "--calib", calib, "--out", out, "--group-size", "32", "--quiet", "--resume"}, &stdout, &stderr); code != 0 {
		t.Fatalf("quantize --resume exited %d: %s", code, stderr.String())
	}
	if again, _ := os.ReadFile(filepath.Join(out, "model.safetensors")); len(first) == 0 || string(again) != string(first) {
		t.Fatal("quantize --resume wrote other weights")
	}
	stdout.Reset()
	if code := run([]string{"inspect", out}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "gptq 4-bit") {
		t.Fatalf("inspect (exit %d): %s", code, stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"vqa", "--model", out, "--image", img, "--question", "What is in front of me?", "--max-tokens", "4", "--temperature", "0"}, &stdout, &stderr); code != 0 {
		t.Fatalf("vqa on the quantized model exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "decode: ") {
		t.Fatalf("vqa stderr: %s", stderr.String())
	}
	// The quantized model against the float one on an image prompt (rpiq eval --image --ref).
	caption := filepath.Join(t.TempDir(), "caption.txt")
	os.WriteFile(caption, []byte("A door with a sign that says exit."), 0o644)
	stdout.Reset()
	if code := run([]string{"eval", "--model", out, "--ref", dir, "--image", img, "--text", caption, "--json", "--quiet"}, &stdout, &stderr); code != 0 {
		t.Fatalf("eval --image --ref on the quantized model exited %d: %s", code, stderr.String())
	}
	var ev struct{ PPL, KLD, Top1 float64 }
	if err := json.Unmarshal(stdout.Bytes(), &ev); err != nil || !(ev.KLD > 0) || math.IsInf(ev.KLD, 0) || ev.Top1 < 0 || ev.Top1 > 1 || !(ev.PPL > 1) {
		t.Fatalf("eval --image of the quantized model against the float one: %s (%v)", stdout.String(), err)
	}
	t.Logf("4-bit LM + 8-bit vision vs float, image prompt: %s", strings.TrimSpace(stdout.String()))
	bad := filepath.Join(filepath.Dir(img), "bad.jsonl")
	os.WriteFile(bad, []byte(`{"image": "missing.png", "question": "q"}`+"\n"), 0o644)
	if code := run([]string{"quantize", "--model", dir, "--calib", bad, "--out", out + "x", "--quiet"}, &stdout, &stderr); code != 2 {
		t.Fatalf("missing calibration image: exit %d, want 2", code)
	}
	if code := run([]string{"quantize", "--model", dir, "--calib", calib, "--out", out + "y", "--vision-bits", "4", "--quiet"}, &stdout, &stderr); code != 2 {
		t.Fatalf("--vision-bits 4: exit %d, want 2", code)
	}
}

func FuzzParseVQARecord(f *testing.F) {
	f.Add(`{"image": "a.png", "question": "What is it?", "answer": "A cat."}`)
	f.Add(`{"image": "", "question": "q"}`)
	f.Add(`{"question": "q"}`)
	f.Add(`[1, 2]`)
	f.Fuzz(func(t *testing.T, line string) {
		img, _, _, err := parseVQARecord(line)
		if err == nil && img == "" {
			t.Fatalf("accepted %q without an image", line)
		}
	})
}

// rpiq vqa --json: one object whose answer is the streamed greedy answer, with per step the
// token id (greedy: the first of its top 5), its text (joined: the answer) and the top-5
// log-probabilities in decreasing order.
func TestVQAJSON(t *testing.T) {
	dir, img := tinyCogVLM(t)
	args := []string{"vqa", "--model", dir, "--image", img, "--question", "What is in front of me?", "--temperature", "0", "--max-tokens", "5"}
	var text, stdout, stderr bytes.Buffer
	if code := run(args, &text, &stderr); code != 0 {
		t.Fatalf("vqa exited %d: %s", code, stderr.String())
	}
	if code := run(append(args, "--json"), &stdout, &stderr); code != 0 {
		t.Fatalf("vqa --json exited %d: %s", code, stderr.String())
	}
	var res struct {
		Answer string `json:"answer"`
		Steps  []struct {
			ID   int32        `json:"id"`
			Text string       `json:"text"`
			Top  [][2]float64 `json:"top"`
		} `json:"steps"`
	}
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil || dec.More() {
		t.Fatalf("not one JSON object (%v): %s", err, stdout.String())
	}
	if res.Answer != text.String() {
		t.Fatalf("JSON answer %q, streamed answer %q", res.Answer, text.String())
	}
	if len(res.Steps) == 0 || len(res.Steps) > 5 {
		t.Fatalf("%d steps", len(res.Steps))
	}
	var joined string
	for i, s := range res.Steps {
		joined += s.Text
		if len(s.Top) != 5 || int32(s.Top[0][0]) != s.ID {
			t.Fatalf("step %d: id %d, top %v", i, s.ID, s.Top)
		}
		var mass float64
		for j, p := range s.Top {
			if p[1] > 0 || (j > 0 && p[1] > s.Top[j-1][1]) || p[0] != math.Trunc(p[0]) {
				t.Fatalf("step %d: top %v not ids with decreasing log-probabilities", i, s.Top)
			}
			mass += math.Exp(p[1])
		}
		if mass > 1+1e-9 {
			t.Fatalf("step %d: top-5 probability mass %g", i, mass)
		}
	}
	if joined != res.Answer {
		t.Fatalf("steps' text %q, answer %q", joined, res.Answer)
	}
}

// rpiq eval --image: the text is scored after [BOS, image]. The perplexity equals scoring the
// same text token by token through the KV cache after the image prefix (an independent path);
// a model against itself has KL 0 and top-1 1; another picture changes the score; a text-only
// model is refused with exit 2.
func TestEvalImage(t *testing.T) {
	dir, img := tinyCogVLM(t)
	textFile := filepath.Join(t.TempDir(), "caption.txt")
	const caption = "A red door with a sign that says exit, next to a window."
	os.WriteFile(textFile, []byte(caption), 0o644)
	evalJSON := func(args ...string) map[string]float64 {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"eval", "--model", dir, "--text", textFile, "--json", "--quiet"}, args...), &stdout, &stderr); code != 0 {
			t.Fatalf("eval %v exited %d: %s", args, code, stderr.String())
		}
		var res map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			t.Fatalf("%v: %s", err, stdout.String())
		}
		out := map[string]float64{}
		for k, v := range res {
			if f, ok := v.(float64); ok {
				out[k] = f
			}
		}
		return out
	}
	got := evalJSON("--image", img, "--ref", dir)
	if got["kld"] > 1e-9 || got["top1"] != 1 {
		t.Fatalf("model against itself: %v", got)
	}

	// The same score token by token through the cache, after the image prefix.
	q, closer, err := multimodal.Open(dir, cpubackend.New(1))
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	ids, _ := q.Tok.Encode(caption, false)
	pic, _ := multimodal.DecodeImageFile(img)
	im, err := q.Image(img, pic)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := q.Model.Layout(q.Tok, im, nil)
	c := q.Model.NewCache(len(in.IDs) + len(ids))
	logits, err := q.Model.ForwardInput(c, in, false)
	if err != nil {
		t.Fatal(err)
	}
	var nll float64
	lp := make([]float64, len(logits))
	for _, id := range ids {
		metrics.LogSoftmax(lp, logits)
		nll -= lp[id]
		if logits, err = q.Model.Forward(c, []int32{int32(id)}, false); err != nil {
			t.Fatal(err)
		}
	}
	want := math.Exp(nll / float64(len(ids)))
	if int(got["tokens"]) != len(ids) || int(got["prompt_tokens"]) != len(in.IDs) || math.Abs(got["ppl"]-want) > 1e-4*want {
		t.Fatalf("eval --image: %v; token by token: ppl %.6f over %d tokens after %d prompt tokens", got, want, len(ids), len(in.IDs))
	}

	// Another picture: another score.
	other := filepath.Join(t.TempDir(), "other.png")
	m := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 37)
	}
	var buf bytes.Buffer
	png.Encode(&buf, m)
	os.WriteFile(other, buf.Bytes(), 0o644)
	if o := evalJSON("--image", other); o["ppl"] == got["ppl"] {
		t.Fatalf("two pictures, one perplexity %g", o["ppl"])
	}

	// A text-only model cannot take an image.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"eval", "--model", stories260K(t), "--text", textFile, "--image", img}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "does not read images") {
		t.Fatalf("text-only model with --image: exit %d: %s", code, stderr.String())
	}
}

// --act-memory must be a positive number of GB: anything else is bad use (exit status 2).
func TestQuantizeVLMActMemoryChecked(t *testing.T) {
	dir, img := tinyCogVLM(t)
	calib := filepath.Join(filepath.Dir(img), "calib.jsonl")
	if err := os.WriteFile(calib, []byte(`{"image": "scene.png", "question": "What is it?", "answer": "A door."}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0", "-1", "nan", "inf"} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"quantize", "--model", dir, "--calib", calib, "--out", filepath.Join(t.TempDir(), "q"), "--act-memory", v, "--quiet"}, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "--act-memory") {
			t.Fatalf("--act-memory %s: exit %d, %q", v, code, stderr.String())
		}
	}
}

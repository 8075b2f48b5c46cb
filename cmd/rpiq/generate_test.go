package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
)

// The end-to-end check of issue 2: llama2.c's stories260K converted to an HF folder, then
// greedy generation of 200 new tokens from an empty prompt must print exactly what llama2.c's
// run.c prints (run stories260K.bin -z tok512.bin -t 0.0 -n 200), without run.c's final newline.
func TestGenerateStories260KGreedyMatchesLlama2c(t *testing.T) {
	ckpt := shareddata.Path(t, "llama2c/stories260K.bin")
	tok := shareddata.Path(t, "llama2c/tok512.bin")
	want, err := os.ReadFile(shareddata.Path(t, "llama2c/expected/stories260K-greedy-200.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "stories260K")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"convert", "--from", "llama2c", ckpt, "--tokenizer", tok, "--out", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("convert exited %d: %s", code, stderr.String())
	}
	for _, threads := range []string{"1", "2"} {
		stdout.Reset()
		stderr.Reset()
		code := run([]string{"generate", "--model", dir, "--temperature", "0", "--max-tokens", "200", "--threads", threads}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("generate exited %d: %s", code, stderr.String())
		}
		if got := stdout.String(); got != string(want) {
			t.Fatalf("threads=%s: generated\n%q\nwant\n%q", threads, got, want)
		}
		if !strings.Contains(stderr.String(), "decode: 200 tokens") {
			t.Fatalf("stderr lacks the decode statistics: %s", stderr.String())
		}
	}
	// Fewer tokens give a prefix; a seeded sampled run is reproducible.
	stdout.Reset()
	if code := run([]string{"generate", "--model", dir, "--temperature", "0", "--max-tokens", "20"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(string(want), stdout.String()) || stdout.Len() == 0 {
		t.Fatalf("--max-tokens 20 printed %q (exit %d)", stdout.String(), code)
	}
	sampled := func() string {
		var o bytes.Buffer
		if code := run([]string{"generate", "--model", dir, "--prompt", "Once upon a time", "--temperature", "0.8", "--top-p", "0.9", "--seed", "42", "--max-tokens", "40"}, &o, &stderr); code != 0 {
			t.Fatalf("sampled generate exited %d: %s", code, stderr.String())
		}
		return o.String()
	}
	if a, b := sampled(), sampled(); a != b || a == "" {
		t.Fatalf("seeded sampling differs or is empty: %q vs %q", a, b)
	}
}

func TestGenerateBadInput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"generate"}, &stdout, &stderr); code != 2 {
		t.Fatalf("no --model: exit %d, want 2", code)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures": ["LlamaForCausalLM"]}`), 0o644)
	if code := run([]string{"generate", "--model", dir, "--prompt", "x"}, &stdout, &stderr); code != 2 {
		t.Fatalf("config missing fields: exit %d, want 2 (%s)", code, stderr.String())
	}
	if code := run([]string{"generate", "--model", dir, "--top-p", "0"}, &stdout, &stderr); code != 2 {
		t.Fatalf("--top-p 0: exit %d, want 2", code)
	}
}

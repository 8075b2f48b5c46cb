package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
)

func TestTokenizeCLI(t *testing.T) {
	dir := shareddata.Path(t, "tokenizers/llama3")
	code, stdout, stderr := runCLI("tokenize", "--model", dir, "--bos", "--json", "This is a test sentence.")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var out struct {
		IDs    []int    `json:"ids"`
		Pieces []string `json:"pieces"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	want := []int{128000, 2028, 374, 264, 1296, 11914, 13}
	if len(out.IDs) != len(want) || len(out.Pieces) != len(want) {
		t.Fatalf("got %+v, want ids %v", out, want)
	}
	for i := range want {
		if out.IDs[i] != want[i] {
			t.Fatalf("ids %v, want %v", out.IDs, want)
		}
	}
	if out.Pieces[0] != "<|begin_of_text|>" || out.Pieces[2] != "Ġis" {
		t.Errorf("pieces %q", out.Pieces)
	}

	code, stdout, _ = runCLI("tokenize", "--model", shareddata.Path(t, "llama2c/tok512.bin"), "Once upon")
	if code != 0 || len(strings.Split(strings.TrimSpace(stdout), "\n")) < 2 {
		t.Fatalf("text output: exit %d %q", code, stdout)
	}
	first := strings.SplitN(stdout, "\n", 2)[0]
	if strings.HasPrefix(first, "1 ") {
		t.Errorf("no --bos, yet ids start with BOS: %q", first)
	}
}

func TestTokenizeCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken")
	os.MkdirAll(broken, 0o755)
	os.WriteFile(filepath.Join(broken, "tokenizer.json"), []byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]}}`), 0o644)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no model flag", []string{"tokenize", "hi"}, "--model is required"},
		{"missing model", []string{"tokenize", "--model", filepath.Join(dir, "nope"), "hi"}, "nope"},
		{"empty dir", []string{"tokenize", "--model", dir, "hi"}, "no tokenizer files"},
		{"broken merge", []string{"tokenize", "--model", broken, "hi"}, `tokenizer.json: merge 0 ("a" "b"): merged token "ab" is not in the vocab`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(c.args...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, c.want)
			}
		})
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
)

func TestConvertBadInput(t *testing.T) {
	tok := shareddata.Path(t, "llama2c/tok512.bin")
	dir := t.TempDir()
	trunc := filepath.Join(dir, "trunc.bin")
	full, err := os.ReadFile(shareddata.Path(t, "llama2c/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(trunc, full[:len(full)/2], 0o644)
	out := filepath.Join(dir, "out")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"truncated checkpoint", []string{"--from", "llama2c", trunc, "--tokenizer", tok, "--out", out}, "trunc.bin: truncated"},
		{"missing checkpoint", []string{"--from", "llama2c", filepath.Join(dir, "nope.bin"), "--tokenizer", tok, "--out", out}, "nope.bin"},
		{"missing tokenizer", []string{"--from", "llama2c", shareddata.Path(t, "llama2c/stories260K.bin"), "--tokenizer", filepath.Join(dir, "nope.tok"), "--out", out}, "nope.tok"},
		{"wrong format", []string{"--from", "gguf", trunc, "--tokenizer", tok, "--out", out}, "--from must be llama2c"},
		{"no out", []string{"--from", "llama2c", trunc, "--tokenizer", tok}, "--out is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(append([]string{"convert"}, c.args...)...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("output folder created")
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
)

// Issue 14.2: one exit-status contract for every subcommand: 0 done, 1 the job failed, 2 bad
// input or bad use (a flag that is not defined or does not parse, a bad value, a missing or
// malformed file). Every registered command is run with an unknown flag, a flag without its
// value, and -h; the table adds each command's bad files and values.
func TestExitStatusContract(t *testing.T) {
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "missing")
	garbage := filepath.Join(tmp, "garbage.bin")
	os.WriteFile(garbage, []byte("this is not a model"), 0o644)
	notModel := filepath.Join(tmp, "notmodel")
	os.MkdirAll(notModel, 0o755)
	badJSON := filepath.Join(tmp, "badjson")
	os.MkdirAll(badJSON, 0o755)
	os.WriteFile(filepath.Join(badJSON, "config.json"), []byte(`{"architectures": ["LlamaForCausalLM"], "hidden_size": `), 0o644)
	text := filepath.Join(tmp, "t.txt")
	os.WriteFile(text, []byte("Once upon a time there was a cat."), 0o644)
	good := tinyHF(t, tinyLlamaConfig(""), tinyLlamaShapes()) // no tokenizer
	img := filepath.Join(tmp, "img.png")
	os.WriteFile(img, []byte("not a png"), 0o644)
	// Outputs that cannot be written: a file where a folder is expected, a folder where a file
	// is, a folder without write permission (issue 14).
	aFile := filepath.Join(tmp, "afile")
	os.WriteFile(aFile, []byte("x"), 0o644)
	aDir := filepath.Join(tmp, "adir")
	os.MkdirAll(aDir, 0o755)
	readOnly := filepath.Join(tmp, "readonly")
	os.MkdirAll(readOnly, 0o555)

	for _, cmd := range app.Commands() {
		for _, c := range []struct {
			args []string
			code int
		}{
			{[]string{"--no-such-flag"}, 2},
			{[]string{"-h"}, 0},
		} {
			if code, _, stderr := runCLI(append([]string{cmd}, c.args...)...); code != c.code {
				t.Errorf("rpiq %s %s: exit %d, want %d (%s)", cmd, strings.Join(c.args, " "), code, c.code, stderr)
			}
		}
	}

	cases := []struct {
		args []string
		code int
	}{
		// inspect
		{[]string{"inspect"}, 2},
		{[]string{"inspect", missing}, 2},
		{[]string{"inspect", notModel}, 2},
		{[]string{"inspect", badJSON}, 2},
		{[]string{"inspect", good}, 0},
		{[]string{"inspect", filepath.Join(tmp, "x.gguf")}, 2},
		{[]string{"inspect", garbage + ".gguf"}, 2},
		// convert
		{[]string{"convert", "--from", "gguf", garbage, "--tokenizer", garbage, "--out", missing}, 2},
		{[]string{"convert", "--from", "llama2c", missing, "--tokenizer", garbage, "--out", filepath.Join(tmp, "c1")}, 2},
		{[]string{"convert", "--from", "llama2c", garbage, "--tokenizer", garbage, "--out", filepath.Join(tmp, "c2")}, 2},
		{[]string{"convert", "--from", "llama2c", garbage}, 2},
		// tokenize
		{[]string{"tokenize", "x"}, 2},
		{[]string{"tokenize", "--model", missing, "x"}, 2},
		{[]string{"tokenize", "--model", good, "x"}, 2}, // no tokenizer files
		// generate and vqa
		{[]string{"generate"}, 2},
		{[]string{"generate", "--model", missing}, 2},
		{[]string{"generate", "--model", badJSON}, 2},
		{[]string{"generate", "--model", good, "--temperature", "nan"}, 2},
		{[]string{"generate", "--model", good, "--device", "tpu"}, 2},
		{[]string{"generate", "--model", good, "--max-tokens", "-1"}, 2},
		{[]string{"generate", "--model", good, "extra"}, 2},
		{[]string{"vqa", "--model", good, "--image", img}, 2},
		{[]string{"vqa", "--model", good, "--image", img, "--question", "q"}, 2},
		{[]string{"vqa", "--model", good, "--image", missing, "--question", "q"}, 2},
		// eval
		{[]string{"eval", "--model", good}, 2},
		{[]string{"eval", "--model", missing, "--text", text}, 2},
		{[]string{"eval", "--model", good, "--text", missing}, 2},
		// quantize
		{[]string{"quantize", "--model", good}, 2},
		{[]string{"quantize", "--model", missing, "--calib", text, "--out", filepath.Join(tmp, "q1")}, 2},
		{[]string{"quantize", "--model", good, "--calib", missing, "--out", filepath.Join(tmp, "q2")}, 2},
		{[]string{"quantize", "--model", good, "--calib", text, "--out", filepath.Join(tmp, "q3"), "--bits", "5"}, 2},
		{[]string{"quantize", "--model", good, "--calib", text, "--out", filepath.Join(tmp, "q4"), "--damp", "nan"}, 2},
		{[]string{"quantize", "--model", good, "--calib", text, "--out", filepath.Join(tmp, "q5"), "--rpiq-alpha", "nan"}, 2},
		{[]string{"quantize", "--model", good, "--calib", text, "--out", filepath.Join(tmp, "q6"), "--rpiq-kappa", "-inf"}, 2},
		{[]string{"quantize", "--model", good, "--calib", text, "--out", filepath.Join(tmp, "q7"), "--method", "awq"}, 2},
		{[]string{"quantize", "--model", good, "--calib", text, "--out", filepath.Join(tmp, "q8"), "--samples", "0"}, 2},
		{[]string{"quantize", "--model", good, "--calib", text, "--out", aFile}, 2},
		{[]string{"quantize", "--model", good, "--calib", text, "--out", filepath.Join(aFile, "q")}, 2},
		{[]string{"quantize", "--model", good, "--out", aFile, "--method", "rtn"}, 2},
		// export
		{[]string{"export", "--gguf", good, filepath.Join(aFile, "e.gguf")}, 2},
		{[]string{"export", "--gguf", good, aDir}, 2},
		// convert
		{[]string{"convert", "--from", "llama2c", shareddata.Path(t, "llama2c/stories260K.bin"), "--tokenizer", shareddata.Path(t, "llama2c/tok512.bin"), "--out", filepath.Join(aFile, "c")}, 2},
		{[]string{"convert", "--from", "llama2c", shareddata.Path(t, "llama2c/stories260K.bin"), "--tokenizer", shareddata.Path(t, "llama2c/tok512.bin"), "--out", aFile}, 2},
		{[]string{"export", good, filepath.Join(tmp, "e.gguf")}, 2},
		{[]string{"export", "--gguf", missing, filepath.Join(tmp, "e.gguf")}, 2},
		{[]string{"export", "--gguf", badJSON, filepath.Join(tmp, "e.gguf")}, 2},
		{[]string{"export", "--gguf", good, filepath.Join(tmp, "e.gguf"), "--dense", "q4"}, 2},
		// bench and cuda
		{[]string{"bench", "--filter", "("}, 2},
		{[]string{"bench", "extra"}, 2},
		{[]string{"cuda", "extra"}, 2},
	}
	// Root ignores permission bits: these cases hold only for other users.
	if os.Geteuid() != 0 {
		cases = append(cases, []struct {
			args []string
			code int
		}{
			{[]string{"quantize", "--model", good, "--calib", text, "--out", readOnly}, 2},
			{[]string{"quantize", "--model", good, "--calib", text, "--out", filepath.Join(readOnly, "q")}, 2},
			{[]string{"export", "--gguf", good, filepath.Join(readOnly, "e.gguf")}, 2},
			{[]string{"convert", "--from", "llama2c", shareddata.Path(t, "llama2c/stories260K.bin"), "--tokenizer", shareddata.Path(t, "llama2c/tok512.bin"), "--out", filepath.Join(readOnly, "c")}, 2},
		}...)
	} else {
		t.Log("running as root: the permission-denied cases are skipped (root writes anyway)")
	}
	for _, c := range cases {
		code, _, stderr := runCLI(c.args...)
		// An output that cannot be written is named, with what was expected.
		if last := c.args[len(c.args)-1]; c.code == 2 && (strings.HasPrefix(last, aFile) || last == aDir || strings.HasPrefix(last, readOnly)) &&
			(!strings.Contains(stderr, last) || !strings.Contains(stderr, "expected")) {
			t.Errorf("rpiq %s: the error does not name %s and what was expected: %q", strings.Join(c.args, " "), last, stderr)
		}
		if code != c.code {
			t.Errorf("rpiq %s: exit %d, want %d (%s)", strings.Join(c.args, " "), code, c.code, stderr)
		}
		if code == 2 && !strings.Contains(stderr, c.args[0]) && !strings.Contains(stderr, "usage") && !strings.Contains(stderr, "problem") {
			t.Errorf("rpiq %s: exit 2 without naming the command or printing the usage: %q", strings.Join(c.args, " "), stderr)
		}
	}

}

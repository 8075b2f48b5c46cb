package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func wantFormatError(t *testing.T, err error, file string, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %s and %q", file, parts)
	}
	if !IsFormatError(err) {
		t.Fatalf("error %v is a %T, want *FormatError", err, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, file) {
		t.Errorf("error %q does not name the file %s", msg, file)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not mention %q", msg, p)
		}
	}
}

func TestBrokenTokenizerJSON(t *testing.T) {
	good := string(qwen2FixtureJSON(false))
	for _, c := range []struct {
		name, json string
		parts      []string
	}{
		{"bad json", good[:len(good)/2], []string{"not valid tokenizer JSON"}},
		{"merge naming unknown token", strings.Replace(good, `"e r"`, `"e zz"`, 1), []string{"merge 3", `"zz" is not in the vocab`}},
		{"malformed merge", strings.Replace(good, `"e r"`, `"er"`, 1), []string{"model.merges[3]", "two tokens"}},
		{"bad pair merge", strings.Replace(string(qwen2FixtureJSON(true)), `["e","r"]`, `["e","r","x"]`, 1), []string{"model.merges[3]", "pair"}},
		{"unknown model", strings.Replace(good, `"type":"BPE"`, `"type":"Unigram"`, 1), []string{"only BPE"}},
		{"unknown normalizer", strings.Replace(good, `{"type":"NFC"}`, `{"type":"Precompiled"}`, 1), []string{`normalizer "Precompiled"`}},
		{"bad regex", strings.Replace(good, `\\p{N}| ?`, `\\p{N}|( ?`, 1), []string{"pre_tokenizer Split"}},
		{"negative id", strings.Replace(good, `"##":269`, `"##":-5`, 1), []string{`"##"`, "-5"}},
		{"no model", `{"added_tokens": []}`, []string{`no "model"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.json == good {
				t.Fatal("test case did not change the file")
			}
			_, err := parseHFJSON("dir/tokenizer.json", []byte(c.json), nil)
			wantFormatError(t, err, "dir/tokenizer.json", c.parts...)
		})
	}
}

func TestBrokenVocabMerges(t *testing.T) {
	vocab := []byte(`{"a": 0, "b": 1, "ab": 2}`)
	_, err := parseVocabMerges("v.json", vocab, "m.txt", []byte("#version: 0.2\na b c\n"), nil, "", false)
	wantFormatError(t, err, "m.txt", "line 2", "two tokens")
	_, err = parseVocabMerges("v.json", vocab, "m.txt", []byte("#version: 0.2\na x\n"), nil, "", false)
	wantFormatError(t, err, "v.json", "merge 0", `"x" is not in the vocab`)
	_, err = parseVocabMerges("v.json", []byte(`["a"]`), "m.txt", nil, nil, "", false)
	wantFormatError(t, err, "v.json", "JSON object")
	m, err := parseVocabMerges("v.json", vocab, "m.txt", []byte("#version: 0.2\na b\n"), nil, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := m.Encode("ab", false); !equalIDs(ids, []int{2}) {
		t.Errorf("Encode(ab) = %v", ids)
	}
}

func TestBrokenLlama2cBin(t *testing.T) {
	data := llama2cFixture("a", "b", "ab")
	if _, err := parseLlama2c("t.bin", data, 0); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{0, 3, 4, 6, 11, len(data) - 1} {
		_, err := parseLlama2c("t.bin", data[:cut], 0)
		wantFormatError(t, err, "t.bin", "")
		if cut > 4 && !strings.Contains(err.Error(), "truncated") {
			t.Errorf("cut at %d: %v, want 'truncated'", cut, err)
		}
	}
	_, err := parseLlama2c("t.bin", data, 300)
	wantFormatError(t, err, "t.bin", "truncated", "token 262")
	bad := append([]byte(nil), data...)
	bad[8] = 0xFF // length of token 0 becomes huge
	_, err = parseLlama2c("t.bin", bad, 0)
	wantFormatError(t, err, "t.bin", "token 0 has length")
	_, err = parseLlama2c("t.bin", llama2cFixture()[:4+8*3+20], 0)
	wantFormatError(t, err, "t.bin")
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir)
	wantFormatError(t, err, dir, "no tokenizer files")
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir)
	wantFormatError(t, err, filepath.Join(dir, "tokenizer.json"), "not valid")
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"bos_token": 5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir)
	wantFormatError(t, err, "tokenizer_config.json", "bos_token")
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !os.IsNotExist(err) {
		t.Errorf("missing dir: %v, want a not-exist error", err)
	}
}

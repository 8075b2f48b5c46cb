package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Load chooses the reader by the files present, tokenizer.json first.
func TestLoadChoosesByFiles(t *testing.T) {
	bin := llama2cFixture(" ", "a", "b", "ab", " ab")
	vocab, _ := json.Marshal(map[string]int{"a": 0, "b": 1, "ab": 2, "Ġ": 3, "</s>": 4})
	for _, c := range []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"tokenizer.json wins", map[string][]byte{"tokenizer.json": qwen2FixtureJSON(false), "tokenizer.bin": bin, "vocab.json": vocab, "merges.txt": []byte("a b\n")}, "*tokenizer.bpeModel"},
		{"vocab+merges", map[string][]byte{"vocab.json": vocab, "merges.txt": []byte("#version: 0.2\na b\n"), "tokenizer.bin": bin}, "*tokenizer.bpeModel"},
		{"tokenizer.bin", map[string][]byte{"tokenizer.bin": bin}, "*tokenizer.llama2cTokenizer"},
		{"tok512-style name", map[string][]byte{"tok512.bin": bin}, "*tokenizer.llama2cTokenizer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, c.files)
			tok, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := typeName(tok); got != c.want {
				t.Errorf("Load gave %s, want %s", got, c.want)
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *bpeModel:
		return "*tokenizer.bpeModel"
	case *llama2cTokenizer:
		return "*tokenizer.llama2cTokenizer"
	}
	return "?"
}

// OPT: the GPT-2 files plus config.json's model_type "opt" start every sequence with </s>.
func TestOPTStartsWithEOSToken(t *testing.T) {
	vocab, _ := json.Marshal(map[string]int{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "A": 4, "Ġphoto": 5, "Ġ": 6, "p": 7, "h": 8, "o": 9, "t": 10, "Ġp": 11, "ho": 12, "Ġpho": 13, "to": 14})
	merges := []byte("#version: 0.2\nĠ p\nh o\nĠp ho\nt o\nĠpho to\n")
	for _, withConfig := range []bool{false, true} {
		dir := t.TempDir()
		files := map[string][]byte{"vocab.json": vocab, "merges.txt": merges, "config.json": []byte(`{"model_type": "opt"}`)}
		if withConfig {
			files["tokenizer_config.json"] = []byte(`{"bos_token": "</s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}`)
		}
		writeFiles(t, dir, files)
		tok, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := tok.Encode("A photo</s>", true)
		if want := []int{2, 4, 5, 2}; !equalIDs(ids, want) {
			t.Errorf("config=%v: Encode = %v, want %v", withConfig, ids, want)
		}
		if tok.BOS() != 2 || tok.EOS() != 2 || !tok.IsSpecial(1) {
			t.Errorf("BOS %d EOS %d", tok.BOS(), tok.EOS())
		}
	}
}

// Meta's Llama-3 tokenizer.json puts TemplateProcessing inside a Sequence post-processor.
func TestTemplateInSequence(t *testing.T) {
	var f map[string]any
	if err := json.Unmarshal(qwen2FixtureJSON(false), &f); err != nil {
		t.Fatal(err)
	}
	f["post_processor"] = map[string]any{"type": "Sequence", "processors": []any{
		map[string]any{"type": "ByteLevel"},
		map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<|endoftext|>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"special_tokens": map[string]any{"<|endoftext|>": map[string]any{"id": "<|endoftext|>", "ids": []int{270}, "tokens": []string{"<|endoftext|>"}}}},
	}}
	data, _ := json.Marshal(f)
	m, err := parseHFJSON("tokenizer.json", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := m.Encode("er", true)
	if !equalIDs(ids, []int{270, 260}) || m.BOS() != 270 {
		t.Errorf("Encode = %v BOS %d, want [270 260] and 270", ids, m.BOS())
	}
	if ids, _ := m.Encode("er", false); !equalIDs(ids, []int{260}) {
		t.Errorf("without special: %v", ids)
	}
	// An explicit add_bos_token=false in tokenizer_config.json overrides the template.
	f2 := false
	m, _ = parseHFJSON("tokenizer.json", data, &tokenizerConfig{AddBOS: &f2})
	if ids, _ := m.Encode("er", true); !equalIDs(ids, []int{260}) {
		t.Errorf("add_bos_token=false: %v", ids)
	}
}

// A Metaspace pre-tokenizer and decoder (newer LLaMA/Mistral tokenizer.json files).
func TestMetaspace(t *testing.T) {
	f := map[string]any{
		"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
		"decoder":       map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
		"added_tokens":  []any{map[string]any{"id": 6, "content": "<s>", "special": true}},
		"model": map[string]any{"type": "BPE", "vocab": map[string]int{"▁": 0, "a": 1, "b": 2, "▁a": 3, "▁b": 4, "ab": 5, "<s>": 6},
			"merges": []string{"▁ a", "▁ b", "a b"}},
	}
	data, _ := json.Marshal(f)
	m, err := parseHFJSON("tokenizer.json", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		text string
		want []int
		dec  string
	}{
		{"a b", []int{3, 4}, "a b"},
		{"ab  b", []int{3, 2, 0, 4}, "ab  b"}, // pieces "▁ab", "▁", "▁b"; "▁ a" merges first, and "▁a b" is no merge
		{"<s>a", []int{6, 1}, "<s>a"},         // "first": no ▁ after a leading added token
	} {
		ids, _ := m.Encode(c.text, false)
		if !equalIDs(ids, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, ids, c.want)
		}
		if s := m.Decode(ids); s != c.dec {
			t.Errorf("Decode(%v) = %q, want %q", ids, s, c.dec)
		}
	}
	if strings.Contains(m.Piece(3), " ") {
		t.Error("pieces keep ▁")
	}
}

// Added tokens with lstrip/rstrip take the whitespace beside them (HF's AddedToken options).
func TestAddedTokenStrip(t *testing.T) {
	toks := newAddedMatcher([]addedToken{{content: "<mask>", id: 9, lstrip: true}, {content: "<r>", id: 8, rstrip: true}})
	var got []string
	for _, s := range toks.split("a  <mask> b<r>  c") {
		if s.id >= 0 {
			got = append(got, "#"+string(rune('0'+s.id)))
		} else {
			got = append(got, s.text)
		}
	}
	if want := []string{"a", "#9", " b", "#8", "c"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("split = %q, want %q", got, want)
	}
}

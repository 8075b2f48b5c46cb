package tokenizer

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// Synthetic fixtures from huggingface/transformers' tokenizer tests (cogvlm2.md §2.4), built
// in code so they run without shared data.

// gpt2Fixture is test_tokenization_gpt2.py's tiny vocabulary, with add_prefix_space=True.
func gpt2Fixture(t testing.TB) *bpeModel {
	t.Helper()
	vocabList := []string{"l", "o", "w", "e", "r", "s", "t", "i", "d", "n", "Ġ", "Ġl", "Ġn", "Ġlo", "Ġlow", "er", "Ġlowest", "Ġnewer", "Ġwider", "<unk>", "<|endoftext|>"}
	vocab := map[string]int{}
	for i, p := range vocabList {
		vocab[p] = i
	}
	vj, _ := json.Marshal(vocab)
	merges := strings.Join([]string{"#version: 0.2", "Ġ l", "Ġl o", "Ġlo w", "e r", ""}, "\n")
	unk := json.RawMessage(`"<unk>"`)
	m, err := parseVocabMerges("vocab.json", vj, "merges.txt", []byte(merges), &tokenizerConfig{UNKToken: unk}, "", true)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGPT2Fixture(t *testing.T) {
	m := gpt2Fixture(t)
	ids, _ := m.Encode("lower newer", false)
	if want := []int{14, 15, 10, 9, 3, 2, 15}; !equalIDs(ids, want) {
		t.Errorf("Encode = %v, want %v", ids, want)
	}
	var pieces []string
	for _, id := range ids {
		pieces = append(pieces, m.Piece(id))
	}
	if got := strings.Join(pieces, " "); got != "Ġlow er Ġ n e w er" {
		t.Errorf("pieces %q", got)
	}
	ids, _ = m.Encode("lower newer<unk>", false)
	if want := []int{14, 15, 10, 9, 3, 2, 15, 19}; !equalIDs(ids, want) {
		t.Errorf("with <unk>: %v, want %v", ids, want)
	}
}

// bytesToUnicodeOrder lists the byte symbols in GPT-2's bytes_to_unicode dict order (printable
// ranges first), which is the order of ids 0-255 in GPT-2, Llama-3 and Qwen vocabularies.
func bytesToUnicodeOrder() []string {
	var bs []int
	for b := 0x21; b <= 0x7E; b++ {
		bs = append(bs, b)
	}
	for b := 0xA1; b <= 0xAC; b++ {
		bs = append(bs, b)
	}
	for b := 0xAE; b <= 0xFF; b++ {
		bs = append(bs, b)
	}
	in := map[int]bool{}
	for _, b := range bs {
		in[b] = true
	}
	for b := 0; b < 256; b++ {
		if !in[b] {
			bs = append(bs, b)
		}
	}
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(byteToRune[b])
	}
	return out
}

// qwen2FixtureJSON is test_tokenization_qwen2.py's vocabulary as a tokenizer.json with Qwen2's
// normalizer, pre-tokenizer and decoder. pairs selects the ["a","b"] merges encoding.
func qwen2FixtureJSON(pairs bool) []byte {
	vocabList := append(bytesToUnicodeOrder(), "Ġl", "Ġn", "Ġlo", "Ġlow", "er", "Ġlowest", "Ġnewer", "Ġwider", "01", ";}", ";}Ċ", "Ïĵ", "Ġ#", "##")
	vocab := map[string]int{}
	for i, p := range vocabList {
		vocab[p] = i
	}
	mergeStrs := []string{"Ġ l", "Ġl o", "Ġlo w", "e r", "0 1", "; }", ";} Ċ", "Ï ĵ", "Ġ #", "# #"}
	var merges any = mergeStrs
	if pairs {
		var ps [][]string
		for _, s := range mergeStrs {
			a, b, _ := strings.Cut(s, " ")
			ps = append(ps, []string{a, b})
		}
		merges = ps
	}
	f := map[string]any{
		"version":      "1.0",
		"added_tokens": []any{map[string]any{"id": len(vocabList), "content": "<|endoftext|>", "special": true}},
		"normalizer":   map[string]any{"type": "NFC"},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": patternQwen2}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
		}},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "", "end_of_word_suffix": "",
			"fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": merges},
	}
	b, _ := json.Marshal(f)
	return b
}

func TestQwen2Fixture(t *testing.T) {
	for _, pairs := range []bool{false, true} {
		m, err := parseHFJSON("tokenizer.json", qwen2FixtureJSON(pairs), nil)
		if err != nil {
			t.Fatal(err)
		}
		text := "lower lower newer 010;}\n<|endoftext|>\u03d2\u0301"
		ids, _ := m.Encode(text, true)
		want := []int{75, 78, 86, 260, 259, 260, 220, 77, 68, 86, 260, 220, 15, 16, 15, 266, 270, 267}
		if !equalIDs(ids, want) {
			t.Errorf("pairs=%v: Encode = %v\nwant %v", pairs, ids, want)
		}
		if ids, _ := m.Encode(" ###", false); !equalIDs(ids, []int{268, 269}) {
			t.Errorf(`pairs=%v: Encode(" ###") = %v, want [268 269]`, pairs, ids)
		}
		// NFC is applied, so decoding gives the composed character.
		if s := m.Decode(want); s != "lower lower newer 010;}\n<|endoftext|>\u03d3" {
			t.Errorf("Decode = %q", s)
		}
	}
}

// llama2cFixture builds a small tokenizer.bin: <unk>, BOS, EOS, the 256 byte tokens, then
// the given pieces with descending scores.
func llama2cFixture(pieces ...string) []byte {
	var b []byte
	put32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	all := []string{"<unk>", "\n<s>\n", "\n</s>\n"}
	for i := 0; i < 256; i++ {
		all = append(all, "<0x"+strings.ToUpper(hex2(byte(i)))+">")
	}
	all = append(all, pieces...)
	maxLen := 0
	for _, p := range all {
		maxLen = max(maxLen, len(p))
	}
	put32(uint32(maxLen))
	for i, p := range all {
		score := float32(0)
		if i >= 259 {
			score = -float32(i - 259)
		}
		put32(math.Float32bits(score))
		put32(uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}

func TestLlama2cFixture(t *testing.T) {
	data := llama2cFixture(" ", "a", "b", "c", "ab", " ab", "abc", " abc", "é")
	tok, err := parseLlama2c("fixture.bin", data, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		text string
		want []int
	}{
		{"", []int{1}},
		{"abc", []int{1, 259 + 7}},                    // " abc"
		{"ab ab", []int{1, 259 + 5, 259 + 5}},         // " ab", " ab"
		{"cé\n", []int{1, 259, 259 + 3, 259 + 8, 13}}, // " " "c" "é" <0x0A>
		{"ñ", []int{1, 259, 0xC3 + 3, 0xB1 + 3}},      // no token for ñ: its bytes
	} {
		got, _ := tok.Encode(c.text, true)
		if !equalIDs(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
		}
		if s := tok.Decode(got); s != c.text {
			t.Errorf("Decode(%v) = %q, want %q", got, s, c.text)
		}
	}
}

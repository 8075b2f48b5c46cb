package tokenizer

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// llama3JSCase is one line of tokenizers/cases/llama3-js.json.
type llama3JSCase struct {
	Check string `json:"check"`
	Text  string `json:"text"`
	BOS   bool   `json:"bos"`
	EOS   bool   `json:"eos"`
	IDs   []int  `json:"ids"`
	Count int    `json:"count"`
}

// llama3SameIn30And31 are the special-token ids whose names Llama 3.0 (our tokenizer.json) and
// Llama 3.1 (the case file) share. 3.1 renamed 128004/128008/128010 and renumbered the
// reserved tokens from 128011 up, so a case applies exactly when every special token it names
// in its text, or lists among its ids, is one of these.
var llama3SameIn30And31 = map[int]bool{128000: true, 128001: true, 128002: true, 128003: true, 128006: true, 128007: true, 128009: true}

var specialName = regexp.MustCompile(`<\|[^|<>]*\|>`)

func llama3CaseApplies(tok Tokenizer, c llama3JSCase) bool {
	for _, id := range c.IDs {
		if id >= 128000 && !llama3SameIn30And31[id] {
			return false
		}
	}
	for _, name := range specialName.FindAllString(c.Text, -1) {
		ids, _ := tok.Encode(name, false)
		if len(ids) == 1 && ids[0] >= 128000 && !llama3SameIn30And31[ids[0]] {
			return false
		}
	}
	return true
}

func TestLlama3JSCases(t *testing.T) {
	tok := sharedTokenizer(t, "tokenizers/llama3")
	var cases []llama3JSCase
	readJSON(t, "tokenizers/cases/llama3-js.json", &cases)
	ran, skipped := 0, 0
	for i, c := range cases {
		if c.Check == "optimistic_count" || !llama3CaseApplies(tok, c) {
			// optimistic_count is llama3-tokenizer-js's own estimate, not a tokenizer output.
			skipped++
			continue
		}
		ran++
		switch c.Check {
		case "encode", "encode_and_decode":
			got, err := tok.Encode(c.Text, c.BOS)
			if err != nil {
				t.Fatal(err)
			}
			if c.EOS {
				got = append(got, tok.EOS())
			}
			if !equalIDs(got, c.IDs) {
				t.Errorf("case %d: Encode(%.40q, bos=%v) = %v, want %v", i, c.Text, c.BOS, got, c.IDs)
			}
			if c.Check == "encode_and_decode" {
				if s := tok.Decode(c.IDs); s != c.Text {
					t.Errorf("case %d: Decode = %.60q, want %.60q", i, s, c.Text)
				}
			}
		case "decode":
			if s := tok.Decode(c.IDs); s != c.Text {
				t.Errorf("case %d: Decode(%v) = %q, want %q", i, c.IDs, s, c.Text)
			}
		default:
			t.Fatalf("case %d: unknown check %q", i, c.Check)
		}
	}
	// MANIFEST.md: 22 of the 28 hold for the Llama 3.0 file.
	if ran != 22 || skipped != 6 {
		t.Errorf("ran %d cases and skipped %d, want 22 and 6", ran, skipped)
	}
}

func TestLlama3PublicVectors(t *testing.T) {
	tok := sharedTokenizer(t, "tokenizers/llama3")
	enc := func(s string, special bool) []int {
		ids, err := tok.Encode(s, special)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for _, c := range []struct {
		text string
		want []int
	}{
		{"hello world", []int{15339, 1917}},
		{"hello <|end_of_text|>", []int{15339, 220, 128001}},
		{"<|begin_of_text|>A B!", []int{128000, 32, 426, 0}},
		{"<|begin_of_text|>A<|end_of_text|>B!", []int{128000, 32, 128001, 33, 0}},
	} {
		if got := enc(c.text, false); !equalIDs(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
		}
	}
	// meta-llama/llama3 test_tokenizer.py, with bos and eos.
	got := append(enc("This is a test sentence.", true), tok.EOS())
	want := []int{128000, 2028, 374, 264, 1296, 11914, 13, 128001}
	if !equalIDs(got, want) {
		t.Errorf("Encode with BOS+EOS = %v, want %v", got, want)
	}
	if s := tok.Decode(want); s != "<|begin_of_text|>This is a test sentence.<|end_of_text|>" {
		t.Errorf("Decode = %q", s)
	}
	// Runs of "0": groups of three digits are 931 ("000"), a remainder of 1 or 2 is 15 or 410.
	for n := 1; n <= 17; n++ {
		var want []int
		for k := 0; k < n/3; k++ {
			want = append(want, 931)
		}
		switch n % 3 {
		case 1:
			want = append(want, 15)
		case 2:
			want = append(want, 410)
		}
		if got := enc(strings.Repeat("0", n), false); !equalIDs(got, want) {
			t.Errorf("%d zeros: %v, want %v", n, got, want)
		}
	}
	// Every code point U+0000-U+00FF round-trips (ollama's byte round trip), alone and together.
	var all strings.Builder
	for b := 0; b < 256; b++ {
		s := string(rune(b))
		all.WriteString(s)
		if got := tok.Decode(enc(s, false)); got != s {
			t.Errorf("U+%04X: round trip gives %q", b, got)
		}
	}
	if got := tok.Decode(enc(all.String(), false)); got != all.String() {
		t.Errorf("U+0000-U+00FF together: round trip gives %q", got)
	}
}

func TestLlama3Split(t *testing.T) {
	sp, _ := newSplitter(patternLlama3)
	for _, c := range []struct {
		text string
		want []string
	}{
		{"I'm don't won't", []string{"I", "'m", " don", "'t", " won", "'t"}},
		{"In 2024 there are 366 days", []string{"In", " ", "202", "4", " there", " are", " ", "366", " days"}},
		{"Hello!! ...world", []string{"Hello", "!!", " ...", "world"}},
		{"Hello    World", []string{"Hello", "   ", " World"}},
		{"Hello\nWorld", []string{"Hello", "\n", "World"}},
		{"Hello, WORLD!! How's it going?", []string{"Hello", ",", " WORLD", "!!", " How", "'s", " it", " going", "?"}},
	} {
		got := splitAll(sp, c.text)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("split(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestGPT2Vectors(t *testing.T) {
	tok := sharedTokenizer(t, "tokenizers/gpt2")
	for _, c := range []struct {
		text string
		want []int
	}{
		{"Hello world", []int{15496, 995}},
		{" Hello world", []int{18435, 995}},
		{"Hello world<|endoftext|>", []int{15496, 995, 50256}},
	} {
		got, err := tok.Encode(c.text, true)
		if err != nil {
			t.Fatal(err)
		}
		if !equalIDs(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
		}
		if s := tok.Decode(got); s != c.text {
			t.Errorf("Decode = %q, want %q", s, c.text)
		}
	}
	if tok.EOS() != 50256 || tok.BOS() != -1 || !tok.IsSpecial(50256) || tok.VocabSize() != 50257 {
		t.Errorf("EOS %d BOS %d special %v size %d", tok.EOS(), tok.BOS(), tok.IsSpecial(50256), tok.VocabSize())
	}
}

func TestQwen3RealVector(t *testing.T) {
	tok := sharedTokenizer(t, "tokenizers/qwen3")
	// huggingface/transformers test_tokenization_qwen2.py, test_tokenizer_integration
	// (Qwen/Qwen-tokenizer; Qwen3 keeps the same BPE vocabulary).
	text := "```python\ntokenizer = AutoTokenizer.from_pretrained(\"Qwen/Qwen-tokenizer\")\ntokenizer(\"世界，你好！\")```"
	want := []int{73594, 12669, 198, 85593, 284, 8979, 37434, 6387, 10442, 35722, 445, 48, 16948, 45274, 16948, 34841, 3135, 1138, 85593, 445, 99489, 3837, 108386, 6313, 899, 73594}
	got, err := tok.Encode(text, true)
	if err != nil {
		t.Fatal(err)
	}
	if !equalIDs(got, want) {
		t.Errorf("Encode = %v\nwant %v", got, want)
	}
	if tok.BOS() != -1 || tok.EOS() != 151645 {
		t.Errorf("BOS %d EOS %d, want -1 and 151645 (<|im_end|>)", tok.BOS(), tok.EOS())
	}
	ids, _ := tok.Encode("<think>\n</think><|im_start|>", false)
	if !equalIDs(ids, []int{151667, 198, 151668, 151644}) {
		t.Errorf("added tokens: %v", ids)
	}
	if tok.IsSpecial(151667) || !tok.IsSpecial(151644) {
		t.Errorf("<think> must be a plain added token, <|im_start|> special")
	}
}

func TestMistralVectors(t *testing.T) {
	tok := sharedTokenizer(t, "tokenizers/mistral7b")
	got, _ := tok.Encode("[INST]", true)
	if !equalIDs(got, []int{1, 733, 16289, 28793}) {
		t.Errorf("Encode([INST]) = %v, want [1 733 16289 28793]", got)
	}
	if s := tok.Decode(got); s != "<s> [INST]" {
		t.Errorf("Decode = %q, want %q (HF keeps the space after a rendered <s>)", s, "<s> [INST]")
	}
	if s := tok.Decode(got[1:]); s != "[INST]" {
		t.Errorf("Decode without BOS = %q", s)
	}
	got, _ = tok.Encode("🦙\n", false)
	if !equalIDs(got, []int{28705, 243, 162, 169, 156, 13}) {
		t.Errorf("byte fallback: %v", got)
	}
	if tok.BOS() != 1 || tok.EOS() != 2 || tok.Piece(28705) != "▁" {
		t.Errorf("BOS %d EOS %d piece %q", tok.BOS(), tok.EOS(), tok.Piece(28705))
	}
}

type llama2Case struct {
	Check    string `json:"check"`
	Text     string `json:"text"`
	IDs      []int  `json:"ids"`
	AddBOS   bool   `json:"add_bos_token"`
	AddSpace bool   `json:"add_preceding_space"`
}

func TestLlama2cBinCases(t *testing.T) {
	tok := sharedTokenizer(t, "llama2c/tokenizer.bin")
	var cases []llama2Case
	readJSON(t, "llama2c/expected/tokenizer-bin-cases.json", &cases)
	if len(cases) != 5 {
		t.Fatalf("%d cases, want 5", len(cases))
	}
	for _, c := range cases {
		got, _ := tok.Encode(c.Text, true)
		if !equalIDs(got, c.IDs) {
			t.Errorf("Encode(%q) = %v, want %v", c.Text, got, c.IDs)
		}
		if s := tok.Decode(got); s != c.Text {
			t.Errorf("Decode = %q, want %q", s, c.Text)
		}
	}
}

// TestLlama2JSCases runs llama-tokenizer-js's cases on tokenizer.bin. Its decode flags map to
// ours as: add_bos_token drops a leading BOS (otherwise the library writes "<s>"), and
// add_preceding_space drops one leading space of the result.
func TestLlama2JSCases(t *testing.T) {
	tok := sharedTokenizer(t, "llama2c/tokenizer.bin")
	var cases []llama2Case
	readJSON(t, "tokenizers/cases/llama2-js.json", &cases)
	n := 0
	for i, c := range cases {
		switch c.Check {
		case "encode_and_decode":
			n++
			got, _ := tok.Encode(c.Text, true)
			if !equalIDs(got, c.IDs) {
				t.Errorf("case %d: Encode(%.40q) = %v, want %v", i, c.Text, got, c.IDs)
			}
			if s := tok.Decode(c.IDs); s != c.Text {
				t.Errorf("case %d: Decode = %.60q, want %.60q", i, s, c.Text)
			}
		case "decode":
			n++
			ids, prefix := c.IDs, ""
			if len(ids) > 0 && ids[0] == tok.BOS() {
				ids = ids[1:]
				if !c.AddBOS {
					prefix = "<s>"
				}
			}
			s := prefix + tok.Decode(ids)
			if c.AddSpace {
				s = strings.TrimPrefix(s, " ")
			}
			if s != c.Text {
				t.Errorf("case %d: decode(%v, bos=%v, space=%v) = %q, want %q", i, c.IDs, c.AddBOS, c.AddSpace, s, c.Text)
			}
		default:
			t.Fatalf("case %d: unknown check %q", i, c.Check)
		}
	}
	if n != 20 {
		t.Errorf("ran %d cases, want 20", n)
	}
}

// GPT-2 as HF ships it in tokenizer.json (ByteLevel pre-tokenizer with use_regex) encodes as
// the vocab.json + merges.txt reader does.
func TestGPT2TokenizerJSONEqualsVocabMerges(t *testing.T) {
	slow := sharedTokenizer(t, "tokenizers/gpt2")
	data := gpt2TokenizerJSON(t)
	fast, err := parseHFJSON("gpt2/tokenizer.json", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := sharedText(t, "text/wikitext-2-raw-test.txt")[:300000] + "Hello world<|endoftext|> it's 2024!!\n\n"
	a, _ := slow.Encode(text, true)
	b, _ := fast.Encode(text, true)
	if !equalIDs(a, b) {
		t.Fatalf("tokenizer.json and vocab.json+merges.txt differ")
	}
	if ids, _ := fast.Encode("Hello world", true); !equalIDs(ids, []int{15496, 995}) {
		t.Errorf("Hello world: %v", ids)
	}
}

// gpt2TokenizerJSON writes GPT-2's vocab.json + merges.txt as the tokenizer.json HF ships.
func gpt2TokenizerJSON(t *testing.T) []byte {
	var vocab map[string]int
	readJSON(t, "tokenizers/gpt2/vocab.json", &vocab)
	merges, err := parseMergesTxt("merges.txt", []byte(sharedText(t, "tokenizers/gpt2/merges.txt")))
	if err != nil {
		t.Fatal(err)
	}
	var ms []string
	for _, m := range merges {
		ms = append(ms, m[0]+" "+m[1])
	}
	f := map[string]any{
		"added_tokens":   []any{map[string]any{"id": 50256, "content": "<|endoftext|>", "special": true, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false}},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model":          map[string]any{"type": "BPE", "vocab": vocab, "merges": ms},
	}
	data, _ := json.Marshal(f)
	return data
}

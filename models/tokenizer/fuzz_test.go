package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Parsers must return an error, never panic; what they accept must encode and decode.

func FuzzParseTokenizerJSON(f *testing.F) {
	good := qwen2FixtureJSON(false)
	f.Add(good)
	f.Add(qwen2FixtureJSON(true))
	f.Add(good[:len(good)/3])
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]],"byte_fallback":true},
		"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
		"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},
		"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"a","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"special_tokens":{"a":{"id":"a","ids":[0],"tokens":["a"]}}}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":99999999},"merges":[]}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseHFJSON("fuzz.json", data, nil)
		if err != nil {
			if !IsFormatError(err) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		for _, s := range []string{"", "lower newer", " a b\n", "ab🦙"} {
			ids, err := m.Encode(s, true)
			if err != nil {
				t.Fatal(err)
			}
			_ = m.Decode(ids)
		}
	})
}

func FuzzParseLlama2cBin(f *testing.F) {
	good := llama2cFixture(" ", "a", "b", "ab", " ab")
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(good[:10])
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := parseLlama2c("fuzz.bin", data, 0)
		if err != nil {
			if !IsFormatError(err) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		ids, _ := tok.Encode("ab ab\n🦙", true)
		_ = tok.Decode(ids)
	})
}

// FuzzRoundTrip: for valid UTF-8 text, decoding the encoding gives the text back, and a
// stream decoder fed the ids one by one prints exactly that, one whole character at a time.
func FuzzRoundTrip(f *testing.F) {
	qwen, err := parseHFJSON("qwen2-fixture.json", qwen2FixtureJSON(true), nil)
	if err != nil {
		f.Fatal(err)
	}
	bin, err := parseLlama2c("fixture.bin", llama2cFixture(" ", "a", "b", "ab", " ab", "é"), 0)
	if err != nil {
		f.Fatal(err)
	}
	spmDir := f.TempDir()
	// tokenizer.json written from the fixture: the SentencePiece tokenizer.json path.
	hfData, err := bin.hfJSON()
	if err != nil {
		f.Fatal(err)
	}
	spm, err := parseHFJSON(spmDir+"/tokenizer.json", hfData, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", " ", "lower newer 010;}\n", "  ab  ab\t\n", "é🦙镇 ", "<|endoftext|>x", "\x00\x7f", "'s 'LL  \r\n\r\n  x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		check := func(name string, tok Tokenizer, addSpecial bool, want string) {
			ids, err := tok.Encode(s, addSpecial)
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Decode(ids); got != want {
				t.Fatalf("%s: Decode(Encode(%q)) = %q", name, s, got)
			}
			d := tok.NewStreamDecoder()
			var b strings.Builder
			for _, id := range ids {
				piece := d.Push(id)
				if !utf8.ValidString(piece) {
					t.Fatalf("%s: stream emitted invalid UTF-8 %q", name, piece)
				}
				b.WriteString(piece)
			}
			b.WriteString(d.Flush())
			if b.String() != want {
				t.Fatalf("%s: stream gives %q, want %q", name, b.String(), want)
			}
		}
		if !strings.Contains(s, "<|endoftext|>") {
			check("qwen2 fixture", qwen, false, qwenNFC(qwen, s))
		}
		check("llama2c fixture", bin, true, s)
		if !strings.Contains(s, "<s>") && !strings.Contains(s, "</s>") && !strings.Contains(s, "<unk>") && !strings.Contains(s, "\u2581") {
			check("spm tokenizer.json", spm, false, s)
			a, _ := bin.Encode(s, true)
			b, _ := spm.Encode(s, true)
			if !equalIDs(a, b) {
				t.Fatalf("tokenizer.json from .bin encodes %q as %v, .bin as %v", s, b, a)
			}
		}
	})
}

func qwenNFC(m *bpeModel, s string) string {
	for _, f := range m.normalizers {
		s = f(s)
	}
	return s
}

// FuzzSplitters: the hand-written scanners and regexp2 cut every string the same way.
func FuzzSplitters(f *testing.F) {
	for _, s := range []string{"I'm don't won't", "In 2024 there are 366 days", "Hello!! ...world", "Hello    World",
		"Hello\nWorld", "Hello, WORLD!! How's it going?", " \n \r\n\t x", "a  \t\n\n  b", "'S'T'RE'Ve", "1234567 12",
		"\u00a0word \u3000x", "镇🦙Ꙋ", "x\x80\xff y", "  ", " ", "(Lama", "?!\n\n"} {
		f.Add(s)
	}
	type pair struct {
		name string
		fast splitter
		re   *regexSplitter
	}
	var pairs []pair
	for _, p := range []struct{ name, pattern string }{{"llama3", patternLlama3}, {"qwen2", patternQwen2}, {"gpt2", patternGPT2}} {
		fast, _ := newSplitter(p.pattern)
		re, err := newRegexSplitter(p.pattern)
		if err != nil {
			f.Fatal(err)
		}
		pairs = append(pairs, pair{p.name, fast, re})
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // regexp2 works on runes; invalid bytes are covered by the round-trip tests
		}
		for _, p := range pairs {
			a := splitAll(p.fast, s)
			b := splitAll(p.re, s)
			if strings.Join(a, "\x00|") != strings.Join(b, "\x00|") {
				t.Fatalf("%s: scanner %q, regexp2 %q", p.name, a, b)
			}
		}
	})
}

func FuzzParseVocabMerges(f *testing.F) {
	f.Add([]byte(`{"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3}`), []byte("#version: 0.2\na b\n"))
	f.Add([]byte(`{"a": 0}`), []byte("a a\n"))
	f.Add([]byte(`[]`), []byte("x"))
	f.Add([]byte(`{"l":0,"o":1,"w":2,"Ġ":3,"Ġl":4,"Ġlo":5}`), []byte("#version: 0.2\nĠ l\nĠl o\n\n"))
	f.Fuzz(func(t *testing.T, vocab, merges []byte) {
		m, err := parseVocabMerges("vocab.json", vocab, "merges.txt", merges, nil, "", false)
		if err != nil {
			if !IsFormatError(err) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		for _, s := range []string{"", "low lower", "<|endoftext|>ab"} {
			ids, _ := m.Encode(s, true)
			_ = m.Decode(ids)
		}
	})
}

func FuzzParseTokenizerConfig(f *testing.F) {
	f.Add([]byte(`{"add_bos_token": true, "bos_token": {"content": "<s>"}, "eos_token": "</s>"}`))
	f.Add([]byte(`{"bos_token": 5}`))
	f.Add([]byte(`{"added_tokens_decoder": {"1": {"content": "<s>", "special": true}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseConfig("tokenizer_config.json", data)
		if err != nil {
			if !IsFormatError(err) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		if _, err := parseHFJSON("tokenizer.json", qwen2FixtureJSON(true), cfg); err != nil {
			t.Fatal(err)
		}
	})
}

package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A character split over several byte tokens comes out whole, once its last byte arrives.
func TestStreamHoldsPartialCharacters(t *testing.T) {
	tok := sharedTokenizer(t, "tokenizers/llama3")
	text := "🦙Ꙋ ok 镇"
	ids, _ := tok.Encode(text, false)
	if !equalIDs(ids[:3], []int{9468, 99, 247}) {
		t.Fatalf("llama emoji ids %v", ids[:3])
	}
	d := tok.NewStreamDecoder()
	var outs []string
	for _, id := range ids {
		outs = append(outs, d.Push(id))
	}
	if outs[0] != "" || outs[1] != "" || outs[2] != "🦙" {
		t.Errorf("emoji over three tokens gave %q, want \"\", \"\", \"🦙\"", outs[:3])
	}
	if got := strings.Join(outs, "") + d.Flush(); got != text {
		t.Errorf("stream %q, want %q", got, text)
	}
	// An incomplete character at the end is flushed as U+FFFD.
	d = tok.NewStreamDecoder()
	if s := d.Push(9468); s != "" {
		t.Errorf("first byte of 🦙 gave %q", s)
	}
	if s := d.Flush(); s != "\uFFFD" {
		t.Errorf("Flush = %q, want U+FFFD", s)
	}
	// Special tokens print nothing in a stream but are text in Decode.
	d = tok.NewStreamDecoder()
	if s := d.Push(128009); s != "" {
		t.Errorf("<|eot_id|> streamed as %q", s)
	}
	if s := tok.Decode([]int{128009}); s != "<|eot_id|>" {
		t.Errorf("Decode(<|eot_id|>) = %q", s)
	}
}

// The SentencePiece space rules: llama2.c drops the space of the token after BOS; HF's Strip
// decoder drops the first space of the output; both keep later spaces.
func TestStreamLeadingSpace(t *testing.T) {
	bin := sharedTokenizer(t, "llama2c/tokenizer.bin")
	ids, _ := bin.Encode("Once upon a time", true) // [BOS ▁Once ▁upon ▁a ▁time]
	d := bin.NewStreamDecoder()
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(d.Push(id))
	}
	if b.String() != "Once upon a time" {
		t.Errorf("llama2c stream %q", b.String())
	}
	// A stream continuing after a prompt keeps the space of its first token.
	d = bin.NewStreamDecoder()
	for _, id := range ids[:3] {
		d.Push(id)
	}
	if s := d.Push(ids[3]); s != " a" {
		t.Errorf("continuation gave %q, want \" a\"", s)
	}
	mis := sharedTokenizer(t, "tokenizers/mistral7b")
	ids, _ = mis.Encode("Once upon", true)
	d = mis.NewStreamDecoder()
	b.Reset()
	for _, id := range ids {
		b.WriteString(d.Push(id))
	}
	if b.String() != "Once upon" {
		t.Errorf("mistral stream %q", b.String())
	}
}

// Every chunk a stream emits is valid UTF-8 and the chunks add up to Decode, on real text with
// many multi-byte characters.
func TestStreamEqualsDecode(t *testing.T) {
	text := sharedText(t, "text/wikitext-2-raw-test.txt")[:200000]
	text += "镇🦙Ꙋ ˈlɑːmə 世界，你好！"
	for _, rel := range []string{"tokenizers/llama3", "tokenizers/qwen3", "tokenizers/gpt2", "tokenizers/mistral7b", "llama2c/tokenizer.bin"} {
		tok := sharedTokenizer(t, rel)
		ids, _ := tok.Encode(text, false)
		d := tok.NewStreamDecoder()
		var b strings.Builder
		for _, id := range ids {
			s := d.Push(id)
			if !utf8.ValidString(s) {
				t.Fatalf("%s: invalid UTF-8 chunk %q", rel, s)
			}
			b.WriteString(s)
		}
		b.WriteString(d.Flush())
		if want := tok.Decode(ids); b.String() != want {
			t.Errorf("%s: stream differs from Decode at byte %d", rel, firstDiff(b.String(), want))
		}
	}
}

// The hand-written pre-tokenizer scanners cut real text exactly as regexp2 does with the
// patterns from the tokenizer.json files.
func TestScannersMatchRegexp2OnCorpora(t *testing.T) {
	var text string
	for _, c := range corpora {
		s := sharedText(t, c)
		text += s[:150000] + s[len(s)-50000:]
	}
	var cases []llama3JSCase
	readJSON(t, "tokenizers/cases/llama3-js.json", &cases)
	for _, c := range cases {
		text += c.Text
	}
	for _, p := range []string{patternLlama3, patternQwen2, patternGPT2} {
		fast, _ := newSplitter(p)
		re, err := newRegexSplitter(p)
		if err != nil {
			t.Fatal(err)
		}
		a, b := splitAll(fast, text), splitAll(re, text)
		if len(a) != len(b) {
			t.Errorf("%.30s: %d pieces vs regexp2 %d", p, len(a), len(b))
		}
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("%.30s: piece %d scanner %q, regexp2 %q", p, i, a[i], b[i])
			}
		}
	}
}

// Invalid UTF-8 is replaced as Rust's String::from_utf8_lossy does (HF's decoders use it).
func TestAppendValidLikeFromUTF8Lossy(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ok", "ok"},
		{"\xF0\x9F", "\uFFFD"},
		{"\xF0\x9F\xA6\x99", "🦙"},
		{"\xE2\x82a", "\uFFFDa"},
		{"\xff\xfe", "\uFFFD\uFFFD"},
		{"\xED\xA0\x80", "\uFFFD\uFFFD\uFFFD"}, // a surrogate: ED takes only 80-9F next
		{"\xC0\x80", "\uFFFD\uFFFD"},
		{"a\x80b", "a\uFFFDb"},
		{"\xF4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
	} {
		if got := string(appendValid(nil, []byte(c.in))); got != c.want {
			t.Errorf("appendValid(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Encode is safe for concurrent use (the BPE caches are shared); run with -race.
func TestConcurrentEncode(t *testing.T) {
	text := sharedText(t, "text/war-and-peace.txt")[:100000]
	for _, rel := range []string{"tokenizers/qwen3", "llama2c/tok512.bin"} {
		tok := sharedTokenizer(t, rel)
		want, _ := tok.Encode(text, true)
		done := make(chan []int)
		for k := range 4 {
			go func() {
				ids, _ := tok.Encode(text[k*1000:], true)
				ids2, _ := tok.Encode(text, true)
				_ = ids
				done <- ids2
			}()
		}
		for range 4 {
			if got := <-done; !equalIDs(got, want) {
				t.Errorf("%s: concurrent Encode differs", rel)
			}
		}
	}
}

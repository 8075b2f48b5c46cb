// Package tokenizer turns text into token ids and back for the model families rpiq runs:
// byte-level BPE from a Hugging Face tokenizer.json (Llama-3, Qwen2/3, GPT-2) or from
// vocab.json + merges.txt (GPT-2, OPT), SentencePiece-style BPE with byte fallback from a
// tokenizer.json (LLaMA-2, Mistral), and llama2.c's tokenizer.bin.
//
// Load picks the kind from the files in a model directory. Every parser validates its input and
// returns a *FormatError naming the file and the problem; none of them panics on bad input.
package tokenizer

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Tokenizer encodes text to ids and decodes ids to text. Implementations are safe for
// concurrent use.
type Tokenizer interface {
	// Encode returns the ids of text. Added and special tokens written in the text (such as
	// "<|eot_id|>") become their ids. addSpecial adds what the model's files say a sequence
	// starts and ends with (BOS for LLaMA, nothing for GPT-2 and Qwen).
	Encode(text string, addSpecial bool) ([]int, error)
	// Decode returns the text of ids. Special tokens are written as their text, as Hugging Face
	// decode does with skip_special_tokens=False (llama2.c's BOS/EOS write nothing). Invalid
	// UTF-8 becomes U+FFFD; ids outside the vocabulary are skipped.
	Decode(ids []int) string
	// NewStreamDecoder returns a decoder for text produced one token at a time.
	NewStreamDecoder() *StreamDecoder
	// BOS and EOS are the begin and end of sequence ids, or -1 when the model has none.
	BOS() int
	EOS() int
	// IsSpecial reports whether id is a special (control) token.
	IsSpecial(id int) bool
	// VocabSize is one more than the largest id.
	VocabSize() int
	// Piece is the vocabulary string of id as the model's files spell it ("Ġthe", "▁the",
	// "<|eot_id|>"), or "" for an unknown id.
	Piece(id int) string
}

// FormatError reports a tokenizer file that cannot be used.
type FormatError struct {
	File    string
	Problem string
}

func (e *FormatError) Error() string { return e.File + ": " + e.Problem }

// BadInput marks the error as the user's input being wrong (exit status 2 in cmd/rpiq).
func (e *FormatError) BadInput() bool { return true }

func formatErr(file, format string, a ...any) *FormatError {
	return &FormatError{File: file, Problem: fmt.Sprintf(format, a...)}
}

// spaceRule says how a SentencePiece-style decoder drops the space that encoding prepended.
type spaceRule int

const (
	keepSpaces    spaceRule = iota
	stripAtStart            // HF Strip/Metaspace decoder: leading spaces of the whole output
	stripAfterBOS           // llama2.c: the leading space of the piece right after BOS
)

// vocabText is what decoding needs: each id's bytes, which ids are special, and the space rule.
type vocabText struct {
	pieces   []string
	tokBytes [][]byte // decoded bytes of each id
	special  []bool
	bos, eos int
	rule     spaceRule
	stripN   int // spaces stripped at start for stripAtStart
}

func (v *vocabText) BOS() int       { return v.bos }
func (v *vocabText) EOS() int       { return v.eos }
func (v *vocabText) VocabSize() int { return len(v.pieces) }

func (v *vocabText) IsSpecial(id int) bool {
	return id >= 0 && id < len(v.special) && v.special[id]
}

func (v *vocabText) Piece(id int) string {
	if id < 0 || id >= len(v.pieces) {
		return ""
	}
	return v.pieces[id]
}

func (v *vocabText) Decode(ids []int) string {
	d := StreamDecoder{v: v, renderSpecial: true, prev: -1, stripLeft: v.stripN}
	var out []byte
	for _, id := range ids {
		d.push(id)
	}
	out = d.flushAll(out)
	return string(out)
}

func (v *vocabText) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{v: v, prev: -1, stripLeft: v.stripN}
}

// StreamDecoder turns ids into text as they are generated. Push returns only whole UTF-8
// characters, holding back the bytes of a character split across tokens. Special tokens
// produce no text. The SentencePiece leading-space rule applies to the start of the stream
// (and, for llama2.c vocabularies, to the token after each BOS), so push the prompt's ids
// first, including BOS, and discard what they print if the prompt is not to be echoed.
type StreamDecoder struct {
	v             *vocabText
	renderSpecial bool
	pending       []byte
	prev          int
	stripLeft     int
}

// Push adds one id and returns the text that is now complete.
func (d *StreamDecoder) Push(id int) string {
	d.push(id)
	return string(d.complete())
}

// Flush returns whatever is held back (an incomplete character becomes U+FFFD).
func (d *StreamDecoder) Flush() string { return string(d.flushAll(nil)) }

func (d *StreamDecoder) push(id int) {
	v := d.v
	prev := d.prev
	d.prev = id
	if id < 0 || id >= len(v.tokBytes) {
		return
	}
	if v.special[id] && !d.renderSpecial {
		return
	}
	b := v.tokBytes[id]
	switch v.rule {
	case stripAfterBOS:
		if prev == v.bos && len(b) > 0 && b[0] == ' ' {
			b = b[1:]
		}
	case stripAtStart:
		for d.stripLeft > 0 && len(b) > 0 && b[0] == ' ' {
			b = b[1:]
			d.stripLeft--
		}
		if len(b) > 0 {
			d.stripLeft = 0
		}
	}
	d.pending = append(d.pending, b...)
}

// complete removes and returns the longest prefix of pending that holds no incomplete
// character; invalid bytes become U+FFFD.
func (d *StreamDecoder) complete() []byte {
	p := d.pending
	i := 0
	for i < len(p) {
		if p[i] < utf8.RuneSelf {
			i++
			continue
		}
		if !utf8.FullRune(p[i:]) {
			break
		}
		_, w := utf8.DecodeRune(p[i:])
		i += w
	}
	out := appendValid(nil, p[:i])
	d.pending = append(d.pending[:0], p[i:]...)
	return out
}

func (d *StreamDecoder) flushAll(out []byte) []byte {
	out = append(out, d.complete()...)
	out = appendValid(out, d.pending)
	d.pending = d.pending[:0]
	return out
}

// appendValid appends p with invalid UTF-8 replaced as Rust's from_utf8_lossy (and the
// Unicode standard's "maximal subpart" practice) does: each maximal prefix of a valid
// sequence, or each lone bad byte, becomes one U+FFFD.
func appendValid(out, p []byte) []byte {
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		if r, w := utf8.DecodeRune(p[i:]); r != utf8.RuneError || w > 1 {
			out = append(out, p[i:i+w]...)
			i += w
			continue
		}
		n, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			n = 2
		case c == 0xE0:
			n, lo = 3, 0xA0
		case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
			n = 3
		case c == 0xED:
			n, hi = 3, 0x9F
		case c == 0xF0:
			n, lo = 4, 0x90
		case c >= 0xF1 && c <= 0xF3:
			n = 4
		case c == 0xF4:
			n, hi = 4, 0x8F
		}
		k := 1
		for k < n && i+k < len(p) && p[i+k] >= lo && p[i+k] <= hi {
			k++
			lo, hi = 0x80, 0xBF
		}
		out = append(out, "\uFFFD"...)
		i += k
	}
	return out
}

// addedToken is a token matched in raw text before any other processing.
type addedToken struct {
	content        string
	id             int
	lstrip, rstrip bool // the match also takes the whitespace on its left / right
}

// addedMatcher splits text around added tokens, taking the longest match at the earliest
// position (HF's leftmost-longest rule).
type addedMatcher struct {
	byFirst [256][]addedToken // longest first
	any     bool
}

func newAddedMatcher(toks []addedToken) *addedMatcher {
	m := &addedMatcher{}
	for _, t := range toks {
		if t.content == "" {
			continue
		}
		f := t.content[0]
		l := append(m.byFirst[f], t)
		// insertion keeps the list sorted longest first; ties keep file order
		for i := len(l) - 1; i > 0 && len(l[i].content) > len(l[i-1].content); i-- {
			l[i], l[i-1] = l[i-1], l[i]
		}
		m.byFirst[f] = l
		m.any = true
	}
	return m
}

// segment is a piece of text to tokenize (id < 0) or an added token's id.
type segment struct {
	text string
	id   int
}

func (m *addedMatcher) split(text string) []segment {
	if !m.any {
		return []segment{{text: text, id: -1}}
	}
	var segs []segment
	last := 0
	for i := 0; i < len(text); i++ {
		cands := m.byFirst[text[i]]
		if cands == nil {
			continue
		}
		for _, t := range cands {
			if len(text)-i >= len(t.content) && text[i:i+len(t.content)] == t.content {
				start, end := i, i+len(t.content)
				if t.lstrip {
					for start > last {
						r, w := utf8.DecodeLastRuneInString(text[last:start])
						if !unicode.IsSpace(r) {
							break
						}
						start -= w
					}
				}
				if t.rstrip {
					for end < len(text) {
						r, w := utf8.DecodeRuneInString(text[end:])
						if !unicode.IsSpace(r) {
							break
						}
						end += w
					}
				}
				if start > last {
					segs = append(segs, segment{text: text[last:start], id: -1})
				}
				segs = append(segs, segment{id: t.id})
				last = end
				i = last - 1
				break
			}
		}
	}
	if last < len(text) {
		segs = append(segs, segment{text: text[last:], id: -1})
	}
	return segs
}

package tokenizer

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// The pre-tokenizer cuts text into pieces before BPE. HF tokenizers run a regex with
// leftmost-first alternation; Go's regexp cannot compile the patterns' `\s+(?!\S)` lookahead, so
// the three patterns in real use (Llama-3, Qwen2/3, GPT-2) have hand-written scanners below, and
// any other pattern goes through regexp2 (backtracking, .NET syntax). Tests check that the
// scanners and regexp2 agree on real text and fuzzed strings.

// The exact patterns as they appear in tokenizer.json files.
const (
	patternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patternQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patternGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
)

// splitter calls emit with each piece of s in order. Pieces are substrings of s and cover it
// exactly.
type splitter interface {
	each(s string, emit func(string))
}

// splitAll collects the pieces of s.
func splitAll(sp splitter, s string) []string {
	var out []string
	sp.each(s, func(p string) { out = append(out, p) })
	return out
}

// newSplitter returns the fastest splitter equal to the regex pattern.
func newSplitter(pattern string) (splitter, error) {
	switch pattern {
	case patternLlama3:
		return llama3Scanner{maxDigits: 3}, nil
	case patternQwen2:
		return llama3Scanner{maxDigits: 1}, nil
	case patternGPT2:
		return gpt2Scanner{}, nil
	}
	return newRegexSplitter(pattern)
}

// regexSplitter is the generic fallback: every match is a piece and so is every gap between
// matches (HF's Split behaviour "Isolated").
type regexSplitter struct{ re *regexp2.Regexp }

func newRegexSplitter(pattern string) (*regexSplitter, error) {
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("pre-tokenizer regex %q: %v", pattern, err)
	}
	// A pathological pattern must not hang encoding: past the timeout the rest of the text
	// becomes one piece.
	re.MatchTimeout = 2 * time.Second
	return &regexSplitter{re: re}, nil
}

func (r *regexSplitter) each(s string, emit func(string)) {
	if s == "" {
		return
	}
	runes := []rune(s)
	// offs[k] is the byte offset of rune k; []rune(s) and range agree on invalid bytes
	// (one U+FFFD per byte).
	offs := make([]int, 0, len(runes)+1)
	for i := range s {
		offs = append(offs, i)
	}
	offs = append(offs, len(s))
	last := 0
	m, err := r.re.FindRunesMatch(runes)
	for err == nil && m != nil {
		start, end := offs[m.Index], offs[m.Index+m.Length]
		if start > last {
			emit(s[last:start])
		}
		if end > start {
			emit(s[start:end])
		}
		last = end
		m, err = r.re.FindNextMatch(m)
	}
	if last < len(s) {
		emit(s[last:])
	}
}

// Character classes of the patterns. Invalid UTF-8 decodes to utf8.RuneError with width 1,
// which is a symbol (neither letter, number nor space), so raw bytes survive pre-tokenization.

var asciiClass [128]uint8

const (
	clLetter = 1 << iota
	clNumber
	clSpace
)

func init() {
	for c := 0; c < 128; c++ {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			asciiClass[c] = clLetter
		case unicode.IsNumber(r):
			asciiClass[c] = clNumber
		case unicode.IsSpace(r):
			asciiClass[c] = clSpace
		}
	}
}

func class(r rune) uint8 {
	if r < 128 {
		return asciiClass[r]
	}
	switch {
	case unicode.IsLetter(r):
		return clLetter
	case unicode.IsNumber(r):
		return clNumber
	case unicode.IsSpace(r):
		return clSpace
	}
	return 0
}

func runeAt(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// classAt is the class of the rune at i, and its width; past the end it reports (0xFF, 0).
func classAt(s string, i int) (uint8, int) {
	if i >= len(s) {
		return 0xFF, 0
	}
	r, w := runeAt(s, i)
	return class(r), w
}

// scanClass returns the end of the run of runes of class cl starting at i (at most max runes
// when max > 0).
func scanClass(s string, i int, cl uint8, max int) int {
	for n := 0; i < len(s) && (max <= 0 || n < max); n++ {
		c, w := classAt(s, i)
		if c != cl {
			break
		}
		i += w
	}
	return i
}

// contraction returns the length of 's|'t|'re|'ve|'m|'ll|'d after the apostrophe at s[i-1], or 0.
func contraction(s string, i int, foldCase bool) int {
	lower := func(k int) byte {
		if k >= len(s) {
			return 0
		}
		c := s[k]
		if foldCase && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c
	}
	switch lower(i) {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if lower(i+1) == 'e' {
			return 2
		}
	case 'l':
		if lower(i+1) == 'l' {
			return 2
		}
	}
	return 0
}

// whitespaceEnd applies `\s+(?!\S)|\s+` to the whitespace run starting at i: a run followed by
// a non-space gives up its last character (which then prefixes the next piece), unless it is
// only one character long.
func whitespaceEnd(s string, i int) int {
	j, lastW := i, 0
	for j < len(s) {
		c, w := classAt(s, j)
		if c != clSpace {
			break
		}
		j, lastW = j+w, w
	}
	if j == len(s) || j-lastW == i {
		return j
	}
	return j - lastW
}

// llama3Scanner implements patternLlama3 (maxDigits 3) and patternQwen2 (maxDigits 1):
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,maxDigits} |
//	 ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
type llama3Scanner struct{ maxDigits int }

func (sc llama3Scanner) each(s string, emit func(string)) {
	for i := 0; i < len(s); {
		j := sc.match(s, i)
		emit(s[i:j])
		i = j
	}
}

func (sc llama3Scanner) match(s string, i int) int {
	r, w := runeAt(s, i)
	if r == '\'' {
		if n := contraction(s, i+1, true); n > 0 {
			return i + 1 + n
		}
	}
	cl := class(r)
	switch cl {
	case clLetter:
		return scanClass(s, i+w, clLetter, 0)
	case clNumber:
		return scanClass(s, i, clNumber, sc.maxDigits)
	}
	// r is a symbol or whitespace: [^\r\n\p{L}\p{N}]?\p{L}+
	if r != '\r' && r != '\n' {
		if c, _ := classAt(s, i+w); c == clLetter {
			return scanClass(s, i+w, clLetter, 0)
		}
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	start := -1
	if cl == 0 {
		start = i
	} else if r == ' ' {
		if c, _ := classAt(s, i+1); c == 0 {
			start = i + 1
		}
	}
	if start >= 0 {
		j := scanClass(s, start, 0, 0)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	// Whitespace. `\s*[\r\n]+` ends after the run's last newline, if it has one.
	lastNL := -1
	for j := i; j < len(s); {
		c, w := classAt(s, j)
		if c != clSpace {
			break
		}
		if s[j] == '\r' || s[j] == '\n' {
			lastNL = j
		}
		j += w
	}
	if lastNL >= 0 {
		return lastNL + 1
	}
	return whitespaceEnd(s, i)
}

// gpt2Scanner implements patternGPT2:
//
//	's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
type gpt2Scanner struct{}

func (gpt2Scanner) each(s string, emit func(string)) {
	for i := 0; i < len(s); {
		j := gpt2Match(s, i)
		emit(s[i:j])
		i = j
	}
}

func gpt2Match(s string, i int) int {
	r, w := runeAt(s, i)
	if r == '\'' {
		if n := contraction(s, i+1, false); n > 0 {
			return i + 1 + n
		}
	}
	cl := class(r)
	if cl != clSpace {
		return scanClass(s, i+w, cl, 0)
	}
	if r == ' ' {
		if c, _ := classAt(s, i+1); c != clSpace && c != 0xFF {
			return scanClass(s, i+1, c, 0)
		}
	}
	return whitespaceEnd(s, i)
}

package speech

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Splitter cuts a streamed answer into sentences: Push returns each sentence as soon as the text
// so far completes it, so the first one can be spoken while the rest is still being generated.
//
// A sentence ends at '.', '!' or '?' followed by a space (not after a common abbreviation or a
// single capital letter, as in "Dr. Smith" or "J. Smith"), or at a line break (OCR hands over a
// line at a time). A run without any end is cut at a comma or space after MaxSentence bytes, so a
// list with no full stops does not delay speech.
type Splitter struct {
	buf strings.Builder
}

// MaxSentence bounds how much text waits for a sentence end.
const MaxSentence = 240

var abbreviations = map[string]bool{
	"dr": true, "mr": true, "mrs": true, "ms": true, "st": true, "no": true, "vs": true, "etc": true,
	"e.g": true, "i.e": true, "approx": true, "prof": true, "jr": true, "sr": true, "mt": true,
}

// Push adds text and returns the sentences it completed.
func (s *Splitter) Push(text string) []string {
	s.buf.WriteString(text)
	var out []string
	for {
		cur := s.buf.String()
		end := sentenceEnd(cur)
		if end < 0 {
			if len(cur) > MaxSentence {
				end = softBreak(cur)
			} else {
				return out
			}
		}
		if t := strings.TrimSpace(cur[:end]); t != "" {
			out = append(out, t)
		}
		rest := cur[end:]
		s.buf.Reset()
		s.buf.WriteString(rest)
	}
}

// Flush returns what is left (the end of the answer) as a last sentence, or "".
func (s *Splitter) Flush() string {
	t := strings.TrimSpace(s.buf.String())
	s.buf.Reset()
	return t
}

// sentenceEnd returns the index just after the first complete sentence of s, or -1.
func sentenceEnd(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			return i + 1
		case '.', '!', '?':
			j := i + 1
			for j < len(s) && (s[j] == '.' || s[j] == '!' || s[j] == '?' || s[j] == '"' || s[j] == '\'' || s[j] == ')') {
				j++
			}
			if j >= len(s) {
				return -1 // the stream may continue the number or the abbreviation
			}
			r, _ := utf8.DecodeRuneInString(s[j:])
			if !unicode.IsSpace(r) {
				i = j - 1
				continue
			}
			if s[i] == '.' && isAbbreviation(s[:i]) {
				continue
			}
			return j
		}
	}
	return -1
}

func isAbbreviation(before string) bool {
	k := strings.LastIndexFunc(before, unicode.IsSpace)
	w := before[k+1:]
	if utf8.RuneCountInString(w) == 1 {
		r, _ := utf8.DecodeRuneInString(w)
		return unicode.IsUpper(r)
	}
	return abbreviations[strings.ToLower(w)]
}

// softBreak picks where to cut an over-long run: after the last comma, else the last space.
func softBreak(s string) int {
	head := s[:MaxSentence]
	if i := strings.LastIndexAny(head, ",;:"); i > MaxSentence/3 {
		return i + 1
	}
	if i := strings.LastIndexByte(head, ' '); i > 0 {
		return i + 1
	}
	i := MaxSentence
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	if i == 0 {
		return MaxSentence
	}
	return i
}

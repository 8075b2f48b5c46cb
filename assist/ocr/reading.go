package ocr

import (
	"strings"
	"unicode"
)

// Reading is what the assistant says for "read this": the text verbatim, in reading order, one
// line per sentence, with the words Tesseract is unsure of spoken as guesses.
type Reading struct {
	Text       string   // what to speak; NoText when there is none
	Found      bool     // some text was read
	Confidence float64  // 0..1: mean confidence of the words kept
	Unsure     []string // the hedged words
}

// NoText is said when the picture holds no readable text.
const NoText = "I can't find any text. Try holding it closer, in good light."

// noiseConfidence: pictures without text make Tesseract "read" a few shapes as words at low
// confidence. Below this mean, the words are taken for noise rather than spoken as text.
const noiseConfidence = 35

// Read turns a result into speech. Words below minConf (0..100) are hedged: "maybe" before
// them, and they are listed at the end, because a misread expiry date or dose spoken as fact is
// worse than a doubt said aloud. Words that are only punctuation or marks are dropped.
func (r Result) Read(minConf float64) Reading {
	var kept []Word
	for _, w := range r.Words {
		if hasAlnum(w.Text) {
			kept = append(kept, w)
		}
	}
	if len(kept) == 0 {
		return Reading{Text: NoText}
	}
	sum := 0.0
	for _, w := range kept {
		sum += w.Confidence
	}
	mean := sum / float64(len(kept))
	if mean < noiseConfidence {
		return Reading{Text: NoText, Confidence: mean / 100}
	}
	var b strings.Builder
	var unsure []string
	for i, w := range kept {
		if i > 0 {
			if w.LineStart || w.ParaStart || w.BlockStart {
				b.WriteString("\n")
			} else {
				b.WriteString(" ")
			}
		}
		if w.Confidence < minConf {
			b.WriteString("maybe ")
			unsure = append(unsure, w.Text)
		}
		b.WriteString(w.Text)
	}
	text := b.String()
	if len(unsure) > 0 {
		if len(unsure) > len(kept)/2 {
			text = "This is hard to read, so it may be wrong.\n" + text
		}
		text += "\nI am not sure of: " + strings.Join(unsure, ", ") + "."
	}
	return Reading{Text: text, Found: true, Confidence: mean / 100, Unsure: unsure}
}

func hasAlnum(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

// CER is the character error rate of got against want: the edit distance (insertions, deletions,
// substitutions of characters) divided by the length of want, after collapsing all runs of
// whitespace to one space, so line breaks and spacing do not count.
func CER(got, want string) float64 {
	g := []rune(strings.Join(strings.Fields(got), " "))
	w := []rune(strings.Join(strings.Fields(want), " "))
	if len(w) == 0 {
		if len(g) == 0 {
			return 0
		}
		return 1
	}
	prev := make([]int, len(w)+1)
	cur := make([]int, len(w)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(g); i++ {
		cur[0] = i
		for j := 1; j <= len(w); j++ {
			c := 1
			if g[i-1] == w[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return float64(prev[len(w)]) / float64(len(w))
}

// WordRecall is the fraction of want's words (as a multiset, punctuation kept) that got also
// contains, wherever they are. Scanned pages in several columns have ground truth in zone order,
// which Tesseract's reading order need not follow; recall measures the reading itself.
func WordRecall(got, want string) float64 {
	have := map[string]int{}
	for _, w := range strings.Fields(got) {
		have[w]++
	}
	ws := strings.Fields(want)
	if len(ws) == 0 {
		return 1
	}
	found := 0
	for _, w := range ws {
		if have[w] > 0 {
			have[w]--
			found++
		}
	}
	return float64(found) / float64(len(ws))
}

package ocr

import (
	"strings"
	"unicode"
)

// NoText is said when the picture holds no readable text (and no framing cue says why).
const NoText = "I can't find any text. Try holding it closer, in good light."

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

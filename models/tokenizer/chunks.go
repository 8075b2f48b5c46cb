package tokenizer

import "strings"

// SentencePiece-style BPE has no pre-tokenizer: HF runs BPE over a whole text fragment and
// llama2.c over the whole prompt, which is slow on a book and defeats caching. When every
// vocabulary piece has the shape marker* non-marker* (word pieces start with "▁" and never
// hold one after other characters — true of LLaMA-2, Mistral and tok512), no token can span a
// point where a marker follows a non-marker character, so merges on either side never
// interact and the text can be cut there without changing the result.

// chunkable reports whether every piece has the shape marker* (non-marker)*.
func chunkable(pieces []string, marker string) bool {
	for _, p := range pieces {
		q := p
		for strings.HasPrefix(q, marker) {
			q = q[len(marker):]
		}
		if strings.Contains(q, marker) {
			return false
		}
	}
	return true
}

// eachChunk calls emit with the parts of s cut before each marker that follows a non-marker
// character.
func eachChunk(s, marker string, emit func(string)) {
	start := 0
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], marker)
		if k < 0 {
			break
		}
		k += i
		if k > start && !strings.HasSuffix(s[start:k], marker) {
			emit(s[start:k])
			start = k
		}
		i = k + len(marker)
	}
	emit(s[start:])
}

package tokenizer

import (
	"path/filepath"
	"testing"
)

// BenchmarkEncodeWarAndPeace measures encode throughput (MB/s) on War and Peace (3.2 MB) for
// every tokenizer. The BPE caches are warm after the first iteration, as they are in a
// long-running process.
func BenchmarkEncodeWarAndPeace(b *testing.B) {
	for _, rel := range []string{"tokenizers/llama3", "tokenizers/qwen3", "tokenizers/mistral7b", "tokenizers/gpt2", "llama2c/tokenizer.bin"} {
		b.Run(filepath.Base(rel), func(b *testing.B) {
			tok := sharedTokenizer(b, rel)
			text := sharedText(b, "text/war-and-peace.txt")
			b.SetBytes(int64(len(text)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := tok.Encode(text, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeWarAndPeace(b *testing.B) {
	tok := sharedTokenizer(b, "tokenizers/llama3")
	text := sharedText(b, "text/war-and-peace.txt")
	ids, _ := tok.Encode(text, false)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		_ = tok.Decode(ids)
	}
}

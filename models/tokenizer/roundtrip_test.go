package tokenizer

import (
	"path/filepath"
	"testing"
	"time"
)

var corpora = []string{"text/wikitext-2-raw-test.txt", "text/war-and-peace.txt"}

// TestRoundTripCorpora: decode(encode(x)) == x on WikiText-2 (raw) and War and Peace for every
// tokenizer in tokenizers/ and for llama2.c's tokenizer.bin. What round-trips exactly:
//   - byte-level BPE (llama3, qwen3, gpt2): Decode(Encode(x, false)) == x (Qwen's NFC leaves
//     these texts unchanged);
//   - SentencePiece tokenizer.json (mistral7b): Decode(Encode(x, false)) == x, the Strip
//     decoder removing the space the Prepend normalizer added; with BOS, Decode renders
//     "<s>" and keeps that space, as HF does, so Decode(ids[1:]) == x;
//   - llama2.c tokenizer.bin: Decode(Encode(x, true)) == x, the space after BOS being dropped
//     as run.c does; without BOS the dummy-prefix space stays: " " + x.
func TestRoundTripCorpora(t *testing.T) {
	toks := []string{"tokenizers/llama3", "tokenizers/qwen3", "tokenizers/mistral7b", "tokenizers/gpt2", "llama2c/tokenizer.bin", "llama2c/tok512.bin"}
	for _, rel := range toks {
		for _, c := range corpora {
			t.Run(filepath.Base(rel)+"/"+filepath.Base(c), func(t *testing.T) {
				tok := sharedTokenizer(t, rel)
				text := sharedText(t, c)
				start := time.Now()
				_, isLlama2c := tok.(*llama2cTokenizer)
				ids, err := tok.Encode(text, isLlama2c)
				if err != nil {
					t.Fatal(err)
				}
				el := time.Since(start)
				got := tok.Decode(ids)
				if got != text {
					t.Fatalf("round trip differs at byte %d of %d", firstDiff(got, text), len(text))
				}
				if isLlama2c {
					if s := tok.Decode(ids[1:]); s != " "+text {
						t.Errorf("without BOS the dummy-prefix space must stay")
					}
				}
				t.Logf("%d bytes -> %d tokens in %v (%.1f MB/s)", len(text), len(ids), el, float64(len(text))/el.Seconds()/1e6)
			})
		}
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

package tokenizer

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
)

// TestWriteLlama2cAsHF converts tok512.bin and tokenizer.bin to tokenizer.json and checks that
// Load reads back a tokenizer that encodes exactly as the .bin does: the case files, both
// corpora and random strings.
func TestWriteLlama2cAsHF(t *testing.T) {
	var cases []llama2Case
	readJSON(t, "tokenizers/cases/llama2-js.json", &cases)
	var binCases []llama2Case
	readJSON(t, "llama2c/expected/tokenizer-bin-cases.json", &binCases)
	for _, rel := range []string{"llama2c/tok512.bin", "llama2c/tokenizer.bin"} {
		t.Run(filepath.Base(rel), func(t *testing.T) {
			bin := sharedTokenizer(t, rel)
			dir := t.TempDir()
			if err := WriteLlama2cAsHF(shareddata.Path(t, rel), dir); err != nil {
				t.Fatal(err)
			}
			hf, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := hf.(*bpeModel); !ok {
				t.Fatalf("Load(dir) gave %T, want the tokenizer.json reader", hf)
			}
			if hf.BOS() != 1 || hf.EOS() != 2 || hf.VocabSize() != bin.VocabSize() || !hf.IsSpecial(1) {
				t.Errorf("BOS %d EOS %d size %d/%d", hf.BOS(), hf.EOS(), hf.VocabSize(), bin.VocabSize())
			}
			texts := []string{"", " ", "  ", "           grabbed", "a  b   c    d", strings.Repeat(" ", 40) + "x", "\n\n\t x"}
			for _, c := range append(cases, binCases...) {
				texts = append(texts, c.Text)
			}
			for _, c := range corpora {
				texts = append(texts, sharedText(t, c))
			}
			rng := rand.New(rand.NewPCG(1, 2))
			alphabet := []rune(" \n\taeiostnrl.,'é镇🦙  ")
			for range 300 {
				r := make([]rune, rng.IntN(30))
				for i := range r {
					r[i] = alphabet[rng.IntN(len(alphabet))]
				}
				texts = append(texts, string(r))
			}
			for _, s := range texts {
				if strings.Contains(s, "<s>") || strings.Contains(s, "</s>") || strings.Contains(s, "<unk>") {
					// The one designed difference: HF splits its added tokens out of text.
					got, _ := hf.Encode(s, false)
					if !strings.HasPrefix(s, "<s>") || got[0] != 1 {
						t.Errorf("tokenizer.json: literal <s> should be id 1, got %v", got)
					}
					continue
				}
				want, _ := bin.Encode(s, true)
				got, _ := hf.Encode(s, true)
				if !equalIDs(got, want) {
					k := 0
					for k < len(got) && k < len(want) && got[k] == want[k] {
						k++
					}
					t.Fatalf("text %.40q (%d bytes): tokenizer.json and .bin differ at token %d: %v vs %v", s, len(s), k, got[k:min(k+5, len(got))], want[k:min(k+5, len(want))])
				}
				if len(s) > 10000 {
					continue // streams are checked on the short texts
				}
				// Streams print the same text.
				a, b := bin.NewStreamDecoder(), hf.NewStreamDecoder()
				var sa, sb strings.Builder
				for _, id := range want {
					sa.WriteString(a.Push(id))
					sb.WriteString(b.Push(id))
				}
				sa.WriteString(a.Flush())
				sb.WriteString(b.Flush())
				if sa.String() != s || sb.String() != s {
					t.Fatalf("stream of %.40q: .bin %.40q, tokenizer.json %.40q", s, sa.String(), sb.String())
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "tokenizer_config.json")); err != nil {
				t.Error(err)
			}
		})
	}
}

package bench

import (
	"testing"

	"github.com/rpiq/rpiq/models/smolvlm"
)

// SmolVLM on a tiny size (widths the packed layout takes): every figure is measured.
func TestSmolVLMTiny(t *testing.T) {
	s := smolvlm.TinySizes
	s.HeadDim, s.Heads, s.KVHeads, s.Hidden = 16, 4, 2, 64
	r, err := SmolVLM(SmolVLMOptions{Sizes: []smolvlm.Sizes{s}, Threads: 1, DecodeSteps: 2, TextTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 1 || !(r[0].ImageToFirstToken > 0) || !(r[0].DecodeTokS > 0) || !(r[0].HeapMB > 0) || !(r[0].OrinDecodeTokS > 0) {
		t.Fatalf("bench result %+v", r)
	}
}

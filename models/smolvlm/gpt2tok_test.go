package smolvlm

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/tokenizer"
)

// The cut GPT-2 tokenizer encodes text as GPT-2 itself does (loaded from the shared vocab.json
// and merges.txt) wherever GPT-2's ids stay below the cut, and SmolVLM's added tokens are one
// id each, where the 256M configuration has them.
func TestWriteGPT2Tokenizer(t *testing.T) {
	src := shareddata.Path(t, "tokenizers/gpt2")
	vocab, err := os.ReadFile(filepath.Join(src, "vocab.json"))
	if err != nil {
		t.Fatal(err)
	}
	merges, err := os.ReadFile(filepath.Join(src, "merges.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteGPT2Tokenizer(dir, Sizes256M, vocab, merges); err != nil {
		t.Fatal(err)
	}
	ours, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	gpt2, err := tokenizer.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"What is in front of me? Describe it briefly, the most important thing first.",
		"A small object detector found (it may be wrong): a dog ahead, close; a bicycle on your left.", " naïve café 12:30\n\ttabs"} {
		want, err := gpt2.Encode(text, false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ours.Encode(text, false)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Max(want) < Sizes256M.Vocab-128 && !slices.Equal(got, want) {
			t.Errorf("%q: %v, GPT-2 %v", text, got, want)
		}
		if back := ours.Decode(got); back != text {
			t.Errorf("decode(encode(%q)) = %q", text, back)
		}
	}
	// A word whose GPT-2 id is above the cut is spelled with smaller pieces.
	if ids, _ := ours.Encode(" Hogwarts Bergen", false); slices.Max(ids) >= Sizes256M.Vocab-128 {
		t.Errorf("ids %v reach the added range", ids)
	}
	p, err := ExpandImage(ChatPrompt("What is this?", true), 2, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ours.Encode(p, false)
	if err != nil {
		t.Fatal(err)
	}
	count := func(id int) int {
		n := 0
		for _, x := range ids {
			if x == id {
				n++
			}
		}
		return n
	}
	want := map[int]int{Sizes256M.ImageTokenID: 6, Sizes256M.ImageTokenID - 1: 4, Sizes256M.Vocab - 128: 1,
		Sizes256M.ImageTokenID + 1: 1, Sizes256M.Vocab - 1: 1, Sizes256M.Vocab - 127: 1, Sizes256M.Vocab - 126: 1}
	for id, n := range want {
		if c := count(id); c != n {
			t.Errorf("id %d appears %d times in %q's ids, want %d", id, c, p, n)
		}
	}
	if ours.BOS() != Sizes256M.ImageTokenID+1 {
		t.Errorf("BOS %d", ours.BOS())
	}
}

package cogvlm2

import (
	"context"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/sample"
)

// tinyVQA writes a random tiny model with the real Llama-3 tokenizer and opens it.
func tinyVQA(t testing.TB, s Sizes, seed uint64) (*VQA, string) {
	t.Helper()
	tokDir := shareddata.Path(t, "tokenizers/llama3")
	dir := t.TempDir()
	if _, err := WriteRandom(dir, s, seed); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(tokDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	q, closer, err := OpenVQA(dir, cpubackend.New(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closer() })
	return q, dir
}

func testImage() image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			m.Set(x, y, color.RGBA{uint8(4 * x), uint8(5 * y), uint8(x * y), 255})
		}
	}
	return m
}

// The streamed greedy answer is the argmax chain of full recomputes (no cache), with the
// prompt laid out as [BOS, image, "Question: ... Answer:"].
func TestAskGreedyEqualsRecompute(t *testing.T) {
	q, _ := tinyVQA(t, TinySizes, 21)
	img := testImage()
	o := AskOptions{MaxTokens: 5, Sample: sample.Params{Temperature: 0}}
	var got strings.Builder
	tm, err := q.Ask(context.Background(), "test", img, "What is in front of me?", o, func(s string) error {
		got.WriteString(s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tm.NewTokens+boolInt(tm.StoppedBy == "stop-id") == 0 || tm.PromptTokens == 0 {
		t.Fatalf("timings %+v", tm)
	}
	m := q.Model
	pix, err := Preprocess("test", img, m.cfg.Vision.ImageSize)
	if err != nil {
		t.Fatal(err)
	}
	emb, _ := m.EncodeImage(pix)
	text, _ := q.Tok.Encode("Question: What is in front of me? Answer:", false)
	var ids32 []int32
	for _, id := range text {
		ids32 = append(ids32, int32(id))
	}
	if len(ids32) == 0 || ids32[0] == int32(m.cfg.LM.BOSTokenID) {
		t.Fatalf("prompt ids %v: no BOS may be added to the text", ids32)
	}
	var want []int
	V := m.cfg.LM.VocabSize
	for step := 0; step < 5; step++ {
		ids, tt := BuildInput(int32(m.cfg.LM.BOSTokenID), emb.Rows(), ids32)
		s := m.NewSequence(len(ids))
		all, err := m.ForwardAll(s, Input{IDs: ids, Types: tt, Image: emb})
		if err != nil {
			t.Fatal(err)
		}
		next := sample.Argmax(all[len(all)-V:])
		if next == 128001 || next == 128009 {
			break
		}
		want = append(want, next)
		ids32 = append(ids32, int32(next))
	}
	if w := q.Tok.Decode(want); got.String() != w {
		t.Fatalf("streamed %q, recompute gives %q", got.String(), w)
	}
}

// Cancelling the context stops the answer.
func TestAskCancel(t *testing.T) {
	q, _ := tinyVQA(t, TinySizes, 22)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := q.Ask(ctx, "test", testImage(), "hi", AskOptions{MaxTokens: 50, Sample: sample.Params{Temperature: 0}}, func(string) error {
		n++
		cancel()
		return nil
	})
	if n == 0 {
		t.Skip("the random model stopped before any text")
	}
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("after cancel: %d pieces, error %v", n, err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

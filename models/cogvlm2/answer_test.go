package cogvlm2

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/sample"
)

// tinyVQA writes a random tiny model with the real Llama-3 tokenizer and opens it.
func tinyVQA(t testing.TB, s Sizes, seed uint64) (*multimodal.VQA, string) {
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
	q, closer, err := multimodal.Open(dir, cpubackend.New(0))
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
	o := multimodal.AskOptions{MaxTokens: 5, Sample: sample.Params{Temperature: 0}, TopLogprobs: 5}
	var got strings.Builder
	var steps []multimodal.Step
	tm, err := q.Ask(context.Background(), "test", img, "What is in front of me?", o, func(s multimodal.Step) error {
		got.WriteString(s.Text)
		steps = append(steps, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tm.NewTokens+boolInt(tm.StoppedBy == "stop-id") == 0 || tm.PromptTokens == 0 {
		t.Fatalf("timings %+v", tm)
	}
	m := q.Model.(*VLM).M
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
	var wantTop [][]multimodal.Logprob
	V := m.cfg.LM.VocabSize
	for step := 0; step < 5; step++ {
		ids, tt := BuildInput(int32(m.cfg.LM.BOSTokenID), emb.Rows(), ids32)
		s := m.NewSequence(len(ids))
		all, err := m.ForwardAll(s, Input{IDs: ids, Types: tt, Image: emb})
		if err != nil {
			t.Fatal(err)
		}
		last := all[len(all)-V:]
		next := sample.Argmax(last)
		if next == 128001 || next == 128009 {
			break
		}
		wantTop = append(wantTop, naiveTop(last, 5))
		want = append(want, next)
		ids32 = append(ids32, int32(next))
	}
	if w := q.Tok.Decode(want); got.String() != w {
		t.Fatalf("streamed %q, recompute gives %q", got.String(), w)
	}
	// Each step's id and top-5 log-probabilities: the recompute's, by a float64 sort.
	for i, w := range want {
		st := steps[i]
		if st.ID != int32(w) || len(st.Top) != 5 || st.Top[0].ID != st.ID {
			t.Fatalf("step %d: %+v, want id %d first of 5", i, st, w)
		}
		for j, lp := range st.Top {
			if lp.ID != wantTop[i][j].ID || math.Abs(lp.Logprob-wantTop[i][j].Logprob) > 1e-4*math.Max(1, math.Abs(wantTop[i][j].Logprob)) {
				t.Fatalf("step %d top %d: %+v, recompute %+v", i, j, lp, wantTop[i][j])
			}
		}
	}
}

// naiveTop is the k most likely ids by a full sort, with float64 log-softmax values.
func naiveTop(logits []float32, k int) []multimodal.Logprob {
	var sum float64
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	for _, v := range logits {
		sum += math.Exp(float64(v) - mx)
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	out := make([]multimodal.Logprob, k)
	for i := range out {
		out[i] = multimodal.Logprob{ID: int32(idx[i]), Logprob: float64(logits[idx[i]]) - mx - math.Log(sum)}
	}
	return out
}

// Cancelling the context stops the answer.
func TestAskCancel(t *testing.T) {
	q, _ := tinyVQA(t, TinySizes, 22)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := q.Ask(ctx, "test", testImage(), "hi", multimodal.AskOptions{MaxTokens: 50, Sample: sample.Params{Temperature: 0}}, func(multimodal.Step) error {
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

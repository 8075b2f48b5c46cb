package generate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/model"
	"github.com/rpiq/rpiq/runtime/sample"
)

// counter is a model whose most likely next token is (last token + 1) mod vocab; it records
// how many tokens each forward pass received.
type counter struct {
	vocab, maxSeq int
	calls         []int
}

func (m *counter) Info() model.Info { return model.Info{Vocab: m.vocab, MaxSeq: m.maxSeq} }
func (m *counter) NewCache(n int) backend.Cache {
	return cpubackend.New(1).NewCache(1, n, 1)
}
func (m *counter) Forward(c backend.Cache, tokens []int32, all bool) ([]float32, error) {
	if c.Len()+len(tokens) > c.Cap() {
		return nil, fmt.Errorf("cache overflow: %d+%d > %d", c.Len(), len(tokens), c.Cap())
	}
	m.calls = append(m.calls, len(tokens))
	c.SetLen(c.Len() + len(tokens))
	l := make([]float32, m.vocab)
	l[(int(tokens[len(tokens)-1])+1)%m.vocab] = 10
	return l, nil
}

func collect(t *testing.T, m model.Model, prompt []int32, o Options) ([]int32, Stats) {
	t.Helper()
	var got []int32
	st, err := Run(m, prompt, o, func(id int32) error { got = append(got, id); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got, st
}

func TestMaxTokensStopAndContext(t *testing.T) {
	m := &counter{vocab: 10, maxSeq: 100}
	got, st := collect(t, m, []int32{4, 5}, Options{MaxTokens: 4})
	if fmt.Sprint(got) != "[6 7 8 9]" || st.StoppedBy != "max-tokens" || st.NewTokens != 4 {
		t.Fatalf("got %v, %+v", got, st)
	}
	// One batched prompt pass, then one token per pass; the last token is not fed back.
	if fmt.Sprint(m.calls) != "[2 1 1 1]" {
		t.Fatalf("forward calls %v, want [2 1 1 1]", m.calls)
	}
	got, st = collect(t, &counter{vocab: 10, maxSeq: 100}, []int32{4}, Options{MaxTokens: 20, Stop: []int32{8}})
	if fmt.Sprint(got) != "[5 6 7]" || st.StoppedBy != "stop-id" {
		t.Fatalf("with stop id 8: %v, %+v", got, st)
	}
	got, st = collect(t, &counter{vocab: 10, maxSeq: 5}, []int32{0, 1}, Options{MaxTokens: 20})
	if fmt.Sprint(got) != "[2 3 4 5]" || st.StoppedBy != "context" {
		t.Fatalf("with a context of 5: %v, %+v", got, st)
	}
	if _, err := Run(&counter{vocab: 10, maxSeq: 5}, nil, Options{MaxTokens: 1}, nil); err == nil {
		t.Fatal("empty prompt accepted")
	}
}

func TestSamplingIsSeeded(t *testing.T) {
	o := Options{MaxTokens: 30, Sample: sample.Params{Temperature: 50, Seed: 3}}
	a, _ := collect(t, &counter{vocab: 10, maxSeq: 100}, []int32{0}, o)
	b, _ := collect(t, &counter{vocab: 10, maxSeq: 100}, []int32{0}, o)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different output: %v vs %v", a, b)
	}
}

type letters struct{}

func (letters) Push(id int) string { return string(rune('a' + id)) }
func (letters) Flush() string      { return "" }

func TestTextTo(t *testing.T) {
	var sb strings.Builder
	_, err := Run(&counter{vocab: 26, maxSeq: 100}, []int32{0}, Options{MaxTokens: 3}, TextTo(&sb, letters{}))
	if err != nil || sb.String() != "bcd" {
		t.Fatalf("streamed %q, %v", sb.String(), err)
	}
}

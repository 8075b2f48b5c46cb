package model

import (
	"testing"

	"github.com/rpiq/rpiq/runtime/backend"
)

type fake struct{ maxSeq, got int }

type fakeCache struct{ n, cap int }

func (c *fakeCache) Len() int     { return c.n }
func (c *fakeCache) Cap() int     { return c.cap }
func (c *fakeCache) SetLen(n int) { c.n = n }

func (f *fake) Info() Info                   { return Info{Vocab: 3, MaxSeq: f.maxSeq} }
func (f *fake) NewCache(n int) backend.Cache { return &fakeCache{cap: n} }
func (f *fake) Forward(c backend.Cache, t []int32, all bool) ([]float32, error) {
	if !all || c.Len() != 0 || c.Cap() < len(t) {
		panic("Logits must run one fresh batched pass over every position")
	}
	f.got = len(t)
	return make([]float32, 3*len(t)), nil
}

func TestLogits(t *testing.T) {
	m := &fake{maxSeq: 4}
	out, err := Logits(m, []int32{0, 1, 2, 1})
	if err != nil || len(out) != 12 || m.got != 4 {
		t.Fatalf("Logits: %d values, %v (forward saw %d tokens)", len(out), err, m.got)
	}
	if _, err := Logits(m, make([]int32, 5)); err == nil {
		t.Fatal("a window longer than max_position_embeddings was accepted")
	}
	if out, err := Logits(m, nil); out != nil || err != nil {
		t.Fatalf("empty window: %v, %v", out, err)
	}
}

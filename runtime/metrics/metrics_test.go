package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestScoresAgainstDirectFormulas(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const v = 37
	var s Scores
	var nll, kl float64
	agree := 0
	for pos := 0; pos < 20; pos++ {
		q := make([]float32, v)
		p := make([]float32, v)
		for i := range q {
			p[i] = float32(r.NormFloat64() * 3)
			q[i] = p[i] + float32(r.NormFloat64()*0.5)
		}
		target := r.IntN(v)
		s.Add(q, p, target)
		// direct: softmax by definition, then the textbook sums
		pq, pp := softmax(q), softmax(p)
		nll -= math.Log(pq[target])
		for i := range pp {
			kl += pp[i] * math.Log(pp[i]/pq[i])
		}
		if argmaxF(pq) == argmaxF(pp) {
			agree++
		}
	}
	if d := math.Abs(s.Perplexity() - math.Exp(nll/20)); d > 1e-9*s.Perplexity() {
		t.Errorf("ppl %v want %v", s.Perplexity(), math.Exp(nll/20))
	}
	if d := math.Abs(s.MeanKL() - kl/20); d > 1e-9 {
		t.Errorf("kl %v want %v", s.MeanKL(), kl/20)
	}
	if s.Top1 != agree {
		t.Errorf("top1 %d want %d", s.Top1, agree)
	}
	if s.MeanKL() <= 0 {
		t.Error("perturbed logits must have positive KL")
	}
}

func TestIdenticalModelsHaveZeroKL(t *testing.T) {
	var s Scores
	x := []float32{1, 2, 3, -4, 0.5}
	s.Add(x, x, 2)
	if s.MeanKL() != 0 || s.Top1Agreement() != 1 {
		t.Fatalf("kl %v top1 %v", s.MeanKL(), s.Top1Agreement())
	}
	// uniform logits: ppl equals the vocabulary size
	var u Scores
	u.Add(make([]float32, 50), nil, 3)
	if math.Abs(u.Perplexity()-50) > 1e-9 {
		t.Fatalf("uniform ppl %v", u.Perplexity())
	}
}

func softmax(x []float32) []float64 {
	out := make([]float64, len(x))
	var s float64
	for i, v := range x {
		out[i] = math.Exp(float64(v))
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

func argmaxF(x []float64) int {
	b := 0
	for i := range x {
		if x[i] > x[b] {
			b = i
		}
	}
	return b
}

func TestWindowsScoreEachTokenOnce(t *testing.T) {
	for _, c := range []struct{ n, ctx, stride int }{{100, 10, 10}, {100, 10, 3}, {7, 10, 5}, {101, 16, 8}, {2, 2, 1}, {50, 8, 0}} {
		seen := make([]int, c.n)
		ws := Windows(c.n, c.ctx, c.stride)
		for _, w := range ws {
			if w.End-w.Begin > c.ctx || w.ScoreFrom <= w.Begin || w.ScoreFrom >= w.End+1 {
				t.Fatalf("%+v: bad window %+v", c, w)
			}
			for i := w.ScoreFrom; i < w.End; i++ {
				seen[i]++
			}
		}
		// overlapping windows score every token after the first exactly once; disjoint windows
		// (stride == ctx) cannot score the first token of each window, as in GPTQ's evaluation
		disjoint := c.stride <= 0 || c.stride >= c.ctx
		for i := 1; i < c.n; i++ {
			want := 1
			if disjoint && i%c.ctx == 0 {
				want = 0
			}
			if seen[i] != want {
				t.Fatalf("%+v: token %d scored %d times, want %d", c, i, seen[i], want)
			}
		}
		if seen[0] != 0 {
			t.Fatalf("token 0 scored")
		}
	}
}

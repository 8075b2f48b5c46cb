// Package metrics scores a model's next-token distributions: perplexity, and against a reference
// model the mean KL divergence and top-1 agreement, the measures llama.cpp uses to judge quantized
// models. It also plans the evaluation windows over a long token stream.
package metrics

import "math"

// LogSoftmax writes log p_i = x_i - log Σ exp x_j into dst (float64 for accuracy over large vocabularies).
func LogSoftmax(dst []float64, logits []float32) {
	m := math.Inf(-1)
	for _, v := range logits {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - m)
	}
	lse := m + math.Log(s)
	for i, v := range logits {
		dst[i] = float64(v) - lse
	}
}

// Scores accumulates per-token results. The zero value is ready to use.
type Scores struct {
	Tokens  int     // scored positions
	NLL     float64 // Σ -log q(target)
	KL      float64 // Σ KL(ref || model), only when a reference was given
	Top1    int     // positions where argmax(model) == argmax(ref)
	WithRef int     // positions that had a reference
	lq, lp  []float64
}

// Add scores one position: logits of the model under test, the reference model's logits (nil if
// none) and the true next token.
func (s *Scores) Add(logits, ref []float32, target int) {
	if cap(s.lq) < len(logits) {
		s.lq = make([]float64, len(logits))
	}
	lq := s.lq[:len(logits)]
	LogSoftmax(lq, logits)
	s.NLL -= lq[target]
	s.Tokens++
	if ref == nil {
		return
	}
	if cap(s.lp) < len(ref) {
		s.lp = make([]float64, len(ref))
	}
	lp := s.lp[:len(ref)]
	LogSoftmax(lp, ref)
	var kl float64
	for i, l := range lp {
		if p := math.Exp(l); p > 0 {
			kl += p * (l - lq[i])
		}
	}
	s.KL += math.Max(kl, 0) // clamp rounding noise: KL is never negative
	if argmax(logits) == argmax(ref) {
		s.Top1++
	}
	s.WithRef++
}

// Perplexity is exp(mean NLL).
func (s *Scores) Perplexity() float64 { return math.Exp(s.NLL / float64(s.Tokens)) }

// MeanKL is the mean KL divergence from the reference distribution, in nats.
func (s *Scores) MeanKL() float64 { return s.KL / float64(s.WithRef) }

// Top1Agreement is the fraction of positions where both models' most likely token agree.
func (s *Scores) Top1Agreement() float64 { return float64(s.Top1) / float64(s.WithRef) }

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// Window is one forward pass over tokens[Begin:End]; the predictions for tokens[ScoreFrom:End]
// (made at positions ScoreFrom-1 .. End-2 of the window) are scored.
type Window struct{ Begin, End, ScoreFrom int }

// Windows plans the sliding-window evaluation Hugging Face documents for fixed-length models:
// windows of ctx tokens every stride tokens, each scoring only the tokens the previous window did
// not, so each token after the first is scored exactly once. stride == ctx gives GPTQ's
// non-overlapping windows; a smaller stride gives each scored token more context.
func Windows(n, ctx, stride int) []Window {
	if ctx < 2 || n < 2 {
		return nil
	}
	if stride <= 0 || stride > ctx {
		stride = ctx
	}
	var ws []Window
	prevEnd := 1 // token 0 has no prediction
	for begin := 0; ; begin += stride {
		end := min(begin+ctx, n)
		from := max(prevEnd, begin+1)
		if from < end {
			ws = append(ws, Window{Begin: begin, End: end, ScoreFrom: from})
		}
		prevEnd = end
		if end == n {
			return ws
		}
	}
}

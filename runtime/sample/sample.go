// Package sample picks the next token from logits the way Hugging Face transformers does:
// repetition penalty, then temperature, then top-k, then top-p, then a draw from the remaining
// distribution. Temperature 0 is greedy (argmax; the first index wins ties, as llama2.c and
// torch.argmax do). A Sampler with a given seed always draws the same sequence.
package sample

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// Params are the sampling settings (generation_config.json names in brackets).
type Params struct {
	Temperature       float64 // [temperature] <= 0: greedy
	TopK              int     // [top_k] 0: off
	TopP              float64 // [top_p] >= 1 or <= 0: off
	RepetitionPenalty float64 // [repetition_penalty] 1 (or 0): off
	Seed              uint64
}

// Sampler draws tokens; it is not safe for concurrent use.
type Sampler struct {
	p   Params
	rng *rand.Rand
	buf []float32
}

// New returns a sampler seeded with p.Seed.
func New(p Params) *Sampler {
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15))}
}

// Penalize applies HF's RepetitionPenaltyLogitsProcessor in place: every token id in history
// (each once) has its logit divided by penalty when positive and multiplied when negative.
func Penalize(logits []float32, history []int32, penalty float64) {
	if penalty == 1 || penalty <= 0 {
		return
	}
	seen := make(map[int32]bool, len(history))
	for _, id := range history {
		if id < 0 || int(id) >= len(logits) || seen[id] {
			continue
		}
		seen[id] = true
		if l := logits[id]; l > 0 {
			logits[id] = float32(float64(l) / penalty)
		} else {
			logits[id] = float32(float64(l) * penalty)
		}
	}
}

// Candidate is a token with its probability after all filters.
type Candidate struct {
	ID   int32
	Prob float64
}

// Distribution returns the tokens that can still be drawn and their renormalised
// probabilities, most likely first (greedy: the argmax alone). logits are not modified.
func (s *Sampler) Distribution(logits []float32, history []int32) []Candidate {
	s.buf = append(s.buf[:0], logits...)
	l := s.buf
	Penalize(l, history, s.p.RepetitionPenalty)
	if s.p.Temperature <= 0 {
		return []Candidate{{ID: int32(Argmax(l)), Prob: 1}}
	}
	// top-k keeps every token whose score is at least the k-th best (HF: scores < kth are
	// removed); the k-th best is found by selection, so only the survivors are sorted.
	var c []Candidate
	if k := s.p.TopK; k > 0 && k < len(l) {
		kth := kthLargest(slices.Clone(l), k)
		for i, v := range l {
			if v >= kth {
				c = append(c, Candidate{ID: int32(i), Prob: float64(v)})
			}
		}
	} else {
		c = make([]Candidate, len(l))
		for i, v := range l {
			c[i] = Candidate{ID: int32(i), Prob: float64(v)}
		}
	}
	for i := range c {
		c[i].Prob /= s.p.Temperature // scaled logit for now
	}
	slices.SortStableFunc(c, func(a, b Candidate) int { return cmp.Compare(b.Prob, a.Prob) })
	// Softmax over what is left (NaN counts as -Inf; +Inf logits share all the mass).
	mx := math.Inf(-1)
	for _, x := range c {
		if !math.IsNaN(x.Prob) {
			mx = max(mx, x.Prob)
		}
	}
	var sum float64
	for i := range c {
		switch v := c[i].Prob; {
		case math.IsNaN(v) || math.IsInf(mx, -1):
			c[i].Prob = 0
		case math.IsInf(mx, 1):
			c[i].Prob = 0
			if math.IsInf(v, 1) {
				c[i].Prob = 1
			}
		default:
			c[i].Prob = math.Exp(v - mx)
		}
		sum += c[i].Prob
	}
	if sum == 0 { // every logit NaN or -Inf: uniform
		for i := range c {
			c[i].Prob = 1
		}
		sum = float64(len(c))
	}
	for i := range c {
		c[i].Prob /= sum
	}
	// top-p (HF TopPLogitsWarper): in ascending order, drop tokens whose cumulative probability
	// is <= 1-top_p; the most likely token always stays.
	if p := s.p.TopP; p > 0 && p < 1 {
		var cum float64
		cut := len(c)
		for i := len(c) - 1; i > 0; i-- {
			cum += c[i].Prob
			if cum > 1-p {
				break
			}
			cut = i
		}
		c = c[:cut]
		sum = 0
		for _, x := range c {
			sum += x.Prob
		}
		for i := range c {
			c[i].Prob /= sum
		}
	}
	return c
}

// Sample draws the next token.
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	c := s.Distribution(logits, history)
	if len(c) == 1 {
		return c[0].ID
	}
	u := s.rng.Float64()
	var cum float64
	for _, x := range c {
		cum += x.Prob
		if u < cum {
			return x.ID
		}
	}
	return c[len(c)-1].ID
}

// Argmax is the index of the largest value (the first of equals).
func Argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// kthLargest returns the k-th largest value of v (1-based), reordering v (quickselect).
func kthLargest(v []float32, k int) float32 {
	lo, hi, want := 0, len(v)-1, k-1
	for lo < hi {
		p := v[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for v[i] > p {
				i++
			}
			for v[j] < p {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case want <= j:
			hi = j
		case want >= i:
			lo = i
		default:
			return v[want]
		}
	}
	return v[want]
}

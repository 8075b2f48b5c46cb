package sample

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func ids(c []Candidate) []int32 {
	var out []int32
	for _, x := range c {
		out = append(out, x.ID)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func eq(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGreedy(t *testing.T) {
	s := New(Params{})
	if got := s.Sample([]float32{1, 5, 3, 5}, nil); got != 1 {
		t.Fatalf("greedy picked %d, want 1 (first of the tied maxima)", got)
	}
}

func TestTopKSupport(t *testing.T) {
	logits := []float32{0.1, 2, 3, -1, 2, 0.5}
	s := New(Params{Temperature: 1, TopK: 2})
	if got := ids(s.Distribution(logits, nil)); !eq(got, []int32{1, 2, 4}) {
		t.Fatalf("top-k=2 support %v, want [1 2 4] (ties with the 2nd best stay, as in HF)", got)
	}
	s = New(Params{Temperature: 1, TopK: 1})
	if got := ids(s.Distribution(logits, nil)); !eq(got, []int32{2}) {
		t.Fatalf("top-k=1 support %v", got)
	}
}

func TestTopPSupport(t *testing.T) {
	// Probabilities 0.5, 0.25, 0.15, 0.1 (as logits of their logs).
	p := []float64{0.5, 0.25, 0.15, 0.1}
	logits := make([]float32, len(p))
	for i, v := range p {
		logits[i] = float32(math.Log(v))
	}
	cases := []struct {
		topP float64
		want []int32
	}{
		{0.5, []int32{0}},           // ascending cumsum 0.1, 0.25, 0.5 <= 0.5 are removed
		{0.6, []int32{0, 1}},        // 0.1, 0.25 <= 0.4 removed; 0.5 > 0.4 kept
		{0.8, []int32{0, 1, 2}},     // 0.1 <= 0.2 removed
		{0.95, []int32{0, 1, 2, 3}}, // 0.1 > 0.05: nothing removed
		{0.01, []int32{0}},          // the best always stays
	}
	for _, c := range cases {
		s := New(Params{Temperature: 1, TopP: c.topP})
		d := s.Distribution(logits, nil)
		if got := ids(d); !eq(got, c.want) {
			t.Errorf("top-p=%g support %v, want %v", c.topP, got, c.want)
		}
		var sum float64
		for _, x := range d {
			sum += x.Prob
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("top-p=%g probabilities sum to %g", c.topP, sum)
		}
	}
}

func TestRepetitionPenaltyFormula(t *testing.T) {
	logits := []float32{2, -2, 1, 4}
	Penalize(logits, []int32{0, 1, 0, 9, -1}, 2) // repeated and out-of-range ids count once / not at all
	want := []float32{1, -4, 1, 4}
	for i := range want {
		if logits[i] != want[i] {
			t.Fatalf("after penalty %v, want %v (positive ÷ penalty, negative × penalty)", logits, want)
		}
	}
	s := New(Params{RepetitionPenalty: 3})
	if got := s.Sample([]float32{3, 2}, []int32{0}); got != 1 {
		t.Fatalf("greedy with penalty picked %d, want 1 (3/3 < 2)", got)
	}
}

func TestTemperatureAndSeed(t *testing.T) {
	logits := []float32{1, 2, 0.5, 1.5, -1}
	draw := func(seed uint64) []int32 {
		s := New(Params{Temperature: 0.8, TopK: 4, TopP: 0.95, Seed: seed})
		var out []int32
		for range 50 {
			out = append(out, s.Sample(logits, nil))
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !eq(a, b) {
		t.Fatal("the same seed drew different sequences")
	}
	if eq(a, c) {
		t.Fatal("different seeds drew the same 50 tokens")
	}
	// Temperature scales logits before the softmax.
	s := New(Params{Temperature: 2})
	d := s.Distribution([]float32{0, 2}, nil)
	want := math.Exp(1) / (1 + math.Exp(1))
	if d[0].ID != 1 || math.Abs(d[0].Prob-want) > 1e-12 {
		t.Fatalf("temperature 2: %+v, want id 1 with p=%g", d, want)
	}
	// Empirical frequencies follow the distribution.
	s = New(Params{Temperature: 1, Seed: 1})
	counts := make([]int, 2)
	for range 20000 {
		counts[s.Sample([]float32{0, float32(math.Log(3))}, nil)]++
	}
	if f := float64(counts[1]) / 20000; math.Abs(f-0.75) > 0.02 {
		t.Fatalf("drew id 1 with frequency %g, want 0.75", f)
	}
}

func TestKthLargest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		n := 1 + r.IntN(60)
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.IntN(10)) // many ties
		}
		s := append([]float32(nil), v...)
		sort.Slice(s, func(i, j int) bool { return s[i] > s[j] })
		k := 1 + r.IntN(n)
		if got := kthLargest(append([]float32(nil), v...), k); got != s[k-1] {
			t.Fatalf("kthLargest(%v, %d) = %g, want %g", v, k, got, s[k-1])
		}
	}
}

func BenchmarkSampleTopK(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 151936) // Qwen vocabulary
	for i := range logits {
		logits[i] = float32(r.NormFloat64())
	}
	s := New(Params{Temperature: 0.7, TopK: 50, TopP: 0.9, RepetitionPenalty: 1.1})
	for b.Loop() {
		s.Sample(logits, []int32{1, 2, 3})
	}
}

// FuzzSample: any logits (NaN and infinities included) and settings give an id inside the
// vocabulary, and the distribution's probabilities are finite.
func FuzzSample(f *testing.F) {
	f.Add([]byte{1, 2, 3, 250}, 0.7, 3, 0.9, 1.2, uint64(1))
	f.Add([]byte{0}, 0.0, 0, 1.0, 1.0, uint64(0))
	f.Add([]byte{255, 255, 0, 0, 128}, 5.0, 1, 0.01, 0.5, uint64(9))
	f.Fuzz(func(t *testing.T, raw []byte, temp float64, topK int, topP, rep float64, seed uint64) {
		if len(raw) == 0 || len(raw) > 4096 {
			return
		}
		logits := make([]float32, len(raw))
		for i, b := range raw {
			logits[i] = float32(int(b)-128) / 8
		}
		if raw[0] == 255 {
			logits[len(logits)-1] = float32(math.Inf(1))
		}
		if math.IsNaN(temp) || math.IsInf(temp, 0) || math.IsNaN(topP) || math.IsNaN(rep) {
			return
		}
		s := New(Params{Temperature: temp, TopK: topK, TopP: topP, RepetitionPenalty: rep, Seed: seed})
		for _, c := range s.Distribution(logits, []int32{0}) {
			if math.IsNaN(c.Prob) || math.IsInf(c.Prob, 0) || c.Prob < 0 {
				t.Fatalf("probability %g for id %d", c.Prob, c.ID)
			}
		}
		id := s.Sample(logits, []int32{0, int32(len(raw) - 1), 99999})
		if id < 0 || int(id) >= len(logits) {
			t.Fatalf("sampled id %d outside [0, %d)", id, len(logits))
		}
	})
}

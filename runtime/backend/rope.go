package backend

import "math"

// RopeScaling is config.json's rope_scaling: the LLaMA-3.1 "llama3" type, or "linear"
// (positions divided by Factor).
type RopeScaling struct {
	Type                          string  // "llama3" or "linear"
	Factor                        float64 // factor
	LowFreqFactor, HighFreqFactor float64 // low_freq_factor, high_freq_factor
	OriginalMaxPositions          int     // original_max_position_embeddings
}

// InvFreq returns the rotary inverse frequencies theta^(-2i/d) for i < d/2, adjusted the way
// transformers' _compute_llama3_parameters does when s is a "llama3" scaling, or divided by
// the factor for "linear".
func InvFreq(theta float64, headDim int, s *RopeScaling) []float32 {
	out := make([]float32, headDim/2)
	for i := range out {
		f := 1 / math.Pow(theta, float64(2*i)/float64(headDim))
		switch {
		case s == nil:
		case s.Type == "llama3":
			f = llama3Freq(f, s)
		case s.Type == "linear" && s.Factor > 0:
			f /= s.Factor // positions divided by factor
		}
		out[i] = float32(f)
	}
	return out
}

func llama3Freq(f float64, s *RopeScaling) float64 {
	old := float64(s.OriginalMaxPositions)
	lowWavelen := old / s.LowFreqFactor
	highWavelen := old / s.HighFreqFactor
	wavelen := 2 * math.Pi / f
	switch {
	case wavelen > lowWavelen:
		return f / s.Factor
	case wavelen < highWavelen:
		return f
	default:
		smooth := (old/wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
		return (1-smooth)*f/s.Factor + smooth*f
	}
}

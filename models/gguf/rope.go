package gguf

import (
	"math"

	"github.com/rpiq/rpiq/models/hf"
)

// Llama3RopeFactors is llama.cpp's rope_freqs tensor for a LLaMA-3.1/3.2 config (rope_scaling
// type "llama3"): one divisor per rotated pair, by which llama.cpp divides that pair's
// frequency (ggml_rope_ext's freq_factors). It follows convert_hf_to_gguf.py's
// LlamaModel.generate_extra_tensors step by step in float32, as its torch code computes: freq =
// 1/θ^(2i/d); wavelen = 2π/freq; 1 above the high-frequency wavelength, factor below the low one,
// 1/((1−smooth)/factor + smooth) between, smooth = (old_ctx/wavelen − low)/(high − low).
//
// Only torch's float32 pow may round differently from the float64 pow rounded here (by an ulp
// of freq at most). old_ctx is rope_scaling's original_max_position_embeddings (the converter
// reads a top-level field of that name, defaulting to 8192; every Llama 3.1/3.2 release has 8192
// in both places).
func Llama3RopeFactors(theta float64, headDim int, s *hf.RopeScaling) []float32 {
	f32 := func(x float64) float64 { return float64(float32(x)) }
	factor, low, high := s.Factor, s.LowFreqFactor, s.HighFreqFactor
	old := float64(s.OriginalMaxPositions)
	lowWavelen, highWavelen := old/low, old/high // Python floats (float64)
	out := make([]float32, headDim/2)
	for i := range out {
		exp := f32(f32(float64(2*i)) / float64(float32(headDim))) // arange(0, d, 2, float32) / d
		freq := f32(1 / f32(math.Pow(f32(theta), exp)))           // 1.0 / (base ** exp)
		wavelen := f32(f32(2*math.Pi) / freq)                     // 2 * math.pi / freq
		switch {
		case wavelen < f32(highWavelen):
			out[i] = 1
		case wavelen > f32(lowWavelen):
			out[i] = float32(factor)
		default:
			smooth := f32(f32(f32(f32(old)/wavelen)-f32(low)) / f32(high-low))
			out[i] = float32(1 / f32(f32(f32(1-smooth)/f32(factor))+smooth))
		}
	}
	return out
}

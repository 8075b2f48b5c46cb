package cogvlm2

import (
	"fmt"
	"strings"
)

// Cost counts the arithmetic (FLOPs, a multiply-add = 2) and the bytes a question costs, from
// the config alone, for estimating the time on other hardware. Weight bytes use WeightBytes'
// storage rules for bits; the KV cache is f16.
type Cost struct {
	ImageTokens, PromptTokens, NewTokens int

	VisionFLOPs  float64 // patch embedding, ViT layers (with attention), conv, adapter
	VisionBytes  float64 // vision tower + adapter weights, read once
	PrefillFLOPs float64 // the prompt through the LM, each token through its expert; head on the last token
	PrefillBytes float64 // every LM weight once (both experts) + head
	DecodeFLOPs  float64 // per new token, at the mean context
	DecodeBytes  float64 // per new token: language-expert weights, head, KV cache at the mean context
}

// QuestionCost is the cost of one image + question of textTokens text tokens answered with
// newTokens tokens, with the weights stored as bits.
func (c *Config) QuestionCost(textTokens, newTokens int, bits Bits) Cost {
	v := c.Vision
	G, P, Hv, Iv := float64(v.Grid()), float64(v.PatchSize), float64(v.HiddenSize), float64(v.IntermediateSize)
	H, I, V, L := float64(c.LM.HiddenSize), float64(c.LM.IntermediateSize), float64(c.LM.VocabSize), float64(c.LM.NumLayers)
	Q := float64(c.QKVSize())
	kvd := float64(c.LM.NumKVHeads * c.LM.HeadDim)
	n := G*G + 1
	T := (G / 2) * (G / 2)
	k := Cost{ImageTokens: v.ImageTokens(), PromptTokens: 1 + v.ImageTokens() + textTokens, NewTokens: newTokens}
	k.VisionFLOPs = 2*G*G*3*P*P*Hv +
		float64(v.NumLayers)*(2*n*(3*Hv*Hv+Hv*Hv+2*Hv*Iv)+4*n*n*Hv) +
		2*T*4*Hv*Hv + 2*T*(Hv*H+3*H*I)
	pt := float64(k.PromptTokens)
	perToken := 2 * (H*Q + H*H + 3*H*I)
	k.PrefillFLOPs = L*(pt*perToken+2*pt*(pt+1)*H) + 2*H*V // causal: row i reads i+1 keys
	ctx := pt + float64(newTokens)/2
	k.DecodeFLOPs = L*(perToken+4*ctx*H) + 2*H*V
	var lmBytes, langBytes, headBytes, visBytes float64
	for _, t := range c.Tensors() {
		b := float64(c.tensorBytes(t, bits))
		switch p := PartOf(t); {
		case p == PartHead:
			headBytes += b
		case p == PartVision || p == PartAdapter || strings.HasPrefix(t.Name, "model.vision."):
			visBytes += b
		case strings.HasPrefix(t.Name, "model.layers."):
			lmBytes += b
			if !strings.Contains(t.Name, "vision_") {
				langBytes += b
			}
		}
	}
	k.VisionBytes = visBytes
	k.PrefillBytes = lmBytes + headBytes
	k.DecodeBytes = langBytes + headBytes + ctx*L*2*kvd*2
	return k
}

// tensorBytes is one tensor's storage under bits (the rule of WeightBytes).
func (c *Config) tensorBytes(t TensorSpec, bits Bits) int64 {
	b := bits.of(PartOf(t))
	if b >= 16 {
		return 2 * t.Numel()
	}
	out := int64(t.Shape[0])
	in := t.Numel() / out
	groups := int64(1)
	if bits.GroupSize > 0 {
		groups = (in + int64(bits.GroupSize) - 1) / int64(bits.GroupSize)
	}
	return in*out*int64(b)/8 + groups*out*int64(b)/8 + groups*out*2 + in*4
}

// Device is a roofline: peak arithmetic and memory bandwidth.
type Device struct {
	Name   string
	FLOPs  float64 // per second
	BytesS float64 // per second
	Source string
}

// JetsonAGXOrin64 is NVIDIA's published peaks for the Jetson AGX Orin 64GB GPU: 170 sparse
// INT8 tensor TOPS, so 85 dense INT8 and 42.5 dense FP16 tensor TFLOPS (Ampere halves each
// step); 204.8 GB/s LPDDR5. Weight-only 4/8-bit kernels compute in FP16, so the FP16 figure is
// the arithmetic peak used.
var JetsonAGXOrin64 = Device{Name: "Jetson AGX Orin 64GB (GPU)", FLOPs: 42.5e12, BytesS: 204.8e9,
	Source: "NVIDIA Jetson AGX Orin technical brief: 170 sparse INT8 TOPS (→ 42.5 dense FP16 TFLOPS), 204.8 GB/s"}

// Estimate is the roofline lower bound of each phase on d: max(FLOPs/peak, bytes/bandwidth).
type Estimate struct {
	VisionSec, PrefillSec, DecodeSecPerToken, TotalSec float64
}

// On bounds the cost's time on d (ideal efficiency: a real run is slower).
func (k Cost) On(d Device) Estimate {
	r := func(f, b float64) float64 { return max(f/d.FLOPs, b/d.BytesS) }
	e := Estimate{VisionSec: r(k.VisionFLOPs, k.VisionBytes), PrefillSec: r(k.PrefillFLOPs, k.PrefillBytes), DecodeSecPerToken: r(k.DecodeFLOPs, k.DecodeBytes)}
	e.TotalSec = e.VisionSec + e.PrefillSec + float64(k.NewTokens)*e.DecodeSecPerToken
	return e
}

func (k Cost) String() string {
	return fmt.Sprintf("vision %.1f TFLOP / %.2f GB; prefill of %d tokens %.1f TFLOP / %.2f GB; decode %.1f GFLOP / %.2f GB per token",
		k.VisionFLOPs/1e12, k.VisionBytes/1e9, k.PromptTokens, k.PrefillFLOPs/1e12, k.PrefillBytes/1e9, k.DecodeFLOPs/1e9, k.DecodeBytes/1e9)
}

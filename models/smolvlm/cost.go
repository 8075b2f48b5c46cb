package smolvlm

import (
	"fmt"
	"strings"
)

// Cost counts the arithmetic (FLOPs, a multiply-add = 2) and bytes of one question, from the
// config alone, to project the time on other hardware. Weight bytes follow TensorBytes for
// bits; the KV cache is counted in fp16.
type Cost struct {
	Tiles, PromptTokens, NewTokens int

	TileFLOPs    float64 // one tile: patch embedding, encoder (attention included), connector
	VisionBytes  float64 // encoder + connector weights, read once per tile batch
	PrefillFLOPs float64 // the prompt through the decoder; head on the last token
	PrefillBytes float64 // decoder weights + head, read once
	DecodeFLOPs  float64 // per new token at the mean context
	DecodeBytes  float64 // per new token: decoder weights, head, KV cache at the mean context
}

// QuestionCost is the cost of an image of tiles tiles plus textTokens other prompt tokens,
// answered with newTokens tokens, with the weights stored as bits.
func (c *Config) QuestionCost(tiles, textTokens, newTokens int, bits Bits) Cost {
	v, t := c.Vision, c.Text
	G, P, Hv, Iv := float64(v.Grid()), float64(v.PatchSize), float64(v.HiddenSize), float64(v.IntermediateSize)
	H, I, V, L := float64(t.HiddenSize), float64(t.IntermediateSize), float64(t.VocabSize), float64(t.NumLayers)
	hq, hkv := float64(t.NumHeads*t.HeadDim), float64(t.NumKVHeads*t.HeadDim)
	n := G * G
	k := Cost{Tiles: tiles, PromptTokens: tiles*(c.ImageSeqLen()+3) + textTokens, NewTokens: newTokens}
	k.TileFLOPs = 2*n*3*P*P*Hv + float64(v.NumLayers)*(2*n*(4*Hv*Hv+2*Hv*Iv)+4*n*n*Hv) + 2*n*Hv*H
	pt := float64(k.PromptTokens)
	perToken := 2 * (H*(hq+2*hkv) + hq*H + 3*H*I)
	k.PrefillFLOPs = L*(pt*perToken+2*pt*(pt+1)*hq) + 2*H*V
	ctx := pt + float64(newTokens)/2
	k.DecodeFLOPs = L*(perToken+4*ctx*hq) + 2*H*V
	var dec, head, vis float64
	for _, ts := range c.Tensors() {
		b := float64(c.TensorBytes(ts, bits))
		switch p := PartOf(ts); {
		case p == PartHead:
			head += b
		case p == PartVision || p == PartConnector || strings.HasPrefix(ts.Name, visionPrefix):
			vis += b
		case strings.HasPrefix(ts.Name, textPrefix+"layers."):
			dec += b
		}
	}
	if c.TieWordEmbeddings {
		head = 2 * V * H
	}
	k.VisionBytes = vis
	k.PrefillBytes = dec + head
	k.DecodeBytes = dec + head + ctx*L*2*hkv*2
	return k
}

// Device is a roofline: peak arithmetic and memory bandwidth.
type Device struct {
	Name   string
	FLOPs  float64 // per second
	BytesS float64 // per second
	Source string
}

// JetsonOrinNano8GB is NVIDIA's published peaks for the Jetson Orin Nano 8GB module (the
// original, not the 2024 "Super" clocks): 40 sparse INT8 TOPS, so 20 dense INT8 and 10 dense
// FP16 tensor TFLOPS (Ampere halves each step); 68 GB/s LPDDR5. Weight-only quantized kernels
// compute in FP16, so 10 TFLOP/s is the arithmetic peak used.
var JetsonOrinNano8GB = Device{Name: "Jetson Orin Nano 8GB (GPU)", FLOPs: 10e12, BytesS: 68e9,
	Source: "NVIDIA Jetson Orin Nano 8GB: 40 sparse INT8 TOPS (→ 10 dense FP16 TFLOPS), 68 GB/s"}

// Estimate is the roofline lower bound of each phase on a device.
type Estimate struct {
	TileSec, PrefillSec, DecodeSecPerToken float64
}

// FirstTokenSec is the image-to-first-token bound: every tile, then the prompt.
func (e Estimate) FirstTokenSec(tiles int) float64 { return float64(tiles)*e.TileSec + e.PrefillSec }

// On bounds the cost's phases on d (ideal efficiency: a real run is slower). The vision
// weights are read once per tile here (tiles run one after another).
func (k Cost) On(d Device) Estimate {
	r := func(f, b float64) float64 { return max(f/d.FLOPs, b/d.BytesS) }
	return Estimate{TileSec: r(k.TileFLOPs, k.VisionBytes), PrefillSec: r(k.PrefillFLOPs, k.PrefillBytes), DecodeSecPerToken: r(k.DecodeFLOPs, k.DecodeBytes)}
}

func (k Cost) String() string {
	return fmt.Sprintf("tile %.1f GFLOP, vision weights %.0f MB; prefill of %d tokens %.1f GFLOP; decode %.2f GFLOP / %.0f MB per token",
		k.TileFLOPs/1e9, k.VisionBytes/1e6, k.PromptTokens, k.PrefillFLOPs/1e9, k.DecodeFLOPs/1e9, k.DecodeBytes/1e6)
}

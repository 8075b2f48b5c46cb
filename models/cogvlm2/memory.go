package cogvlm2

import "strings"

// Part says which part of the model a tensor belongs to, for differentiated quantization.
type Part int

const (
	PartLM      Part = iota // decoder layers of the language model (both experts)
	PartVision              // EVA2-CLIP layers and the 2×2 convolution
	PartAdapter             // the GLU adapter (linear_proj)
	PartHead                // lm_head
	PartOther               // embeddings, norms, biases, boi/eoi, positions: stay 16-bit
)

// PartOf classifies a tensor; only 2-D weight matrices of linear modules (and the 2×2
// convolution, which is a linear map over gathered 2×2 patches) are quantizable.
func PartOf(t TensorSpec) Part {
	n := t.Name
	quantizable := strings.HasSuffix(n, ".weight") && (len(t.Shape) == 2 || n == "model.vision.conv.weight")
	switch {
	case !quantizable, strings.Contains(n, "embed"), strings.Contains(n, "norm"):
		return PartOther
	case n == "lm_head.weight":
		return PartHead
	case strings.HasPrefix(n, "model.vision.linear_proj."):
		return PartAdapter
	case strings.HasPrefix(n, "model.vision."):
		return PartVision
	case strings.HasPrefix(n, "model.layers."):
		return PartLM
	}
	return PartOther
}

// Bits chooses the storage of each part: 16 keeps BF16; 2-8 quantizes GPTQ-style.
type Bits struct {
	LM, Vision, Adapter, Head int
	GroupSize                 int // -1: per output channel
}

func (b Bits) of(p Part) int {
	switch p {
	case PartLM:
		return b.LM
	case PartVision:
		return b.Vision
	case PartAdapter:
		return b.Adapter
	case PartHead:
		return b.Head
	}
	return 16
}

// WeightBytes is the size of the checkpoint's tensors under bits: BF16 tensors at 2 bytes per
// element; quantized ones in the GPTQ layout (qweight bits/8 per weight, per group one fp16
// scale and a packed zero per output, plus the int32 g_idx per input).
func (c *Config) WeightBytes(bits Bits) int64 {
	var total int64
	for _, t := range c.Tensors() {
		total += c.tensorBytes(t, bits)
	}
	return total
}

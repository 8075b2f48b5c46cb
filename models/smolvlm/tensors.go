package smolvlm

import (
	"fmt"
	"strings"
)

// TensorSpec is one tensor of the checkpoint: its Hugging Face name and shape.
type TensorSpec struct {
	Name  string
	Shape []int
}

// Numel is the number of elements.
func (t TensorSpec) Numel() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Tensor name prefixes of Idefics3ForConditionalGeneration (its Idefics3Model is "model").
const (
	visionPrefix    = "model.vision_model."
	connectorWeight = "model.connector.modality_projection.proj.weight"
	textPrefix      = "model.text_model."
)

// Tensors lists every tensor of the checkpoint, derived from the config alone: the loader checks
// a checkpoint against it; inspect and the memory table use it without weights. lm_head is
// absent when the embeddings are tied.
func (c *Config) Tensors() []TensorSpec {
	v, t := c.Vision, c.Text
	Hv, Iv, P, G := v.HiddenSize, v.IntermediateSize, v.PatchSize, v.Grid()
	H, I, V, hd := t.HiddenSize, t.IntermediateSize, t.VocabSize, t.HeadDim
	var ts []TensorSpec
	add := func(name string, shape ...int) { ts = append(ts, TensorSpec{name, shape}) }
	e := visionPrefix + "embeddings."
	add(e+"patch_embedding.weight", Hv, v.NumChannels, P, P)
	add(e+"patch_embedding.bias", Hv)
	add(e+"position_embedding.weight", G*G, Hv)
	for i := 0; i < v.NumLayers; i++ {
		p := fmt.Sprintf("%sencoder.layers.%d.", visionPrefix, i)
		for _, n := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			add(p+"self_attn."+n+".weight", Hv, Hv)
			add(p+"self_attn."+n+".bias", Hv)
		}
		add(p+"layer_norm1.weight", Hv)
		add(p+"layer_norm1.bias", Hv)
		add(p+"mlp.fc1.weight", Iv, Hv)
		add(p+"mlp.fc1.bias", Iv)
		add(p+"mlp.fc2.weight", Hv, Iv)
		add(p+"mlp.fc2.bias", Hv)
		add(p+"layer_norm2.weight", Hv)
		add(p+"layer_norm2.bias", Hv)
	}
	add(visionPrefix+"post_layernorm.weight", Hv)
	add(visionPrefix+"post_layernorm.bias", Hv)
	add(connectorWeight, H, Hv*c.ScaleFactor*c.ScaleFactor)
	add(textPrefix+"embed_tokens.weight", V, H)
	for i := 0; i < t.NumLayers; i++ {
		p := fmt.Sprintf("%slayers.%d.", textPrefix, i)
		add(p+"self_attn.q_proj.weight", t.NumHeads*hd, H)
		add(p+"self_attn.k_proj.weight", t.NumKVHeads*hd, H)
		add(p+"self_attn.v_proj.weight", t.NumKVHeads*hd, H)
		add(p+"self_attn.o_proj.weight", H, t.NumHeads*hd)
		add(p+"mlp.gate_proj.weight", I, H)
		add(p+"mlp.up_proj.weight", I, H)
		add(p+"mlp.down_proj.weight", H, I)
		add(p+"input_layernorm.weight", H)
		add(p+"post_attention_layernorm.weight", H)
	}
	add(textPrefix+"norm.weight", H)
	if !c.TieWordEmbeddings {
		add("lm_head.weight", V, H)
	}
	return ts
}

// Part says which part of the model a tensor belongs to, for differentiated quantization.
type Part int

const (
	PartDecoder   Part = iota // the LLaMA decoder's linears
	PartVision                // the SigLIP encoder's linears
	PartConnector             // the modality projection
	PartHead                  // lm_head
	PartOther                 // embeddings, norms, biases, positions, patch embedding: stay 16-bit
)

func (p Part) String() string {
	return [...]string{"decoder", "vision", "connector", "head", "other"}[p]
}

// PartOf classifies a tensor; only the 2-D weights of linear modules are quantizable.
func PartOf(t TensorSpec) Part {
	n := t.Name
	switch {
	case !strings.HasSuffix(n, ".weight") || len(t.Shape) != 2 || strings.Contains(n, "embed") || strings.Contains(n, "norm"):
		return PartOther
	case n == "lm_head.weight":
		return PartHead
	case n == connectorWeight:
		return PartConnector
	case strings.HasPrefix(n, visionPrefix+"encoder."):
		return PartVision
	case strings.HasPrefix(n, textPrefix+"layers."):
		return PartDecoder
	}
	return PartOther
}

// Bits chooses the storage of each part: 16 keeps the checkpoint's 16-bit floats; 2-8
// quantizes GPTQ-style.
type Bits struct {
	Decoder, Vision, Connector, Head int
	GroupSize                        int // -1: per output channel
}

// Of is the bits of part p.
func (b Bits) Of(p Part) int {
	switch p {
	case PartDecoder:
		return b.Decoder
	case PartVision:
		return b.Vision
	case PartConnector:
		return b.Connector
	case PartHead:
		return b.Head
	}
	return 16
}

// TensorBytes is the stored size of t under bits: 16-bit floats at 2 bytes per element; a
// quantized linear in the GPTQ layout (bits/8 per weight; per group and output an fp16 scale
// and a packed zero; an int32 g_idx per input).
func (c *Config) TensorBytes(t TensorSpec, bits Bits) int64 {
	b := bits.Of(PartOf(t))
	if b >= 16 {
		return 2 * t.Numel()
	}
	out, in := int64(t.Shape[0]), int64(t.Shape[1])
	g := int64(bits.GroupSize)
	groups := int64(1)
	if g > 0 {
		groups = (in + g - 1) / g
	}
	return in*out*int64(b)/8 + groups*out*2 + groups*out*int64(b)/8 + 4*in
}

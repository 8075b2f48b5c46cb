package cogvlm2

import "fmt"

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

// QKVSize is the width of a fused query-key-value projection: H + 2·head_dim·kv_heads.
func (c *Config) QKVSize() int { return c.LM.HiddenSize + 2*c.LM.HeadDim*c.LM.NumKVHeads }

// Tensors lists every tensor of a CogVLM2 checkpoint, derived from the config alone (the table in
// reference/cogvlm2.md §1.8). The loader checks a checkpoint against it; inspect and the memory
// estimates use it without any weights.
func (c *Config) Tensors() []TensorSpec {
	H, I, V, L := c.LM.HiddenSize, c.LM.IntermediateSize, c.LM.VocabSize, c.LM.NumLayers
	Q := c.QKVSize()
	v := c.Vision
	Hv, Iv, P := v.HiddenSize, v.IntermediateSize, v.PatchSize
	var ts []TensorSpec
	add := func(name string, shape ...int) { ts = append(ts, TensorSpec{name, shape}) }
	add("model.embed_tokens.weight", V, H)
	for i := 0; i < L; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", H)
		add(p+"post_attention_layernorm.weight", H)
		add(p+"self_attn.vision_expert_query_key_value.weight", Q, H)
		add(p+"self_attn.vision_expert_query_key_value.bias", Q)
		add(p+"self_attn.vision_expert_dense.weight", H, H)
		add(p+"self_attn.language_expert_query_key_value.weight", Q, H)
		add(p+"self_attn.language_expert_dense.weight", H, H)
		add(p+"self_attn.rotary_emb.inv_freq", c.LM.HeadDim/2)
		for _, e := range []string{"language_mlp", "vision_mlp"} {
			add(p+"mlp."+e+".gate_proj.weight", I, H)
			add(p+"mlp."+e+".up_proj.weight", I, H)
			add(p+"mlp."+e+".down_proj.weight", H, I)
		}
	}
	add("model.norm.weight", H)
	add("lm_head.weight", V, H)
	add("model.vision.patch_embedding.proj.weight", Hv, 3, P, P)
	add("model.vision.patch_embedding.proj.bias", Hv)
	add("model.vision.patch_embedding.cls_embedding", 1, Hv)
	add("model.vision.patch_embedding.position_embedding.weight", v.NumPositions, Hv)
	for j := 0; j < v.NumLayers; j++ {
		p := fmt.Sprintf("model.vision.transformer.layers.%d.", j)
		add(p+"input_layernorm.weight", Hv)
		add(p+"input_layernorm.bias", Hv)
		add(p+"attention.query_key_value.weight", 3*Hv, Hv)
		add(p+"attention.query_key_value.bias", 3*Hv)
		add(p+"attention.dense.weight", Hv, Hv)
		add(p+"attention.dense.bias", Hv)
		add(p+"mlp.fc1.weight", Iv, Hv)
		add(p+"mlp.fc1.bias", Iv)
		add(p+"mlp.fc2.weight", Hv, Iv)
		add(p+"mlp.fc2.bias", Hv)
		add(p+"post_attention_layernorm.weight", Hv)
		add(p+"post_attention_layernorm.bias", Hv)
	}
	add("model.vision.conv.weight", Hv, Hv, 2, 2)
	add("model.vision.conv.bias", Hv)
	add("model.vision.linear_proj.linear_proj.weight", H, Hv)
	add("model.vision.linear_proj.norm1.weight", H)
	add("model.vision.linear_proj.norm1.bias", H)
	add("model.vision.linear_proj.dense_h_to_4h.weight", I, H)
	add("model.vision.linear_proj.gate_proj.weight", I, H)
	add("model.vision.linear_proj.dense_4h_to_h.weight", H, I)
	add("model.vision.boi", 1, 1, H)
	add("model.vision.eoi", 1, 1, H)
	return ts
}

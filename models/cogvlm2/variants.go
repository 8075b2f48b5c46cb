package cogvlm2

// MemoryVariant is one storage choice for the parts of the model, with its weight bytes.
type MemoryVariant struct {
	Name  string `json:"name"`
	Bits  Bits   `json:"bits"`
	Bytes int64  `json:"bytes"`
	// OfBF16 is Bytes / the BF16 checkpoint's bytes.
	OfBF16 float64 `json:"of_bf16"`
}

// MemoryGoal is issue 6's target for 4-bit LM + 8-bit vision: at most 35% of BF16.
const MemoryGoal = 0.35

// MemoryVariants are the configurations `rpiq inspect` reports (GPTQ group size 128).
func (c *Config) MemoryVariants() []MemoryVariant {
	const g = 128
	vs := []MemoryVariant{
		{Name: "BF16", Bits: Bits{LM: 16, Vision: 16, Adapter: 16, Head: 16}},
		{Name: "4-bit LM + 8-bit vision (adapter, head 16-bit)", Bits: Bits{LM: 4, Vision: 8, Adapter: 16, Head: 16, GroupSize: g}},
		{Name: "4-bit LM + 8-bit vision + 8-bit adapter (head 16-bit)", Bits: Bits{LM: 4, Vision: 8, Adapter: 8, Head: 16, GroupSize: g}},
		{Name: "4-bit LM + 8-bit vision + 4-bit head (adapter 16-bit)", Bits: Bits{LM: 4, Vision: 8, Adapter: 16, Head: 4, GroupSize: g}},
		{Name: "4-bit LM + 8-bit vision + 8-bit adapter + 4-bit head", Bits: Bits{LM: 4, Vision: 8, Adapter: 8, Head: 4, GroupSize: g}},
		{Name: "4-bit everywhere", Bits: Bits{LM: 4, Vision: 4, Adapter: 4, Head: 4, GroupSize: g}},
	}
	bf16 := c.WeightBytes(vs[0].Bits)
	for i := range vs {
		vs[i].Bytes = c.WeightBytes(vs[i].Bits)
		vs[i].OfBF16 = float64(vs[i].Bytes) / float64(bf16)
	}
	return vs
}

// Parameters is the number of parameters of the checkpoint's tensor table.
func (c *Config) Parameters() (lm, vision int64) {
	for _, t := range c.Tensors() {
		if len(t.Name) > len("model.vision.") && t.Name[:len("model.vision.")] == "model.vision." {
			vision += t.Numel()
		} else {
			lm += t.Numel()
		}
	}
	return lm, vision
}

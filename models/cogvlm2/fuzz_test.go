package cogvlm2

import (
	"testing"

	"github.com/rpiq/rpiq/models/hf"
)

// Any config.json content parses or fails with an error; an accepted one is self-consistent.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(RealConfigJSON))
	f.Add(TinySizes.ConfigJSON())
	f.Add([]byte(`{"architectures": ["CogVLMForCausalLM"], "vision_config": {"image_size": 0}}`))
	f.Add([]byte(`{"architectures": ["CogVLMForCausalLM"], "vision_config": []}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("config.json", data)
		if err != nil {
			return
		}
		v := c.Vision
		if v.Grid()%2 != 0 || v.NumPositions != v.Grid()*v.Grid()+1 || v.HiddenSize%v.NumHeads != 0 || c.LM.VocabSize <= PadTokenID {
			t.Fatalf("accepted an inconsistent config: %+v", v)
		}
		_ = c.Tensors()
	})
}

// The dynamic per-module bits table: matching rules override bits, bad patterns are errors.
func FuzzModuleQuant(f *testing.F) {
	f.Add(`^model\.vision\.`, "model.vision.conv", 8)
	f.Add(`(`, "x", 4)
	f.Fuzz(func(t *testing.T, pat, name string, bits int) {
		qc := &hf.QuantizationConfig{Bits: 4, GroupSize: 128, Raw: map[string]any{"dynamic": map[string]any{"+:" + pat: map[string]any{"bits": float64(bits)}}}}
		got, err := moduleQuant(qc, name)
		if err != nil {
			return
		}
		if got.Bits != 4 && got.Bits != bits {
			t.Fatalf("bits %d", got.Bits)
		}
	})
}

package cogvlm2

import (
	"testing"
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

package hf_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/models/hf"
)

// tinyShapes is a LLaMA checkpoint: hidden 16, FFN 24, 2 layers, 4 heads of 4 (2 KV), vocab 40.
func tinyShapes() map[string][]int {
	s := map[string][]int{"model.embed_tokens.weight": {40, 16}, "model.norm.weight": {16}, "lm_head.weight": {40, 16}}
	for i := 0; i < 2; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		for n, sh := range map[string][]int{"input_layernorm.weight": {16}, "post_attention_layernorm.weight": {16},
			"self_attn.q_proj.weight": {16, 16}, "self_attn.k_proj.weight": {8, 16}, "self_attn.v_proj.weight": {8, 16},
			"self_attn.o_proj.weight": {16, 16}, "mlp.gate_proj.weight": {24, 16}, "mlp.up_proj.weight": {24, 16},
			"mlp.down_proj.weight": {16, 24}} {
			s[p+n] = sh
		}
	}
	return s
}

const tinyConfig = `{"architectures":["LlamaForCausalLM"],"hidden_size":16,"intermediate_size":24,"num_hidden_layers":2,` +
	`"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":40}`

func TestSizeProblems(t *testing.T) {
	c, err := hf.ParseConfig("d/config.json", []byte(tinyConfig))
	if err != nil {
		t.Fatal(err)
	}
	if ps := hf.SizeProblems(c, "d", tinyShapes()); len(ps) != 0 {
		t.Fatalf("consistent checkpoint: %v", ps)
	}
	// An index whose shard is absent: names only, so only the layer count is checked.
	names := map[string][]int{}
	for n := range tinyShapes() {
		names[n] = nil
	}
	if ps := hf.SizeProblems(c, "d", names); len(ps) != 0 {
		t.Fatalf("names only: %v", ps)
	}
	for _, tc := range []struct{ field, value, want string }{
		{"num_hidden_layers", "2000000000", "num_hidden_layers: 2000000000, but the checkpoint has only 21 tensors"},
		{"num_hidden_layers", "3", "num_hidden_layers: 3, but the checkpoint has 2 decoder layers (model.layers.0-1)"},
		{"vocab_size", "4000000000", "vocab_size: 4000000000 × hidden width 16 embedding weights"},
		{"hidden_size", "999999999999", "hidden_size"},
		{"intermediate_size", "32", `intermediate_size/hidden_size: config.json implies [32 16] for tensor "model.layers.0.mlp.gate_proj.weight"`},
	} {
		cfg := strings.Replace(tinyConfig, "}", fmt.Sprintf(`,%q:%s}`, tc.field, tc.value), 1)
		c, err := hf.ParseConfig("d/config.json", []byte(cfg))
		if err != nil {
			if tc.field == "hidden_size" { // refused by the parser already (below 2³¹)
				continue
			}
			t.Fatal(err)
		}
		ps := hf.SizeProblems(c, "d", tinyShapes())
		if len(ps) == 0 || !strings.Contains(ps[0].Error(), "d/config.json: "+tc.want) {
			t.Errorf("%s %s: %v; want first %q", tc.field, tc.value, ps, tc.want)
		}
	}
}

// Whatever config.json says, SizeProblems does not panic, and when it finds nothing wrong with
// the tiny LLaMA checkpoint the config's sizes are the checkpoint's.
func FuzzSizeProblems(f *testing.F) {
	f.Add([]byte(tinyConfig))
	f.Add([]byte(strings.Replace(tinyConfig, `"vocab_size":40`, `"vocab_size":4000000000`, 1)))
	f.Add([]byte(strings.Replace(tinyConfig, `"num_hidden_layers":2`, `"num_hidden_layers":2000000000`, 1)))
	f.Add([]byte(`{"architectures":["OPTForCausalLM"],"hidden_size":16,"ffn_dim":24,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":40,"word_embed_proj_dim":8}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := hf.ParseConfig("d/config.json", b)
		if err != nil {
			return
		}
		ps := hf.SizeProblems(c, "d", tinyShapes())
		for _, p := range ps {
			if !strings.HasPrefix(p.Error(), "d/config.json: ") {
				t.Fatalf("problem does not name config.json: %v", p)
			}
		}
		if len(ps) == 0 && c.PositionOffset == 0 && (c.HiddenSize != 16 || c.IntermediateSize != 24 || c.NumLayers != 2 ||
			c.VocabSize != 40 || c.NumHeads*c.HeadDim != 16 || c.NumKVHeads*c.HeadDim != 8) {
			t.Fatalf("no problem found, but the config says %+v", c)
		}
	})
}

package cogvlm2

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/models/hf"
)

// realConfig is config.json of THUDM/cogvlm2-llama3-chat-19B as quoted verbatim in
// reference/cogvlm2.md §1.1 (no num_multi_query_heads, no rope_theta: both defaulted).
const realConfig = `{
  "architectures": ["CogVLMForCausalLM"],
  "vision_config": {"dropout_prob": 0.0, "hidden_act": "gelu", "in_channels": 3, "num_hidden_layers": 63,
    "hidden_size": 1792, "patch_size": 14, "num_heads": 16, "intermediate_size": 15360,
    "layer_norm_eps": 1e-06, "num_positions": 9217, "image_size": 1344},
  "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32, "max_position_embeddings": 8192,
  "rms_norm_eps": 1e-05, "template_version": "chat", "initializer_range": 0.02,
  "bos_token_id": 128000, "eos_token_id": [128001, 128009], "pad_token_id": 128002,
  "vocab_size": 128256, "num_hidden_layers": 32, "hidden_act": "silu", "use_cache": true,
  "torch_dtype": "bfloat16"
}`

func loadRealConfig(t *testing.T) *Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(realConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The index built from the config alone must add up to the real checkpoint's
// metadata.total_size (39,006,214,656 bytes at BF16, from model.safetensors.index.json).
func TestRealIndexSizeFromConfig(t *testing.T) {
	c := loadRealConfig(t)
	if c.LM.NumKVHeads != 8 || c.LM.RopeTheta != 500000 || c.LM.HeadDim != 128 {
		t.Fatalf("defaults: kv heads %d, rope theta %v, head dim %d", c.LM.NumKVHeads, c.LM.RopeTheta, c.LM.HeadDim)
	}
	if c.QKVSize() != 6144 || c.Vision.ImageTokens() != 2306 {
		t.Fatalf("qkv %d, image tokens %d", c.QKVSize(), c.Vision.ImageTokens())
	}
	var total int64
	seen := map[string]bool{}
	for _, ts := range c.Tensors() {
		if seen[ts.Name] {
			t.Fatalf("duplicate tensor %s", ts.Name)
		}
		seen[ts.Name] = true
		total += 2 * ts.Numel()
	}
	if total != 39006214656 {
		t.Fatalf("total BF16 size %d, want 39006214656", total)
	}
	if got := c.WeightBytes(Bits{LM: 16, Vision: 16, Adapter: 16, Head: 16}); got != total {
		t.Fatalf("WeightBytes at 16 bits = %d, want %d", got, total)
	}
}

func TestMemoryEstimates(t *testing.T) {
	c := loadRealConfig(t)
	bf16 := c.WeightBytes(Bits{LM: 16, Vision: 16, Adapter: 16, Head: 16})
	mixed := c.WeightBytes(Bits{LM: 4, Vision: 8, Adapter: 16, Head: 16, GroupSize: 128})
	all4 := c.WeightBytes(Bits{LM: 4, Vision: 4, Adapter: 4, Head: 4, GroupSize: 128})
	if !(all4 < mixed && mixed < bf16) {
		t.Fatalf("ordering: 4-bit %d, mixed %d, bf16 %d", all4, mixed, bf16)
	}
	// 4 bits per weight is a quarter of 16: the all-4-bit checkpoint must be just over 25%
	// (embeddings and norms stay 16-bit, plus scales, zeros and g_idx).
	if r := float64(all4) / float64(bf16); r < 0.25 || r > 0.33 {
		t.Fatalf("all 4-bit ratio %.3f", r)
	}
	t.Logf("BF16 %.2f GB; 4-bit LM + 8-bit vision %.2f GB (%.1f%%); all 4-bit %.2f GB (%.1f%%)",
		float64(bf16)/1e9, float64(mixed)/1e9, 100*float64(mixed)/float64(bf16), float64(all4)/1e9, 100*float64(all4)/float64(bf16))
}

func TestConfigErrors(t *testing.T) {
	for name, edit := range map[string]func(m string) string{
		"positions":   func(m string) string { return replace(m, `"num_positions": 9217`, `"num_positions": 9000`) },
		"odd grid":    func(m string) string { return replace(m, `"image_size": 1344`, `"image_size": 1330`) },
		"no vision":   func(m string) string { return replace(m, `"vision_config"`, `"vision_cfg"`) },
		"small vocab": func(m string) string { return replace(m, `"vocab_size": 128256`, `"vocab_size": 32000`) },
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), []byte(edit(realConfig)), 0o644)
		_, err := LoadConfig(dir)
		var he *hf.Error
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !asHF(err, &he) || he.File == "" {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

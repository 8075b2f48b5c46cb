package llama

import "github.com/rpiq/rpiq/models/hf"

// The config.json names of the architectures this package runs.
const (
	ArchLlama = "LlamaForCausalLM"
	ArchQwen2 = "Qwen2ForCausalLM"
	ArchQwen3 = "Qwen3ForCausalLM"
)

// qwenDefaults are Qwen2Config's and Qwen3Config's: 32768 positions, no BOS/EOS in the class.
var qwenDefaults = hf.DecoderDefaults{MaxPositions: 32768, RopeTheta: 10000, RMSNormEps: 1e-6, BOS: -1}

// readLlama reads a LlamaConfig: LLaMA 1-3 (attention_bias and mlp_bias optional).
func readLlama(f *hf.Fields, c *hf.Config) {
	hf.ReadDecoder(f, c, hf.LlamaDefaults)
	c.AttentionBias = f.Bool("attention_bias", false)
	c.AttentionOutBias = c.AttentionBias
	c.MLPBias = f.Bool("mlp_bias", false)
}

// readQwen2 reads a Qwen2Config: q/k/v biases always (not on o_proj); sliding window optional.
func readQwen2(f *hf.Fields, c *hf.Config) {
	hf.ReadDecoder(f, c, qwenDefaults)
	c.AttentionBias = true
	if f.Bool("use_sliding_window", false) {
		c.SlidingWindow = f.Positive("sliding_window", false, 4096)
	}
}

// readQwen3 reads a Qwen3Config: RMSNorm over each head of q and k before RoPE.
func readQwen3(f *hf.Fields, c *hf.Config) {
	hf.ReadDecoder(f, c, qwenDefaults)
	c.AttentionBias = f.Bool("attention_bias", false)
	c.AttentionOutBias = c.AttentionBias
	c.QKNorm = true
}

package smolvlm

import (
	"strings"
	"testing"
)

// published256M is config.json of HuggingFaceTB/SmolVLM-256M-Instruct with the fields that
// matter (a copy of it is published as Mattimax/DATA-AI_Smol256M-Instruct, whose
// "_name_or_path" names the original); the training-only fields (perceiver_config,
// neftune_noise_alpha, ...) are left out.
const published256M = `{
  "architectures": ["Idefics3ForConditionalGeneration"],
  "image_token_id": 49190, "model_type": "idefics3", "pad_token_id": 128002, "scale_factor": 4,
  "text_config": {
    "_flash_attn_2_enabled": true, "architectures": ["VLlama3ForCausalLM"], "head_dim": 64,
    "hidden_size": 576, "initializer_range": 0.041666666666666664, "intermediate_size": 1536,
    "is_llama_config": true, "max_position_embeddings": 8192, "model_type": "llama",
    "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3, "pad_token_id": 2,
    "rms_norm_eps": 1e-05, "rope_interleaved": false, "rope_theta": 100000, "vocab_size": 49280
  },
  "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "vision_config": {"hidden_size": 768, "image_size": 512, "intermediate_size": 3072,
    "max_image_size": {"longest_edge": 512}, "model_type": "idefics3", "num_attention_heads": 12,
    "num_hidden_layers": 12, "patch_size": 16, "size": {"longest_edge": 2048}},
  "vocab_size": 49280
}`

func TestPublishedConfig(t *testing.T) {
	c, err := ParseConfig("config.json", []byte(published256M))
	if err != nil {
		t.Fatal(err)
	}
	v, x := c.Vision, c.Text
	if v.HiddenAct != "gelu_pytorch_tanh" || v.LayerNormEps != 1e-6 || v.Grid() != 32 {
		t.Errorf("vision defaults: %+v", v)
	}
	if x.HiddenSize != 576 || x.NumKVHeads != 3 || x.HeadDim != 64 || x.RopeTheta != 100000 || x.RMSNormEps != 1e-5 || c.TieWordEmbeddings {
		t.Errorf("text: %+v", x)
	}
	if c.ImageSeqLen() != 64 {
		t.Errorf("image_seq_len %d, want 64 (the processor's)", c.ImageSeqLen())
	}
	n := int64(0)
	for _, ts := range c.Tensors() {
		n += ts.Numel()
	}
	t.Logf("SmolVLM-256M: %d parameters in %d tensors", n, len(c.Tensors()))
	if n < 250e6 || n > 262e6 { // the model's name says 256M
		t.Errorf("%d parameters, want about 256M", n)
	}
	// The same sizes as Sizes256M describes, so the bench entries have the published shapes.
	s, err := Sizes256M.Config()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tensors()) != len(c.Tensors()) {
		t.Errorf("Sizes256M has %d tensors, the published config %d", len(s.Tensors()), len(c.Tensors()))
	}
	for i, ts := range s.Tensors() {
		if ts.Name != c.Tensors()[i].Name || ts.Numel() != c.Tensors()[i].Numel() {
			t.Fatalf("tensor %d: %s %v vs %s %v", i, ts.Name, ts.Shape, c.Tensors()[i].Name, c.Tensors()[i].Shape)
		}
	}
	for _, z := range []Sizes{Sizes500M, Sizes2B} {
		c, err := z.Config()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"smolvlm-500m": 64, "smolvlm-2.2b": 81}[z.Name]
		if c.ImageSeqLen() != want {
			t.Errorf("%s: image_seq_len %d, want %d", z.Name, c.ImageSeqLen(), want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ edit, field string }{
		{`"Idefics3ForConditionalGeneration"`, "architectures"},
		{`"scale_factor": 4`, "scale_factor"},
		{`"hidden_size": 576`, "text_config.hidden_size"},
		{`"patch_size": 16`, "vision_config.patch_size"},
		{`"image_token_id": 49190`, "image_token_id"},
		{`"vision_config"`, "vision_config"},
	} {
		bad := map[string]string{
			`"Idefics3ForConditionalGeneration"`: `"Idefics2ForConditionalGeneration"`,
			`"scale_factor": 4`:                  `"scale_factor": 5`,
			`"hidden_size": 576`:                 `"hidden_size": -1`,
			`"patch_size": 16`:                   `"patch_size": 600`,
			`"image_token_id": 49190`:            `"image_token_id": 50000`,
			`"vision_config"`:                    `"vision_cfg"`,
		}[c.edit]
		_, err := ParseConfig("config.json", []byte(strings.Replace(published256M, c.edit, bad, 1)))
		if err == nil || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), "config.json") {
			t.Errorf("%s → %s: want an error naming config.json and %s, got %v", c.edit, bad, c.field, err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(published256M))
	f.Add(TinySizes.ConfigJSON())
	f.Add([]byte(`{"architectures": ["Idefics3ForConditionalGeneration"], "vision_config": {}, "text_config": {}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("config.json", data)
		if err != nil {
			return
		}
		if c.ImageSeqLen() <= 0 || c.Vision.Grid() <= 0 || c.Text.HeadDim <= 0 {
			t.Fatalf("accepted a config with sizes %+v", c.Vision)
		}
		_ = c.Tensors()
	})
}

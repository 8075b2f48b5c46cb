// The config tests read configs through the registered architectures, as every caller does.
package hf_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/models/cogvlm2"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/llama"
	"github.com/rpiq/rpiq/models/opt"
)

// Configs shaped like the real ones (values from the models' HF config.json files).
const llama31Config = `{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
  "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
  "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
  "tie_word_embeddings": false, "hidden_act": "silu", "torch_dtype": "bfloat16",
  "attention_bias": false, "mlp_bias": false
}`

const qwen3Config = `{
  "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
  "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
  "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
  "max_position_embeddings": 40960, "rms_norm_eps": 1e-06, "rope_theta": 1000000,
  "rope_scaling": null, "tie_word_embeddings": true, "attention_bias": false,
  "bos_token_id": 151643, "eos_token_id": 151645, "torch_dtype": "bfloat16",
  "use_sliding_window": false, "sliding_window": null
}`

const qwen2Config = `{
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
  "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
  "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
  "max_position_embeddings": 32768, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "tie_word_embeddings": true, "bos_token_id": 151643, "eos_token_id": 151643,
  "use_sliding_window": false, "sliding_window": 32768
}`

const optConfig = `{
  "architectures": ["OPTForCausalLM"], "model_type": "opt",
  "hidden_size": 1024, "ffn_dim": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
  "vocab_size": 50272, "max_position_embeddings": 2048, "do_layer_norm_before": false,
  "word_embed_proj_dim": 512, "activation_function": "relu", "enable_bias": true,
  "bos_token_id": 2, "eos_token_id": 2, "pad_token_id": 1, "torch_dtype": "float16"
}`

const cogvlmConfig = `{
  "architectures": ["CogVLMForCausalLM"],
  "vision_config": {"hidden_size": 1792, "num_hidden_layers": 63, "patch_size": 14, "image_size": 1344,
    "intermediate_size": 15360, "num_heads": 16, "num_positions": 9217},
  "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32, "max_position_embeddings": 8192,
  "rms_norm_eps": 1e-05, "template_version": "chat", "bos_token_id": 128000, "eos_token_id": [128001, 128009],
  "pad_token_id": 128002, "vocab_size": 128256, "num_hidden_layers": 32, "hidden_act": "silu"
}`

func TestParseConfigArchitectures(t *testing.T) {
	c, err := hf.ParseConfig("config.json", []byte(llama31Config))
	if err != nil {
		t.Fatal(err)
	}
	if c.Architecture != llama.ArchLlama || c.NumKVHeads != 8 || c.HeadDim != 128 || c.RopeTheta != 500000 ||
		c.RMSNormEps != 1e-5 || c.TieWordEmbeddings || c.MaxPositions != 131072 || c.TorchDType != "bfloat16" ||
		c.BOSTokenID != 128000 || !reflect.DeepEqual(c.EOSTokenIDs, []int{128001, 128008, 128009}) || c.PadTokenID != -1 || c.QKNorm {
		t.Fatalf("llama 3.1: %+v", c)
	}
	want := &hf.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}
	if !reflect.DeepEqual(c.RopeScaling, want) {
		t.Fatalf("rope_scaling = %+v", c.RopeScaling)
	}

	c, err = hf.ParseConfig("config.json", []byte(qwen3Config))
	if err != nil {
		t.Fatal(err)
	}
	if c.Architecture != llama.ArchQwen3 || c.HeadDim != 128 || c.HiddenSize/c.NumHeads == c.HeadDim || !c.QKNorm ||
		!c.TieWordEmbeddings || c.RopeScaling != nil || c.RopeTheta != 1e6 || !reflect.DeepEqual(c.EOSTokenIDs, []int{151645}) ||
		c.AttentionBias || c.SlidingWindow != 0 {
		t.Fatalf("qwen3: %+v", c)
	}

	c, err = hf.ParseConfig("config.json", []byte(qwen2Config))
	if err != nil {
		t.Fatal(err)
	}
	if c.Architecture != llama.ArchQwen2 || !c.AttentionBias || c.AttentionOutBias || c.HeadDim != 64 || c.NumKVHeads != 2 || c.QKNorm {
		t.Fatalf("qwen2: %+v", c)
	}

	c, err = hf.ParseConfig("config.json", []byte(optConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.Architecture != opt.Arch || c.IntermediateSize != 4096 || c.Arch.(*opt.Config).DoLayerNormBefore || c.WordEmbedProjDim != 512 ||
		c.PositionOffset != 2 || !c.TieWordEmbeddings || c.HiddenAct != "relu" || !c.AttentionBias || !c.MLPBias ||
		c.LayerNormEps != 1e-5 || c.NumKVHeads != 16 || c.HeadDim != 64 || c.PadTokenID != 1 || !c.Arch.(*opt.Config).LayerNormElementwiseAffine {
		t.Fatalf("opt: %+v", c)
	}

	c, err = hf.ParseConfig("config.json", []byte(cogvlmConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.Architecture != cogvlm2.Arch || c.NumKVHeads != 8 || c.RopeTheta != 500000 || c.PadTokenID != 128002 || c.Raw["vision_config"] == nil {
		t.Fatalf("cogvlm: %+v", c)
	}
	// The architecture's own settings are read once, by its reader, into Config.Arch.
	if v, ok := c.Arch.(*cogvlm2.Config); !ok || v.Vision.NumLayers != 63 || v.Vision.ImageTokens() != 2306 || v.LM != c {
		t.Fatalf("cogvlm: %+v", c)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := hf.ParseConfig("config.json", []byte(`{"model_type": "llama", "hidden_size": 64, "intermediate_size": 172,
		"num_hidden_layers": 2, "num_attention_heads": 8, "vocab_size": 512}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Architecture != llama.ArchLlama || c.NumKVHeads != 8 || c.HeadDim != 8 || c.RMSNormEps != 1e-6 || c.RopeTheta != 10000 ||
		c.MaxPositions != 2048 || c.TieWordEmbeddings || c.BOSTokenID != 1 || !reflect.DeepEqual(c.EOSTokenIDs, []int{2}) || c.HiddenAct != "silu" {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = hf.ParseConfig("config.json", []byte(`{"architectures": ["OPTForCausalLM"], "hidden_size": 64, "ffn_dim": 256,
		"num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Arch.(*opt.Config).DoLayerNormBefore || c.WordEmbedProjDim != 64 || c.MaxPositions != 2048 || !c.TieWordEmbeddings || !c.AttentionBias {
		t.Fatalf("opt defaults: %+v", c)
	}
	// transformers v5 writes rope_parameters instead of rope_theta / rope_scaling.
	c, err = hf.ParseConfig("config.json", []byte(`{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 1,
		"num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10,
		"rope_parameters": {"rope_type": "llama3", "rope_theta": 500000, "factor": 32, "low_freq_factor": 1,
		"high_freq_factor": 4, "original_max_position_embeddings": 8192}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.RopeTheta != 500000 || c.RopeScaling == nil || c.RopeScaling.Factor != 32 {
		t.Fatalf("rope_parameters: theta %g scaling %+v", c.RopeTheta, c.RopeScaling)
	}
}

func TestQuantizationConfig(t *testing.T) {
	dir := t.TempDir()
	writeCfg(t, dir, hf.ConfigFile, strings.TrimSuffix(llama31Config, "}")+`,
		"quantization_config": {"bits": 4, "group_size": 128, "desc_act": true, "sym": true, "quant_method": "gptq",
		"checkpoint_format": "gptq_v2", "damp_percent": 0.01, "rpiq": {"iters": 3}}}`)
	c, err := hf.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	q := c.Quantization
	if q == nil || q.Method != "gptq" || q.Bits != 4 || q.GroupSize != 128 || !q.DescAct || !q.Sym || q.CheckpointFormat != "gptq_v2" || q.Raw["rpiq"] == nil {
		t.Fatalf("quantization: %+v", q)
	}
	// AutoGPTQ's separate file, with its defaults (sym true, format gptq).
	dir = t.TempDir()
	writeCfg(t, dir, hf.ConfigFile, qwen3Config)
	writeCfg(t, dir, hf.QuantizeConfigFile, `{"bits": 8, "group_size": -1, "desc_act": false}`)
	c, err = hf.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if q := c.Quantization; q == nil || q.Bits != 8 || q.GroupSize != -1 || !q.Sym || q.CheckpointFormat != "gptq" || !strings.HasSuffix(q.Source, hf.QuantizeConfigFile) {
		t.Fatalf("quantize_config.json: %+v", q)
	}
}

// Every bad config names config.json and the field.
func TestConfigErrors(t *testing.T) {
	base := `"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 32`
	cases := []struct{ name, json, field, want string }{
		{"unknown architecture", `{"architectures": ["GPTNeoXForCausalLM"], ` + base + `}`, "architectures", "unknown architecture \"GPTNeoXForCausalLM\""},
		{"no architecture", `{` + base + `}`, "architectures", "missing required field"},
		{"missing hidden_size", `{"architectures": ["LlamaForCausalLM"], "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 32}`, "hidden_size", "missing required field"},
		{"missing ffn_dim", `{"architectures": ["OPTForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 32}`, "ffn_dim", "missing"},
		{"string size", `{"architectures": ["LlamaForCausalLM"], "hidden_size": "64", "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 32}`, "hidden_size", "want an integer"},
		{"fractional", `{"architectures": ["LlamaForCausalLM"], "hidden_size": 64.5, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 32}`, "hidden_size", "want an integer"},
		{"zero layers", `{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 0, "num_attention_heads": 4, "vocab_size": 32}`, "num_hidden_layers", "positive"},
		{"gqa", `{"architectures": ["LlamaForCausalLM"], ` + base + `, "num_key_value_heads": 3}`, "num_key_value_heads", "do not divide"},
		{"heads", `{"architectures": ["LlamaForCausalLM"], "hidden_size": 66, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 32}`, "num_attention_heads", "do not divide"},
		{"eps", `{"architectures": ["LlamaForCausalLM"], ` + base + `, "rms_norm_eps": -1}`, "rms_norm_eps", "positive"},
		{"eos", `{"architectures": ["LlamaForCausalLM"], ` + base + `, "eos_token_id": ["x"]}`, "eos_token_id", "token id"},
		{"llama3 rope", `{"architectures": ["LlamaForCausalLM"], ` + base + `, "rope_scaling": {"rope_type": "llama3", "factor": 8}}`, "rope_scaling.", "missing"},
		{"quant bits", `{"architectures": ["LlamaForCausalLM"], ` + base + `, "quantization_config": {"quant_method": "gptq", "bits": 5, "group_size": 128}}`, "quantization_config.bits", "want 2, 3, 4 or 8"},
		{"quant method", `{"architectures": ["LlamaForCausalLM"], ` + base + `, "quantization_config": {"bits": 4}}`, "quantization_config.quant_method", "missing"},
		{"not json", `{"architectures": `, "", "not a valid JSON object"},
		{"array", `[1]`, "", "not a valid JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeCfg(t, dir, hf.ConfigFile, c.json)
			_, err := hf.LoadConfig(dir)
			var he *hf.Error
			if !errors.As(err, &he) || !he.BadInput() {
				t.Fatalf("error %v (%T) is not an *hf.Error", err, err)
			}
			if he.File != path || !strings.HasPrefix(he.Field, c.field) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q (field %q): want file %s, field %q, text %q", err, he.Field, path, c.field, c.want)
			}
		})
	}
}

func TestGenerationConfig(t *testing.T) {
	dir := t.TempDir()
	g, err := hf.LoadGenerationConfig(dir) // nothing there: defaults
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, hf.DefaultGenerationConfig()) {
		t.Fatalf("defaults: %+v", g)
	}
	writeCfg(t, dir, hf.ConfigFile, llama31Config)
	g, err = hf.LoadGenerationConfig(dir) // ids from config.json
	if err != nil {
		t.Fatal(err)
	}
	if g.BOSTokenID != 128000 || len(g.EOSTokenIDs) != 3 || g.TopK != 50 || g.Temperature != 1 {
		t.Fatalf("from config: %+v", g)
	}
	writeCfg(t, dir, hf.GenerationConfigFile, `{"do_sample": true, "temperature": 0.6, "top_p": 0.9, "eos_token_id": [128001, 128009],
		"max_length": 4096, "pad_token_id": 128002, "repetition_penalty": 1.1, "max_new_tokens": 64, "top_k": 0}`)
	g, err = hf.LoadGenerationConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := &hf.GenerationConfig{DoSample: true, Temperature: 0.6, TopP: 0.9, TopK: 0, RepetitionPenalty: 1.1, MaxNewTokens: 64,
		MaxLength: 4096, BOSTokenID: 128000, EOSTokenIDs: []int{128001, 128009}, PadTokenID: 128002}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("got %+v\nwant %+v", g, want)
	}
	for _, bad := range []string{`{"top_p": 0}`, `{"temperature": -1}`, `{"top_k": "x"}`, `{"eos_token_id": -3}`, `{`} {
		writeCfg(t, dir, hf.GenerationConfigFile, bad)
		_, err := hf.LoadGenerationConfig(dir)
		var he *hf.Error
		if !errors.As(err, &he) || !strings.Contains(err.Error(), hf.GenerationConfigFile) {
			t.Errorf("%s: error %v", bad, err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{llama31Config, qwen3Config, qwen2Config, optConfig, cogvlmConfig, `{}`, `[]`, `null`,
		`{"architectures":["LlamaForCausalLM"],"hidden_size":1e300,"intermediate_size":1,"num_hidden_layers":1,"num_attention_heads":1,"vocab_size":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := hf.ParseConfig("config.json", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if c.HiddenSize <= 0 || c.NumHeads <= 0 || c.NumKVHeads <= 0 || c.HeadDim <= 0 || c.NumHeads%c.NumKVHeads != 0 || c.VocabSize <= 0 || c.NumLayers <= 0 {
			t.Fatalf("accepted an unusable config: %+v", c)
		}
	})
}

func FuzzParseGenerationConfig(f *testing.F) {
	f.Add([]byte(`{"do_sample": true, "temperature": 0.6, "top_p": 0.9, "eos_token_id": [1, 2]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := hf.ParseGenerationConfig("generation_config.json", b)
		if err == nil && (g.TopP <= 0 || g.TopP > 1 || g.Temperature < 0 || g.TopK < 0) {
			t.Fatalf("accepted %+v", g)
		}
	})
}

func writeCfg(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

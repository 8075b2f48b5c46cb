package hf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Architectures LoadConfig understands (config.json "architectures"[0]).
const (
	ArchLlama  = "LlamaForCausalLM"
	ArchQwen2  = "Qwen2ForCausalLM"
	ArchQwen3  = "Qwen3ForCausalLM"
	ArchOPT    = "OPTForCausalLM"
	ArchCogVLM = "CogVLMForCausalLM"
)

// OPTPositionOffset is the offset HF's OPTLearnedPositionalEmbedding adds to every position:
// the table embed_positions.weight has max_position_embeddings+2 rows and position p uses row
// p+2. Model code applies it; Config.PositionOffset carries it for OPT.
const OPTPositionOffset = 2

// modelTypes maps config.json "model_type" to an architecture, for configs without
// "architectures".
var modelTypes = map[string]string{
	"llama": ArchLlama, "qwen2": ArchQwen2, "qwen3": ArchQwen3, "opt": ArchOPT,
}

// Config holds what the runtime needs from config.json, normalised across architectures
// (OPT's ffn_dim is IntermediateSize, CogVLM's num_multi_query_heads is NumKVHeads, ...).
type Config struct {
	Architecture string // one of the Arch constants
	ModelType    string

	HiddenSize       int
	IntermediateSize int // OPT: ffn_dim
	NumLayers        int
	NumHeads         int
	NumKVHeads       int // GQA; equals NumHeads when absent
	HeadDim          int // head_dim, or HiddenSize/NumHeads when absent
	VocabSize        int
	MaxPositions     int // max_position_embeddings

	RMSNormEps   float64 // LLaMA, Qwen, CogVLM
	LayerNormEps float64 // OPT: HF's OPT uses nn.LayerNorm's default 1e-5
	RopeTheta    float64
	RopeScaling  *RopeScaling // nil when absent or "default"

	TieWordEmbeddings bool
	AttentionBias     bool // q, k and v projections have biases
	AttentionOutBias  bool // o_proj / out_proj has a bias (Qwen2: q/k/v only)
	MLPBias           bool
	QKNorm            bool // Qwen3: RMSNorm over head_dim on q and k before RoPE
	HiddenAct         string
	TorchDType        string // "torch_dtype" (or the newer "dtype"), e.g. "bfloat16"

	BOSTokenID  int   // -1 when none
	EOSTokenIDs []int // eos_token_id may be an integer or a list
	PadTokenID  int   // -1 when none

	// OPT only.
	DoLayerNormBefore          bool // pre-norm (true) or post-norm (opt-350m)
	WordEmbedProjDim           int  // embedding width; project_in/out exist when != HiddenSize
	LayerNormElementwiseAffine bool
	RemoveFinalLayerNorm       bool // _remove_final_layer_norm
	PositionOffset             int  // OPTPositionOffset for OPT, else 0

	SlidingWindow int // Qwen2 with use_sliding_window; 0 = full attention

	Quantization *QuantizationConfig // quantization_config, or quantize_config.json; nil when dense

	Raw map[string]any // the whole config.json (numbers as json.Number), for other fields
}

// RopeScaling is config.json "rope_scaling". Only "llama3" (LLaMA-3.1) and "linear" change the
// frequencies in ways the runtime implements; other types are kept for the runtime to reject.
type RopeScaling struct {
	Type                 string // rope_type (or the older "type")
	Factor               float64
	LowFreqFactor        float64 // llama3
	HighFreqFactor       float64 // llama3
	OriginalMaxPositions int     // llama3: original_max_position_embeddings
}

// QuantizationConfig is config.json "quantization_config" (or quantize_config.json).
type QuantizationConfig struct {
	Method           string // quant_method, e.g. "gptq"
	Bits             int
	GroupSize        int // -1: one group per column
	DescAct          bool
	Sym              bool
	CheckpointFormat string // "gptq" (zeros stored minus one) or "gptq_v2"
	DampPercent      float64
	TrueSequential   bool
	StaticGroups     bool
	LMHead           bool
	PackDtype        string
	Source           string         // the file it was read from
	Raw              map[string]any // the whole object (the "rpiq" block lives here)
}

// ConfigFile, GenerationConfigFile, QuantizeConfigFile are the file names in a model folder.
const (
	ConfigFile           = "config.json"
	GenerationConfigFile = "generation_config.json"
	QuantizeConfigFile   = "quantize_config.json"
)

// LoadConfig reads and validates dir/config.json (and dir/quantize_config.json when config.json
// has no quantization_config).
func LoadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(path, data)
	if err != nil {
		return nil, err
	}
	if c.Quantization == nil {
		qpath := filepath.Join(dir, QuantizeConfigFile)
		qdata, err := os.ReadFile(qpath)
		switch {
		case err == nil:
			m, err := decodeObject(qpath, qdata)
			if err != nil {
				return nil, err
			}
			if c.Quantization, err = parseQuantization(qpath, "", m, false); err != nil {
				return nil, err
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	return c, nil
}

// ParseConfig parses config.json content; file names it in errors.
func ParseConfig(file string, data []byte) (*Config, error) {
	m, err := decodeObject(file, data)
	if err != nil {
		return nil, err
	}
	f := &fields{file: file, m: m}
	c := &Config{Raw: m, BOSTokenID: -1, PadTokenID: -1}
	c.ModelType = f.string("model_type", "")
	c.Architecture, err = architecture(file, m, c.ModelType)
	if err != nil {
		return nil, err
	}
	if c.Architecture == ArchOPT {
		parseOPT(f, c)
	} else {
		parseLlamaFamily(f, c)
	}
	c.TorchDType = f.string("torch_dtype", f.string("dtype", ""))
	if f.err != nil {
		return nil, f.err
	}
	if q := f.object("quantization_config"); q != nil {
		if c.Quantization, err = parseQuantization(file, "quantization_config.", q, true); err != nil {
			return nil, err
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	return c, nil
}

func architecture(file string, m map[string]any, modelType string) (string, error) {
	supported := []string{ArchLlama, ArchQwen2, ArchQwen3, ArchOPT, ArchCogVLM}
	v, ok := m["architectures"]
	if !ok || v == nil {
		if a, ok := modelTypes[modelType]; ok {
			return a, nil
		}
		return "", errf(file, "architectures", "missing required field (want a list such as [%q])", ArchLlama)
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return "", errf(file, "architectures", "want a non-empty list of strings, got %s", describe(v))
	}
	name, ok := list[0].(string)
	if !ok {
		return "", errf(file, "architectures", "want a list of strings, got an element %s", describe(list[0]))
	}
	for _, s := range supported {
		if name == s {
			return name, nil
		}
	}
	return "", errf(file, "architectures", "unknown architecture %q (supported: %s)", name, strings.Join(supported, ", "))
}

// parseLlamaFamily reads LLaMA, Qwen2, Qwen3 and CogVLM configs, with the defaults of their HF
// configuration classes where a field is optional.
func parseLlamaFamily(f *fields, c *Config) {
	c.HiddenSize = f.positive("hidden_size", true, 0)
	c.IntermediateSize = f.positive("intermediate_size", true, 0)
	c.NumLayers = f.positive("num_hidden_layers", true, 0)
	c.NumHeads = f.positive("num_attention_heads", true, 0)
	c.VocabSize = f.positive("vocab_size", true, 0)
	if f.err != nil {
		return
	}
	kvKey := "num_key_value_heads"
	kvDefault := c.NumHeads
	if c.Architecture == ArchCogVLM {
		kvKey, kvDefault = "num_multi_query_heads", 8 // configuration_cogvlm.py default
	}
	c.NumKVHeads = f.positive(kvKey, false, kvDefault)
	if f.err == nil && c.NumHeads%c.NumKVHeads != 0 {
		f.fail(kvKey, "%d key/value heads do not divide %d attention heads", c.NumKVHeads, c.NumHeads)
	}
	if f.has("head_dim") {
		c.HeadDim = f.positive("head_dim", false, 0)
	} else if c.HiddenSize%c.NumHeads != 0 {
		f.fail("num_attention_heads", "%d heads do not divide hidden_size %d (and head_dim is absent)", c.NumHeads, c.HiddenSize)
	} else {
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	if f.err == nil && c.HeadDim%2 != 0 {
		f.fail("head_dim", "rotary embeddings need an even head dimension, got %d", c.HeadDim)
	}
	maxPos, theta, eps := 2048, 10000.0, 1e-6
	switch c.Architecture {
	case ArchQwen2, ArchQwen3:
		maxPos = 32768
	case ArchCogVLM:
		maxPos, theta, eps = 8192, 500000, 1e-5 // rope base is hard-coded in modeling_cogvlm.py
	}
	c.MaxPositions = f.positive("max_position_embeddings", false, maxPos)
	c.RMSNormEps = f.float("rms_norm_eps", eps)
	if f.err == nil && c.RMSNormEps <= 0 {
		f.fail("rms_norm_eps", "must be positive, got %g", c.RMSNormEps)
	}
	c.RopeTheta = f.float("rope_theta", theta)
	c.RopeScaling = parseRope(f, c)
	if f.err == nil && c.RopeTheta <= 0 {
		f.fail("rope_theta", "must be positive, got %g", c.RopeTheta)
	}
	c.HiddenAct = f.string("hidden_act", "silu")
	c.TieWordEmbeddings = f.bool("tie_word_embeddings", false)
	switch c.Architecture {
	case ArchQwen2:
		c.AttentionBias = true // Qwen2Attention: bias on q/k/v, not on o_proj
		if f.bool("use_sliding_window", false) {
			c.SlidingWindow = f.positive("sliding_window", false, 4096)
		}
	case ArchCogVLM:
		c.AttentionBias = false // only the vision expert's QKV has a bias; see the checkpoint
	default:
		c.AttentionBias = f.bool("attention_bias", false)
		c.AttentionOutBias = c.AttentionBias
	}
	if c.Architecture == ArchLlama {
		c.MLPBias = f.bool("mlp_bias", false)
	}
	c.QKNorm = c.Architecture == ArchQwen3
	bos, eos := 1, []int{2} // LlamaConfig defaults
	switch c.Architecture {
	case ArchQwen2, ArchQwen3:
		bos, eos = -1, nil
	case ArchCogVLM:
		bos, eos = 128000, []int{128001}
	}
	c.BOSTokenID = f.tokenID("bos_token_id", bos)
	c.EOSTokenIDs = f.tokenIDs("eos_token_id", eos)
	c.PadTokenID = f.tokenID("pad_token_id", -1)
}

// parseRope reads rope_scaling, or the newer rope_parameters (which also carries rope_theta).
func parseRope(f *fields, c *Config) *RopeScaling {
	key := "rope_scaling"
	m := f.object(key)
	if p := f.object("rope_parameters"); p != nil {
		key, m = "rope_parameters", p
		pf := &fields{file: f.file, m: p}
		c.RopeTheta = pf.float("rope_theta", c.RopeTheta)
		if pf.err != nil {
			f.fail(key+".rope_theta", "%s", pf.err.(*Error).Problem)
			return nil
		}
	}
	if m == nil {
		return nil
	}
	rf := &fields{file: f.file, m: m}
	r := &RopeScaling{Type: rf.string("rope_type", rf.string("type", ""))}
	defer func() {
		if rf.err != nil {
			e := rf.err.(*Error)
			f.fail(key+"."+e.Field, "%s", e.Problem)
		}
	}()
	switch r.Type {
	case "", "default":
		if key == "rope_scaling" && r.Type == "" {
			rf.fail("rope_type", "missing (want \"llama3\", \"linear\", ...)")
		}
		return nil
	case "llama3":
		r.Factor = rf.float("factor", 0)
		r.LowFreqFactor = rf.float("low_freq_factor", 0)
		r.HighFreqFactor = rf.float("high_freq_factor", 0)
		r.OriginalMaxPositions = rf.int("original_max_position_embeddings", true, 0)
		for _, k := range []string{"factor", "low_freq_factor", "high_freq_factor"} {
			if !rf.has(k) {
				rf.fail(k, "missing required field of the llama3 rope type")
			}
		}
		switch {
		case rf.err != nil:
		case r.Factor <= 0:
			rf.fail("factor", "must be positive, got %g", r.Factor)
		case r.LowFreqFactor <= 0 || r.HighFreqFactor <= r.LowFreqFactor:
			rf.fail("high_freq_factor", "want 0 < low_freq_factor < high_freq_factor, got %g and %g", r.LowFreqFactor, r.HighFreqFactor)
		case r.OriginalMaxPositions <= 0:
			rf.fail("original_max_position_embeddings", "must be positive, got %d", r.OriginalMaxPositions)
		}
	default:
		r.Factor = rf.float("factor", 1)
		if rf.err == nil && r.Factor <= 0 {
			rf.fail("factor", "must be positive, got %g", r.Factor)
		}
		r.OriginalMaxPositions = rf.int("original_max_position_embeddings", false, 0)
	}
	return r
}

// parseOPT reads an OPTConfig (HF defaults where optional).
func parseOPT(f *fields, c *Config) {
	c.HiddenSize = f.positive("hidden_size", true, 0)
	c.IntermediateSize = f.positive("ffn_dim", true, 0)
	c.NumLayers = f.positive("num_hidden_layers", true, 0)
	c.NumHeads = f.positive("num_attention_heads", true, 0)
	c.VocabSize = f.positive("vocab_size", true, 0)
	if f.err != nil {
		return
	}
	if c.HiddenSize%c.NumHeads != 0 {
		f.fail("num_attention_heads", "%d heads do not divide hidden_size %d", c.NumHeads, c.HiddenSize)
	}
	c.NumKVHeads = c.NumHeads
	c.HeadDim = c.HiddenSize / c.NumHeads
	c.MaxPositions = f.positive("max_position_embeddings", false, 2048)
	c.LayerNormEps = 1e-5
	c.HiddenAct = f.string("activation_function", "relu")
	c.DoLayerNormBefore = f.bool("do_layer_norm_before", true)
	c.WordEmbedProjDim = f.positive("word_embed_proj_dim", false, c.HiddenSize)
	c.LayerNormElementwiseAffine = f.bool("layer_norm_elementwise_affine", true)
	c.RemoveFinalLayerNorm = f.bool("_remove_final_layer_norm", false)
	bias := f.bool("enable_bias", true)
	c.AttentionBias, c.AttentionOutBias, c.MLPBias = bias, bias, bias
	c.TieWordEmbeddings = f.bool("tie_word_embeddings", true)
	c.PositionOffset = OPTPositionOffset
	c.BOSTokenID = f.tokenID("bos_token_id", 2)
	c.EOSTokenIDs = f.tokenIDs("eos_token_id", []int{2})
	c.PadTokenID = f.tokenID("pad_token_id", 1)
}

// parseQuantization reads a quantization_config object. prefix names the object in errors;
// inConfig says it comes from config.json, where quant_method is required.
func parseQuantization(file, prefix string, m map[string]any, inConfig bool) (*QuantizationConfig, error) {
	f := &fields{file: file, m: m}
	q := &QuantizationConfig{Source: file, Raw: m}
	q.Method = f.string("quant_method", "")
	if q.Method == "" {
		if inConfig {
			return nil, errf(file, prefix+"quant_method", "missing required field (want \"gptq\")")
		}
		q.Method = "gptq" // quantize_config.json is AutoGPTQ's file
	}
	q.Bits = f.int("bits", q.Method == "gptq", 0)
	q.GroupSize = f.int("group_size", false, -1)
	q.DescAct = f.bool("desc_act", false)
	q.Sym = f.bool("sym", true) // AutoGPTQ's default
	q.CheckpointFormat = f.string("checkpoint_format", "")
	if q.CheckpointFormat == "" && q.Method == "gptq" {
		q.CheckpointFormat = "gptq"
	}
	q.DampPercent = f.float("damp_percent", 0)
	q.TrueSequential = f.bool("true_sequential", true)
	q.StaticGroups = f.bool("static_groups", false)
	q.LMHead = f.bool("lm_head", false)
	q.PackDtype = f.string("pack_dtype", "")
	if f.err != nil {
		e := f.err.(*Error)
		e.Field = prefix + e.Field
		return nil, e
	}
	if q.Method == "gptq" {
		switch q.Bits {
		case 2, 3, 4, 8:
		default:
			return nil, errf(file, prefix+"bits", "want 2, 3, 4 or 8, got %d", q.Bits)
		}
		if q.GroupSize == 0 || q.GroupSize < -1 {
			return nil, errf(file, prefix+"group_size", "want -1 or a positive group size, got %d", q.GroupSize)
		}
	}
	return q, nil
}

// String summarises the config on one line (for logs).
func (c *Config) String() string {
	s := fmt.Sprintf("%s: hidden %d, intermediate %d, %d layers, %d heads (%d kv, head_dim %d), vocab %d",
		c.Architecture, c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKVHeads, c.HeadDim, c.VocabSize)
	if c.Quantization != nil {
		s += fmt.Sprintf(", %s %d-bit group %d", c.Quantization.Method, c.Quantization.Bits, c.Quantization.GroupSize)
	}
	return s
}

// sortedKeys is a small helper for deterministic output.
func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

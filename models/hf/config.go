package hf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// ConfigReader reads one architecture's hyper-parameters from config.json (f) into the common
// fields of c that every tool reads (sizes, norms, rotary settings, token ids) and into c.Arch,
// the architecture's own parsed config (CogVLM2's vision tower, ...). Problems go to f.Fail.
type ConfigReader func(f *Fields, c *Config)

var (
	readersMu  sync.Mutex
	readers    = map[string]ConfigReader{}
	modelTypes = map[string]string{} // config.json model_type → architecture, for configs without "architectures"
)

// RegisterConfig makes LoadConfig understand the architecture arch (config.json
// "architectures"[0]), and the model_type values that name it when "architectures" is absent.
// Architectures register through models/hfmodel.Register; a second registration panics.
func RegisterConfig(arch string, types []string, read ConfigReader) {
	readersMu.Lock()
	defer readersMu.Unlock()
	if _, dup := readers[arch]; dup {
		panic("hf: config of architecture " + arch + " registered twice")
	}
	readers[arch] = read
	for _, t := range types {
		modelTypes[t] = arch
	}
}

// Architectures lists the architectures whose config.json LoadConfig understands.
func Architectures() []string {
	readersMu.Lock()
	defer readersMu.Unlock()
	return sortedKeys(readers)
}

func reader(arch string) (ConfigReader, bool) {
	readersMu.Lock()
	defer readersMu.Unlock()
	r, ok := readers[arch]
	return r, ok
}

// Config holds what the runtime needs from config.json, normalised across architectures
// (OPT's ffn_dim is IntermediateSize, CogVLM's num_multi_query_heads is NumKVHeads, ...). Each
// architecture's ConfigReader fills it; a multimodal model's fields describe its language model.
type Config struct {
	Architecture string // config.json "architectures"[0] (a registered one)
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

	// Learned absolute positions and a narrower embedding (OPT's reader sets them).
	WordEmbedProjDim int // embedding width when it differs from hidden_size (project_in/out); 0 or HiddenSize otherwise
	PositionOffset   int // learned positions: position p reads row p+PositionOffset (OPT: 2)

	SlidingWindow int // Qwen2 with use_sliding_window; 0 = full attention

	// Arch is the architecture's own parsed config (its ConfigReader sets it; nil when the
	// common fields say everything), e.g. *cogvlm2.Config.
	Arch any

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
	f := &Fields{file: file, m: m}
	c := &Config{Raw: m, BOSTokenID: -1, PadTokenID: -1}
	c.ModelType = f.String("model_type", "")
	c.Architecture, err = architecture(file, m, c.ModelType)
	if err != nil {
		return nil, err
	}
	read, _ := reader(c.Architecture)
	read(f, c)
	c.TorchDType = f.String("torch_dtype", f.String("dtype", ""))
	if f.err != nil {
		return nil, f.err
	}
	if q := f.Object("quantization_config"); q != nil {
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
	v, ok := m["architectures"]
	if !ok || v == nil {
		readersMu.Lock()
		a, ok := modelTypes[modelType]
		readersMu.Unlock()
		if ok {
			return a, nil
		}
		return "", errf(file, "architectures", "missing required field (want a list such as [\"LlamaForCausalLM\"])")
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return "", errf(file, "architectures", "want a non-empty list of strings, got %s", describe(v))
	}
	name, ok := list[0].(string)
	if !ok {
		return "", errf(file, "architectures", "want a list of strings, got an element %s", describe(list[0]))
	}
	if _, ok := reader(name); !ok {
		return "", errf(file, "architectures", "unknown architecture %q (supported: %s)", name, strings.Join(Architectures(), ", "))
	}
	return name, nil
}

// DecoderDefaults are the values a LLaMA-style decoder's configuration class gives to absent
// fields (LlamaConfig: 2048 positions, rope_theta 1e4, rms_norm_eps 1e-6, bos 1 / eos 2).
type DecoderDefaults struct {
	KVHeadsKey   string // "num_key_value_heads" when empty (CogVLM: "num_multi_query_heads")
	KVHeads      int    // 0: num_attention_heads
	MaxPositions int
	RopeTheta    float64
	RMSNormEps   float64
	BOS          int   // -1: none
	EOS          []int // nil: none
}

// LlamaDefaults are LlamaConfig's defaults.
var LlamaDefaults = DecoderDefaults{MaxPositions: 2048, RopeTheta: 10000, RMSNormEps: 1e-6, BOS: 1, EOS: []int{2}}

// ReadDecoder reads the hyper-parameters of a LLaMA-style decoder with the defaults d: sizes,
// heads and key/value heads, head_dim (hidden/heads when absent; even, for RoPE),
// max_position_embeddings, rms_norm_eps, rope_theta and rope_scaling (or rope_parameters),
// hidden_act, tie_word_embeddings and the token ids. LLaMA, Qwen2/3, CogVLM2's language model and
// Idefics3's text_config share it; each architecture sets its own flags (biases, q/k norm) after.
func ReadDecoder(f *Fields, c *Config, d DecoderDefaults) {
	c.HiddenSize = f.Positive("hidden_size", true, 0)
	c.IntermediateSize = f.Positive("intermediate_size", true, 0)
	c.NumLayers = f.Positive("num_hidden_layers", true, 0)
	c.NumHeads = f.Positive("num_attention_heads", true, 0)
	c.VocabSize = f.Positive("vocab_size", true, 0)
	if f.err != nil {
		return
	}
	kvKey, kvDefault := d.KVHeadsKey, d.KVHeads
	if kvKey == "" {
		kvKey = "num_key_value_heads"
	}
	if kvDefault <= 0 {
		kvDefault = c.NumHeads
	}
	c.NumKVHeads = f.Positive(kvKey, false, kvDefault)
	if f.err == nil && c.NumHeads%c.NumKVHeads != 0 {
		f.Fail(kvKey, "%d key/value heads do not divide %d attention heads", c.NumKVHeads, c.NumHeads)
	}
	if f.Has("head_dim") {
		c.HeadDim = f.Positive("head_dim", false, 0)
	} else if c.HiddenSize%c.NumHeads != 0 {
		f.Fail("num_attention_heads", "%d heads do not divide hidden_size %d (and head_dim is absent)", c.NumHeads, c.HiddenSize)
	} else {
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	if f.err == nil && c.HeadDim%2 != 0 {
		f.Fail("head_dim", "rotary embeddings need an even head dimension, got %d", c.HeadDim)
	}
	c.MaxPositions = f.Positive("max_position_embeddings", false, d.MaxPositions)
	c.RMSNormEps = f.Float("rms_norm_eps", d.RMSNormEps)
	if f.err == nil && c.RMSNormEps <= 0 {
		f.Fail("rms_norm_eps", "must be positive, got %g", c.RMSNormEps)
	}
	c.RopeTheta = f.Float("rope_theta", d.RopeTheta)
	c.RopeScaling = parseRope(f, c)
	if f.err == nil && c.RopeTheta <= 0 {
		f.Fail("rope_theta", "must be positive, got %g", c.RopeTheta)
	}
	c.HiddenAct = f.String("hidden_act", "silu")
	c.TieWordEmbeddings = f.Bool("tie_word_embeddings", false)
	c.BOSTokenID = f.TokenID("bos_token_id", d.BOS)
	c.EOSTokenIDs = f.TokenIDs("eos_token_id", d.EOS)
	c.PadTokenID = f.TokenID("pad_token_id", -1)
}

// parseRope reads rope_scaling, or the newer rope_parameters (which also carries rope_theta).
func parseRope(f *Fields, c *Config) *RopeScaling {
	key := "rope_scaling"
	m := f.Object(key)
	if p := f.Object("rope_parameters"); p != nil {
		key, m = "rope_parameters", p
		pf := &Fields{file: f.file, m: p}
		c.RopeTheta = pf.Float("rope_theta", c.RopeTheta)
		if pf.err != nil {
			f.Fail(key+".rope_theta", "%s", pf.err.(*Error).Problem)
			return nil
		}
	}
	if m == nil {
		return nil
	}
	rf := &Fields{file: f.file, m: m}
	r := &RopeScaling{Type: rf.String("rope_type", rf.String("type", ""))}
	defer func() {
		if rf.err != nil {
			e := rf.err.(*Error)
			f.Fail(key+"."+e.Field, "%s", e.Problem)
		}
	}()
	switch r.Type {
	case "", "default":
		if key == "rope_scaling" && r.Type == "" {
			rf.Fail("rope_type", "missing (want \"llama3\", \"linear\", ...)")
		}
		return nil
	case "llama3":
		r.Factor = rf.Float("factor", 0)
		r.LowFreqFactor = rf.Float("low_freq_factor", 0)
		r.HighFreqFactor = rf.Float("high_freq_factor", 0)
		r.OriginalMaxPositions = rf.Int("original_max_position_embeddings", true, 0)
		for _, k := range []string{"factor", "low_freq_factor", "high_freq_factor"} {
			if !rf.Has(k) {
				rf.Fail(k, "missing required field of the llama3 rope type")
			}
		}
		switch {
		case rf.err != nil:
		case r.Factor <= 0:
			rf.Fail("factor", "must be positive, got %g", r.Factor)
		case r.LowFreqFactor <= 0 || r.HighFreqFactor <= r.LowFreqFactor:
			rf.Fail("high_freq_factor", "want 0 < low_freq_factor < high_freq_factor, got %g and %g", r.LowFreqFactor, r.HighFreqFactor)
		case r.OriginalMaxPositions <= 0:
			rf.Fail("original_max_position_embeddings", "must be positive, got %d", r.OriginalMaxPositions)
		}
	default:
		r.Factor = rf.Float("factor", 1)
		if rf.err == nil && r.Factor <= 0 {
			rf.Fail("factor", "must be positive, got %g", r.Factor)
		}
		r.OriginalMaxPositions = rf.Int("original_max_position_embeddings", false, 0)
	}
	return r
}

// ParseQuantization reads config.json's quantization_config object m (file names it in errors),
// for architectures that keep their decoder's settings in a nested object.
func ParseQuantization(file string, m map[string]any) (*QuantizationConfig, error) {
	return parseQuantization(file, "quantization_config.", m, true)
}

// parseQuantization reads a quantization_config object. prefix names the object in errors;
// inConfig says it comes from config.json, where quant_method is required.
func parseQuantization(file, prefix string, m map[string]any, inConfig bool) (*QuantizationConfig, error) {
	f := &Fields{file: file, m: m}
	q := &QuantizationConfig{Source: file, Raw: m}
	q.Method = f.String("quant_method", "")
	if q.Method == "" {
		if inConfig {
			return nil, errf(file, prefix+"quant_method", "missing required field (want \"gptq\")")
		}
		q.Method = "gptq" // quantize_config.json is AutoGPTQ's file
	}
	q.Bits = f.Int("bits", q.Method == "gptq", 0)
	q.GroupSize = f.Int("group_size", false, -1)
	q.DescAct = f.Bool("desc_act", false)
	q.Sym = f.Bool("sym", true) // AutoGPTQ's default
	q.CheckpointFormat = f.String("checkpoint_format", "")
	if q.CheckpointFormat == "" && q.Method == "gptq" {
		q.CheckpointFormat = "gptq"
	}
	q.DampPercent = f.Float("damp_percent", 0)
	q.TrueSequential = f.Bool("true_sequential", true)
	q.StaticGroups = f.Bool("static_groups", false)
	q.LMHead = f.Bool("lm_head", false)
	q.PackDtype = f.String("pack_dtype", "")
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

// Package smolvlm is SmolVLM, Hugging Face's Idefics3 architecture (Idefics3ForConditionalGeneration,
// and SmolVLM2's SmolVLMForConditionalGeneration, whose tensors are laid out the same way): a
// SigLIP vision encoder, a pixel-shuffle connector with one linear projection, and a LLaMA
// decoder (SmolLM2). Everything follows transformers' modeling_idefics3.py,
// image_processing_idefics3.py and processing_idefics3.py; docs/DESIGN.md cites each number.
package smolvlm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/rpiq/rpiq/models/hf"
)

// Architecture names of config.json "architectures"[0] this package loads.
const (
	ArchIdefics3 = "Idefics3ForConditionalGeneration"
	ArchSmolVLM  = "SmolVLMForConditionalGeneration" // SmolVLM2: same tensors and forward pass
)

// VisionConfig is config.json's vision_config (Idefics3VisionConfig; its defaults where a field
// is absent: hidden 1152, intermediate 3072, 12 layers, 16 heads, image 224, patch 32,
// gelu_pytorch_tanh, layer_norm_eps 1e-6).
type VisionConfig struct {
	HiddenSize       int
	IntermediateSize int
	NumLayers        int
	NumHeads         int
	NumChannels      int
	ImageSize        int // the tile side the encoder takes (512 for SmolVLM-256M/500M)
	PatchSize        int
	LayerNormEps     float64
	HiddenAct        string
}

// Bounds on sizes, far above any real model, so a corrupt config fails with an error instead of
// asking for terabytes.
const (
	maxLayers = 1024
	maxWidth  = 1 << 17
)

// Grid is the patches per side: the stride-P convolution ("valid" padding) drops the last
// image_size mod patch_size pixels (SigLIP-SO400M: 384 px, patch 14, 27 patches).
func (v VisionConfig) Grid() int { return v.ImageSize / v.PatchSize }

// Config is an Idefics3 config: the decoder's (text_config, parsed as a LLaMA config) and the
// vision encoder's, the pixel-shuffle factor and the image placeholder id.
type Config struct {
	Architecture      string
	Text              *hf.Config
	Vision            VisionConfig
	ScaleFactor       int  // scale_factor: pixel shuffle merges s×s patches into one token
	ImageTokenID      int  // image_token_id
	TieWordEmbeddings bool // top-level tie_word_embeddings (Idefics3Config default false)
	Quantization      *hf.QuantizationConfig
	Raw               map[string]any
}

// ImageSeqLen is the number of embeddings one tile becomes: (grid/scale)² (64 for SmolVLM-256M,
// 81 for SmolVLM-2.2B).
func (c *Config) ImageSeqLen() int { g := c.Vision.Grid() / c.ScaleFactor; return g * g }

// LoadConfig reads dir/config.json.
func LoadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, hf.ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig parses config.json content; file names it in errors.
func ParseConfig(file string, data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, &hf.Error{File: file, Problem: "not a valid JSON object", Err: err}
	}
	return parse(file, m)
}

// parse reads a decoded config.json (numbers as json.Number).
func parse(file string, m map[string]any) (*Config, error) {
	var err error
	bad := func(field, format string, a ...any) error {
		return &hf.Error{File: file, Field: field, Problem: fmt.Sprintf(format, a...)}
	}
	c := &Config{Raw: m}
	list, _ := m["architectures"].([]any)
	if len(list) > 0 {
		c.Architecture, _ = list[0].(string)
	}
	if c.Architecture != ArchIdefics3 && c.Architecture != ArchSmolVLM {
		return nil, bad("architectures", "want [%q] or [%q], got %v", ArchIdefics3, ArchSmolVLM, m["architectures"])
	}
	intField := func(obj map[string]any, prefix, key string, def int) (int, error) {
		v, ok := obj[key]
		if !ok || v == nil {
			if def > 0 {
				return def, nil
			}
			return 0, bad(prefix+key, "missing required field")
		}
		n, ok := v.(json.Number)
		if !ok {
			return 0, bad(prefix+key, "want a positive integer, got %v", v)
		}
		i, err := n.Int64()
		if err != nil || i <= 0 || i > math.MaxInt32 {
			return 0, bad(prefix+key, "want a positive integer, got %s", n)
		}
		return int(i), nil
	}
	if c.ScaleFactor, err = intField(m, "", "scale_factor", 2); err != nil {
		return nil, err
	}
	if c.ImageTokenID, err = intField(m, "", "image_token_id", 128257); err != nil {
		return nil, err
	}
	if v, ok := m["tie_word_embeddings"].(bool); ok {
		c.TieWordEmbeddings = v
	}

	vm, ok := m["vision_config"].(map[string]any)
	if !ok {
		return nil, bad("vision_config", "missing or not an object")
	}
	v := &c.Vision
	for _, f := range []struct {
		key string
		dst *int
		def int
	}{
		{"hidden_size", &v.HiddenSize, 1152}, {"intermediate_size", &v.IntermediateSize, 3072},
		{"num_hidden_layers", &v.NumLayers, 12}, {"num_attention_heads", &v.NumHeads, 16},
		{"num_channels", &v.NumChannels, 3}, {"image_size", &v.ImageSize, 224}, {"patch_size", &v.PatchSize, 32},
	} {
		if *f.dst, err = intField(vm, "vision_config.", f.key, f.def); err != nil {
			return nil, err
		}
	}
	v.LayerNormEps = 1e-6
	if n, ok := vm["layer_norm_eps"].(json.Number); ok {
		if v.LayerNormEps, err = n.Float64(); err != nil || !(v.LayerNormEps > 0) {
			return nil, bad("vision_config.layer_norm_eps", "want a positive number, got %s", n)
		}
	}
	v.HiddenAct = "gelu_pytorch_tanh"
	if s, ok := vm["hidden_act"].(string); ok {
		v.HiddenAct = s
	}
	switch {
	case v.HiddenAct != "gelu_pytorch_tanh" && v.HiddenAct != "gelu":
		return nil, bad("vision_config.hidden_act", "want \"gelu_pytorch_tanh\" or \"gelu\", got %q", v.HiddenAct)
	case v.NumChannels != 3:
		return nil, bad("vision_config.num_channels", "want 3 (RGB), got %d", v.NumChannels)
	case v.HiddenSize%v.NumHeads != 0:
		return nil, bad("vision_config.num_attention_heads", "%d heads do not divide hidden_size %d", v.NumHeads, v.HiddenSize)
	case v.PatchSize > v.ImageSize:
		return nil, bad("vision_config.patch_size", "%d exceeds image_size %d", v.PatchSize, v.ImageSize)
	case v.NumLayers > maxLayers || v.HiddenSize > maxWidth || v.IntermediateSize > maxWidth || v.ImageSize > maxEdge:
		return nil, bad("vision_config", "sizes beyond any real model (layers %d, hidden %d, intermediate %d, image %d)", v.NumLayers, v.HiddenSize, v.IntermediateSize, v.ImageSize)
	case v.Grid()%c.ScaleFactor != 0:
		return nil, bad("scale_factor", "%d does not divide the patch grid of %d per side", c.ScaleFactor, v.Grid())
	}

	tm, ok := m["text_config"].(map[string]any)
	if !ok {
		return nil, bad("text_config", "missing or not an object")
	}
	// The decoder is a LlamaModel built from text_config (model_type "llama"): parse it with the
	// LLaMA rules. Its own "architectures" (VLlama3ForCausalLM) names the training code only.
	if mt, ok := tm["model_type"].(string); ok && mt != "llama" {
		return nil, bad("text_config.model_type", "only \"llama\" decoders are implemented, got %q", mt)
	}
	tf := hf.NewFields(file, m).Sub("text_config")
	c.Text = &hf.Config{Architecture: "LlamaForCausalLM", ModelType: "llama", BOSTokenID: -1, PadTokenID: -1}
	hf.ReadDecoder(tf, c.Text, hf.LlamaDefaults)
	c.Text.AttentionBias = tf.Bool("attention_bias", false)
	c.Text.AttentionOutBias = c.Text.AttentionBias
	c.Text.MLPBias = tf.Bool("mlp_bias", false)
	if err := tf.Err(); err != nil {
		return nil, err
	}
	if q, ok := m["quantization_config"].(map[string]any); ok {
		if c.Text.Quantization, err = hf.ParseQuantization(file, q); err != nil {
			return nil, err
		}
	}
	c.Text.TieWordEmbeddings = c.TieWordEmbeddings // tie_weights reads the top-level flag
	c.Text.Raw = m
	c.Quantization = c.Text.Quantization
	if c.Text.HiddenAct != "silu" {
		return nil, bad("text_config.hidden_act", "want silu, got %q", c.Text.HiddenAct)
	}
	if c.Text.AttentionBias || c.Text.MLPBias {
		return nil, bad("text_config.attention_bias", "biased LLaMA projections are not part of Idefics3")
	}
	if t := c.Text; t.NumLayers > maxLayers || t.HiddenSize > maxWidth || t.IntermediateSize > maxWidth || t.VocabSize > 1<<24 {
		return nil, bad("text_config", "sizes beyond any real model (layers %d, hidden %d, intermediate %d, vocabulary %d)", t.NumLayers, t.HiddenSize, t.IntermediateSize, t.VocabSize)
	}
	if c.ImageTokenID >= c.Text.VocabSize {
		return nil, bad("image_token_id", "%d is outside the vocabulary of %d", c.ImageTokenID, c.Text.VocabSize)
	}
	return c, nil
}

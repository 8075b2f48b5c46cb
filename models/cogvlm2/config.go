// Package cogvlm2 is the CogVLM2 vision-language model (CogVLMForCausalLM): an EVA2-CLIP vision
// tower, a 2×2 stride-2 convolution, a GLU adapter, and a LLaMA-3 language model whose attention
// and MLP route each token to a vision or a language expert. Facts and tensor names follow
// ../shared/reference/cogvlm2.md.
package cogvlm2

import (
	"fmt"
	"math"
	"path/filepath"

	"github.com/rpiq/rpiq/models/hf"
)

// Token types and the placeholder id the reference hard-codes for image positions.
const (
	LanguageTokenType = 0
	VisionTokenType   = 1
	PadTokenID        = 128002 // padding_idx, tokenizer pad and image placeholder
)

// VisionConfig is config.json's vision_config (EVA2-CLIP).
type VisionConfig struct {
	HiddenSize       int
	IntermediateSize int
	NumLayers        int
	NumHeads         int
	PatchSize        int
	ImageSize        int
	NumPositions     int
	InChannels       int
	LayerNormEps     float64
	HiddenAct        string
}

// Grid is the patches per side (image_size / patch_size).
func (v VisionConfig) Grid() int { return v.ImageSize / v.PatchSize }

// ImageTokens is the number of embeddings an image becomes in the language model: the 2×2
// convolution halves the grid, and boi/eoi are added (2306 for the real 1344-pixel model).
func (v VisionConfig) ImageTokens() int { g := v.Grid() / 2; return g*g + 2 }

// Arch is CogVLM2's config.json architecture name.
const Arch = "CogVLMForCausalLM"

// Config is a CogVLM2 config: the language model's (hf.Config, read as a LLaMA-style decoder
// with num_multi_query_heads and rope base 500000) and the vision tower's. hf.LoadConfig makes
// it (readConfig, registered in textmodel.go) and keeps it in hf.Config.Arch.
type Config struct {
	LM              *hf.Config
	Vision          VisionConfig
	TemplateVersion string // "chat", "vqa" or "base"
}

// lmDefaults are configuration_cogvlm.py's: 8 multi-query heads, rope base 500000 (hard-coded in
// modeling_cogvlm.py), 8192 positions, rms_norm_eps 1e-5, Llama-3's bos/eos.
var lmDefaults = hf.DecoderDefaults{KVHeadsKey: "num_multi_query_heads", KVHeads: 8, MaxPositions: 8192,
	RopeTheta: 500000, RMSNormEps: 1e-5, BOS: 128000, EOS: []int{128001}}

// readConfig reads a CogVLMForCausalLM config.json: the language model into c, the vision
// tower and template into c.Arch (*Config), checking that the sizes are consistent.
func readConfig(f *hf.Fields, c *hf.Config) {
	hf.ReadDecoder(f, c, lmDefaults)
	c.AttentionBias = false // only the vision expert's QKV has a bias; see the checkpoint
	if f.Err() != nil {
		return
	}
	vf := f.Sub("vision_config")
	if vf == nil {
		f.Fail("vision_config", "missing or not an object")
		return
	}
	var v VisionConfig
	for _, fl := range []struct {
		key string
		dst *int
		def int
	}{
		{"hidden_size", &v.HiddenSize, 0}, {"intermediate_size", &v.IntermediateSize, 0},
		{"num_hidden_layers", &v.NumLayers, 0}, {"num_heads", &v.NumHeads, 0},
		{"patch_size", &v.PatchSize, 0}, {"image_size", &v.ImageSize, 0},
		{"num_positions", &v.NumPositions, 0}, {"in_channels", &v.InChannels, 3},
	} {
		*fl.dst = vf.Positive(fl.key, fl.def == 0, fl.def)
		if vf.Err() == nil && *fl.dst > math.MaxInt32 {
			vf.Fail(fl.key, "want a positive integer below 2³¹, got %d", *fl.dst)
		}
	}
	v.LayerNormEps = vf.Float("layer_norm_eps", 1e-6)
	v.HiddenAct = vf.String("hidden_act", "gelu")
	if vf.Err() != nil {
		return
	}
	switch {
	case v.LayerNormEps <= 0:
		vf.Fail("layer_norm_eps", "want a positive number, got %g", v.LayerNormEps)
	case v.HiddenAct != "gelu":
		vf.Fail("hidden_act", "only exact GELU (\"gelu\") is implemented, got %q", v.HiddenAct)
	case v.InChannels != 3:
		vf.Fail("in_channels", "want 3 (RGB), got %d", v.InChannels)
	case v.HiddenSize%v.NumHeads != 0:
		vf.Fail("num_heads", "%d heads do not divide hidden_size %d", v.NumHeads, v.HiddenSize)
	case v.ImageSize%v.PatchSize != 0:
		vf.Fail("image_size", "%d is not a multiple of patch_size %d", v.ImageSize, v.PatchSize)
	case v.Grid()%2 != 0:
		vf.Fail("image_size", "the patch grid (%d per side) must be even for the 2×2 convolution", v.Grid())
	case v.NumPositions != v.Grid()*v.Grid()+1:
		vf.Fail("num_positions", "want (image_size/patch_size)²+1 = %d (patches plus CLS), got %d", v.Grid()*v.Grid()+1, v.NumPositions)
	case c.VocabSize <= PadTokenID:
		f.Fail("vocab_size", "must exceed the hard-coded pad/image id %d, got %d", PadTokenID, c.VocabSize)
	}
	if f.Err() != nil {
		return
	}
	c.Arch = &Config{LM: c, Vision: v, TemplateVersion: f.String("template_version", "chat")}
}

// LoadConfig reads dir/config.json, which must be a CogVLM2's.
func LoadConfig(dir string) (*Config, error) {
	lm, err := hf.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	return FromHF(filepath.Join(dir, hf.ConfigFile), lm)
}

// ParseConfig parses config.json content (file names it in errors).
func ParseConfig(file string, data []byte) (*Config, error) {
	lm, err := hf.ParseConfig(file, data)
	if err != nil {
		return nil, err
	}
	return FromHF(file, lm)
}

// FromHF is the CogVLM2 config hf.LoadConfig made of file, or an error naming the architecture.
func FromHF(file string, lm *hf.Config) (*Config, error) {
	c, ok := lm.Arch.(*Config)
	if !ok {
		return nil, &hf.Error{File: file, Field: "architectures", Problem: fmt.Sprintf("want %s, got %s", Arch, lm.Architecture)}
	}
	return c, nil
}

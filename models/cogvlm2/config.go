// Package cogvlm2 is the CogVLM2 vision-language model (CogVLMForCausalLM): an EVA2-CLIP vision
// tower, a 2×2 stride-2 convolution, a GLU adapter, and a LLaMA-3 language model whose attention
// and MLP route each token to a vision or a language expert. Facts and tensor names follow
// ../shared/reference/cogvlm2.md.
package cogvlm2

import (
	"encoding/json"
	"fmt"
	"math"

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

// Config is a CogVLM2 config: the language model's (hf.Config, parsed as a LLaMA-family model
// with num_multi_query_heads and rope base 500000) and the vision tower's.
type Config struct {
	LM              *hf.Config
	Vision          VisionConfig
	TemplateVersion string // "chat", "vqa" or "base"
}

// LoadConfig reads dir/config.json.
func LoadConfig(dir string) (*Config, error) {
	lm, err := hf.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	return FromHF(dir+"/config.json", lm)
}

// FromHF completes an hf.Config of architecture CogVLMForCausalLM with the vision settings,
// checking that the sizes are consistent (file names the config in errors).
func FromHF(file string, lm *hf.Config) (*Config, error) {
	if lm.Architecture != hf.ArchCogVLM {
		return nil, &hf.Error{File: file, Field: "architectures", Problem: fmt.Sprintf("want %s, got %s", hf.ArchCogVLM, lm.Architecture)}
	}
	raw, ok := lm.Raw["vision_config"].(map[string]any)
	if !ok {
		return nil, &hf.Error{File: file, Field: "vision_config", Problem: "missing or not an object"}
	}
	bad := func(field, format string, a ...any) error {
		return &hf.Error{File: file, Field: "vision_config." + field, Problem: fmt.Sprintf(format, a...)}
	}
	intField := func(key string, def int) (int, error) {
		v, ok := raw[key]
		if !ok || v == nil {
			if def > 0 {
				return def, nil
			}
			return 0, bad(key, "missing required field")
		}
		n, ok := v.(json.Number)
		if !ok {
			return 0, bad(key, "want a positive integer, got %v", v)
		}
		i, err := n.Int64()
		if err != nil || i <= 0 || i > math.MaxInt32 {
			return 0, bad(key, "want a positive integer, got %s", n)
		}
		return int(i), nil
	}
	var v VisionConfig
	var err error
	for _, f := range []struct {
		key string
		dst *int
		def int
	}{
		{"hidden_size", &v.HiddenSize, 0}, {"intermediate_size", &v.IntermediateSize, 0},
		{"num_hidden_layers", &v.NumLayers, 0}, {"num_heads", &v.NumHeads, 0},
		{"patch_size", &v.PatchSize, 0}, {"image_size", &v.ImageSize, 0},
		{"num_positions", &v.NumPositions, 0}, {"in_channels", &v.InChannels, 3},
	} {
		if *f.dst, err = intField(f.key, f.def); err != nil {
			return nil, err
		}
	}
	v.LayerNormEps = 1e-6
	if n, ok := raw["layer_norm_eps"].(json.Number); ok {
		if v.LayerNormEps, err = n.Float64(); err != nil || v.LayerNormEps <= 0 {
			return nil, bad("layer_norm_eps", "want a positive number, got %s", n)
		}
	}
	v.HiddenAct = "gelu"
	if s, ok := raw["hidden_act"].(string); ok {
		v.HiddenAct = s
	}
	switch {
	case v.HiddenAct != "gelu":
		return nil, bad("hidden_act", "only exact GELU (\"gelu\") is implemented, got %q", v.HiddenAct)
	case v.InChannels != 3:
		return nil, bad("in_channels", "want 3 (RGB), got %d", v.InChannels)
	case v.HiddenSize%v.NumHeads != 0:
		return nil, bad("num_heads", "%d heads do not divide hidden_size %d", v.NumHeads, v.HiddenSize)
	case v.ImageSize%v.PatchSize != 0:
		return nil, bad("image_size", "%d is not a multiple of patch_size %d", v.ImageSize, v.PatchSize)
	case v.Grid()%2 != 0:
		return nil, bad("image_size", "the patch grid (%d per side) must be even for the 2×2 convolution", v.Grid())
	case v.NumPositions != v.Grid()*v.Grid()+1:
		return nil, bad("num_positions", "want (image_size/patch_size)²+1 = %d (patches plus CLS), got %d", v.Grid()*v.Grid()+1, v.NumPositions)
	}
	if lm.VocabSize <= PadTokenID {
		return nil, &hf.Error{File: file, Field: "vocab_size", Problem: fmt.Sprintf("must exceed the hard-coded pad/image id %d, got %d", PadTokenID, lm.VocabSize)}
	}
	tv := "chat"
	if s, ok := lm.Raw["template_version"].(string); ok {
		tv = s
	}
	return &Config{LM: lm, Vision: v, TemplateVersion: tv}, nil
}

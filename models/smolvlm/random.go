package smolvlm

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
)

// Sizes describe a SmolVLM: the decoder's and the vision encoder's dimensions.
type Sizes struct {
	Name                                                  string
	Hidden, Intermediate, Layers, Heads, KVHeads, HeadDim int // decoder (SmolLM2)
	Vocab                                                 int
	RopeTheta                                             float64
	MaxPositions                                          int
	VHidden, VIntermediate, VLayers, VHeads               int // SigLIP
	ImageSize, PatchSize, ScaleFactor                     int
	ImageTokenID                                          int
	Tied                                                  bool
}

// The published checkpoints' dimensions (docs/DESIGN.md cites the config.json of each):
// SmolVLM-256M-Instruct (SmolLM2-135M + SigLIP-B/16 at 512), SmolVLM-500M-Instruct (SmolLM2-360M
// + the same encoder) and SmolVLM-Instruct, 2.2B (SmolLM2-1.7B + SigLIP-SO400M/14 at 384).
var (
	Sizes256M = Sizes{Name: "smolvlm-256m", Hidden: 576, Intermediate: 1536, Layers: 30, Heads: 9, KVHeads: 3, HeadDim: 64,
		Vocab: 49280, RopeTheta: 100000, MaxPositions: 8192,
		VHidden: 768, VIntermediate: 3072, VLayers: 12, VHeads: 12, ImageSize: 512, PatchSize: 16, ScaleFactor: 4, ImageTokenID: 49190}
	Sizes500M = Sizes{Name: "smolvlm-500m", Hidden: 960, Intermediate: 2560, Layers: 32, Heads: 15, KVHeads: 5, HeadDim: 64,
		Vocab: 49280, RopeTheta: 100000, MaxPositions: 8192,
		VHidden: 768, VIntermediate: 3072, VLayers: 12, VHeads: 12, ImageSize: 512, PatchSize: 16, ScaleFactor: 4, ImageTokenID: 49190}
	Sizes2B = Sizes{Name: "smolvlm-2.2b", Hidden: 2048, Intermediate: 8192, Layers: 24, Heads: 32, KVHeads: 32, HeadDim: 64,
		Vocab: 49155, RopeTheta: 273768, MaxPositions: 16384,
		VHidden: 1152, VIntermediate: 4304, VLayers: 27, VHeads: 16, ImageSize: 384, PatchSize: 14, ScaleFactor: 3, ImageTokenID: 49153}
)

// TinySizes is the test model: the real 256M layout shrunk (a 32-pixel tile of 8×8 patches of
// 4, scale factor 2: 16 tokens per tile; vocabulary 300 with the image token at 260).
var TinySizes = Sizes{Name: "tiny", Hidden: 48, Intermediate: 96, Layers: 2, Heads: 6, KVHeads: 2, HeadDim: 8,
	Vocab: 300, RopeTheta: 100000, MaxPositions: 512,
	VHidden: 32, VIntermediate: 64, VLayers: 2, VHeads: 4, ImageSize: 32, PatchSize: 4, ScaleFactor: 2, ImageTokenID: 260}

// ConfigJSON is the config.json of an Idefics3ForConditionalGeneration with these sizes, with
// the fields the published SmolVLM configs set.
func (s Sizes) ConfigJSON() []byte {
	c := map[string]any{
		"architectures": []string{ArchIdefics3}, "model_type": "idefics3",
		"image_token_id": s.ImageTokenID, "scale_factor": s.ScaleFactor, "pad_token_id": 128002,
		"tie_word_embeddings": s.Tied, "torch_dtype": "bfloat16",
		"text_config": map[string]any{
			"architectures": []string{"VLlama3ForCausalLM"}, "model_type": "llama",
			"hidden_size": s.Hidden, "intermediate_size": s.Intermediate, "num_hidden_layers": s.Layers,
			"num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads, "head_dim": s.HeadDim,
			"vocab_size": s.Vocab, "rms_norm_eps": 1e-5, "rope_theta": s.RopeTheta,
			"max_position_embeddings": s.MaxPositions, "pad_token_id": 2, "bos_token_id": 1, "eos_token_id": 2,
		},
		"vision_config": map[string]any{
			"hidden_size": s.VHidden, "intermediate_size": s.VIntermediate, "num_hidden_layers": s.VLayers,
			"num_attention_heads": s.VHeads, "image_size": s.ImageSize, "patch_size": s.PatchSize,
			"hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-6, "model_type": "idefics3",
		},
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return b
}

// Config parses ConfigJSON.
func (s Sizes) Config() (*Config, error) { return ParseConfig(s.Name+"/config.json", s.ConfigJSON()) }

// RandomTensors draws every tensor of cfg (F32): weights N(0, 1/fan_in), norm weights near 1,
// biases small, position embeddings N(0, 0.5²).
func RandomTensors(cfg *Config, seed uint64) hfmodel.MemTensors {
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	out := hfmodel.MemTensors{}
	for _, spec := range cfg.Tensors() {
		n := int(spec.Numel())
		v := make([]float32, n)
		fanIn := 1
		if len(spec.Shape) > 1 {
			fanIn = n / spec.Shape[0]
		}
		sd := 1 / math.Sqrt(float64(fanIn))
		switch {
		case strings.Contains(spec.Name, "norm") && strings.HasSuffix(spec.Name, ".weight"):
			for i := range v {
				v[i] = 1 + 0.1*float32(r.NormFloat64())
			}
		case strings.HasSuffix(spec.Name, ".bias"):
			for i := range v {
				v[i] = 0.05 * float32(r.NormFloat64())
			}
		case strings.Contains(spec.Name, "position_embedding"):
			for i := range v {
				v[i] = 0.5 * float32(r.NormFloat64())
			}
		case strings.Contains(spec.Name, "embed_tokens"):
			for i := range v {
				v[i] = float32(r.NormFloat64())
			}
		default:
			for i := range v {
				v[i] = float32(r.NormFloat64() * sd)
			}
		}
		out[spec.Name] = safetensors.Tensor{Name: spec.Name, DType: safetensors.F32, Shape: spec.Shape, Data: f32bytes(v)}
	}
	return out
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		u := math.Float32bits(f)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

// WriteRandom writes a random SmolVLM of sizes s into dir: config.json and model.safetensors
// (F32), no tokenizer.
func WriteRandom(dir string, s Sizes, seed uint64) (*Config, error) {
	cj := s.ConfigJSON()
	cfg, err := ParseConfig(filepath.Join(dir, "config.json"), cj)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cj, 0o644); err != nil {
		return nil, err
	}
	mt := RandomTensors(cfg, seed)
	var ts []safetensors.Tensor
	for _, spec := range cfg.Tensors() {
		ts = append(ts, mt[spec.Name])
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return nil, fmt.Errorf("smolvlm: %w", err)
	}
	return cfg, nil
}

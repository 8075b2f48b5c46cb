package cogvlm2

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/backend"
)

// Sizes describe a CogVLM2 of reduced size for tests and benchmarks. The vocabulary stays the
// real 128256 so the hard-coded ids (BOS 128000, pad 128002, EOS 128001/128009) stay valid.
type Sizes struct {
	Hidden, Intermediate, Layers, Heads, KVHeads int // language model
	VHidden, VIntermediate, VLayers, VHeads      int // vision tower
	ImageSize, PatchSize                         int
	MaxPositions                                 int
}

// TinySizes is the tiny model of reference §1.9 (a 56-pixel image: 4 patches + boi/eoi).
var TinySizes = Sizes{Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHeads: 2,
	VHidden: 32, VIntermediate: 64, VLayers: 2, VHeads: 4, ImageSize: 56, PatchSize: 14, MaxPositions: 256}

// ConfigJSON is the config.json of a CogVLMForCausalLM with these sizes (BF16 stated, as the
// real one; WriteRandom stores F32).
func (s Sizes) ConfigJSON() []byte {
	g := s.ImageSize / s.PatchSize
	c := map[string]any{
		"architectures": []string{Arch},
		"vision_config": map[string]any{"dropout_prob": 0.0, "hidden_act": "gelu", "in_channels": 3,
			"num_hidden_layers": s.VLayers, "hidden_size": s.VHidden, "patch_size": s.PatchSize,
			"num_heads": s.VHeads, "intermediate_size": s.VIntermediate, "layer_norm_eps": 1e-6,
			"num_positions": g*g + 1, "image_size": s.ImageSize},
		"hidden_size": s.Hidden, "intermediate_size": s.Intermediate, "num_attention_heads": s.Heads,
		"num_multi_query_heads": s.KVHeads, "max_position_embeddings": s.MaxPositions,
		"rms_norm_eps": 1e-5, "template_version": "chat", "bos_token_id": 128000,
		"eos_token_id": []int{128001, 128009}, "pad_token_id": PadTokenID, "vocab_size": 128256,
		"num_hidden_layers": s.Layers, "hidden_act": "silu", "torch_dtype": "float32",
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return b
}

// GenerationConfigJSON is the real checkpoint's generation_config.json.
const GenerationConfigJSON = `{"do_sample": true, "temperature": 0.6, "top_p": 0.9, "max_length": 4096,
 "eos_token_id": [128001, 128009], "pad_token_id": 128002, "bos_token_id": 128000}`

// RandomTensors draws every tensor of cfg (F32): weights N(0, 1/fan_in), norm weights near 1,
// inv_freq exact for base 500000.
func RandomTensors(cfg *Config, seed uint64) hfmodel.MemTensors {
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	out := hfmodel.MemTensors{}
	for _, spec := range cfg.Tensors() {
		v := make([]float32, spec.Numel())
		drawTensor(cfg, spec, v, fanIn(spec), r)
		out[spec.Name] = safetensors.Tensor{Name: spec.Name, DType: safetensors.F32, Shape: spec.Shape, Data: f32bytes(v)}
	}
	return out
}

// fanIn is a tensor's inputs per output row (1 for a vector).
func fanIn(spec TensorSpec) int {
	if len(spec.Shape) > 1 {
		return int(spec.Numel()) / spec.Shape[0]
	}
	return 1
}

// drawTensor fills v as RandomTensors draws the tensor spec (from r).
func drawTensor(cfg *Config, spec TensorSpec, v []float32, inputs int, r *rand.Rand) {
	sd := 1 / math.Sqrt(float64(inputs))
	switch {
	case strings.HasSuffix(spec.Name, "rotary_emb.inv_freq"):
		copy(v, backend.InvFreq(500000, cfg.LM.HeadDim, nil))
	case strings.HasSuffix(spec.Name, "norm.weight"), strings.HasSuffix(spec.Name, "norm1.weight"), strings.HasSuffix(spec.Name, "layernorm.weight"):
		for i := range v {
			v[i] = 1 + 0.1*float32(r.NormFloat64())
		}
	default:
		for i := range v {
			v[i] = float32(r.NormFloat64() * sd)
		}
	}
}

// WriteRandomLarge writes a random CogVLM2 of sizes s into dir like WriteRandom, but streams
// each tensor to the file in 1 MiB pieces (each tensor from its own random stream, so other
// values than WriteRandom's): a checkpoint at the real widths (9 GB with two layers of each
// part) is written without holding it in memory.
func WriteRandomLarge(dir string, s Sizes, seed uint64) (*Config, error) {
	cj := s.ConfigJSON()
	cfg, err := ParseConfig(filepath.Join(dir, "config.json"), cj)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cj, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(GenerationConfigJSON), 0o644); err != nil {
		return nil, err
	}
	var src []safetensors.Source
	for ti, spec := range cfg.Tensors() {
		spec := spec
		n, fi := int(spec.Numel()), fanIn(spec)
		stream := uint64(ti)
		src = append(src, safetensors.Source{Name: spec.Name, DType: safetensors.F32, Shape: spec.Shape,
			Fill: func(w io.Writer) error {
				r := rand.New(rand.NewPCG(seed, stream))
				if strings.HasSuffix(spec.Name, "rotary_emb.inv_freq") {
					v := make([]float32, n)
					drawTensor(cfg, spec, v, fi, r)
					_, err := w.Write(f32bytes(v))
					return err
				}
				v := make([]float32, 1<<18)
				for done := 0; done < n; done += len(v) {
					piece := v[:min(len(v), n-done)]
					drawTensor(cfg, spec, piece, fi, r)
					if _, err := w.Write(f32bytes(piece)); err != nil {
						return err
					}
				}
				return nil
			}})
	}
	if err := safetensors.WriteFrom(filepath.Join(dir, "model.safetensors"), src, map[string]string{"format": "pt"}); err != nil {
		return nil, fmt.Errorf("cogvlm2: %w", err)
	}
	return cfg, nil
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		u := math.Float32bits(f)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

// Build makes a model from in-memory tensors (benchmarks).
func Build(cfg *Config, t hfmodel.MemTensors, be backend.Backend) (*Model, error) {
	return New(cfg, &hfmodel.Weights{Checkpoint: t, Backend: be})
}

// WriteRandom writes a random CogVLM2 of sizes s into dir: config.json,
// generation_config.json and model.safetensors (no tokenizer: copy the Llama-3 one in).
func WriteRandom(dir string, s Sizes, seed uint64) (*Config, error) {
	cj := s.ConfigJSON()
	cfg, err := ParseConfig(filepath.Join(dir, "config.json"), cj)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cj, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(GenerationConfigJSON), 0o644); err != nil {
		return nil, err
	}
	mt := RandomTensors(cfg, seed)
	var ts []safetensors.Tensor
	for _, spec := range cfg.Tensors() {
		ts = append(ts, mt[spec.Name])
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return nil, fmt.Errorf("cogvlm2: %w", err)
	}
	return cfg, nil
}

// RealConfigJSON is config.json of THUDM/cogvlm2-llama3-chat-19B (reference §1.1), for the
// full-size FLOP, byte and memory figures.
const RealConfigJSON = `{
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

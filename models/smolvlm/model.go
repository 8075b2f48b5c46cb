package smolvlm

import (
	"fmt"
	"strings"
	"sync"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/nn"
)

// Model is a loaded SmolVLM: the SigLIP encoder, the connector and the LLaMA decoder.
type Model struct {
	be  backend.Backend
	cfg *Config

	// vision encoder
	vattn   backend.Attn
	veps    float32
	patch   *nn.Linear     // patch_embedding as [Hv × 3·P·P] over gathered patches (c, ky, kx)
	pos     backend.Tensor // G²×Hv
	vlayers []*vitLayer
	postW   backend.Tensor
	postB   backend.Tensor
	proj    *nn.Linear // connector.modality_projection.proj

	// decoder
	attn    backend.Attn
	eps     float32
	invFreq []float32
	embed   backend.Weight
	layers  []*decLayer
	norm    backend.Tensor
	head    *nn.Linear // lm_head, or the embedding table when tied

	bytes int64

	smu sync.Mutex  // guards scr
	scr [][]float32 // host scratch of the encoder (scratch)
}

type vitLayer struct {
	q, k, v, out *nn.Linear
	fc1, fc2     *nn.Linear
	ln1W, ln1B   backend.Tensor
	ln2W, ln2B   backend.Tensor
}

type decLayer struct {
	q, k, v, o       *nn.Linear
	gate, up, down   *nn.Linear
	attnNorm, mlpNrm backend.Tensor
}

// Load opens a SmolVLM checkpoint folder (config.json + safetensors, sharded or not; GPTQ
// linears, with per-module bits in quantization_config.dynamic, run on the backend's quantized
// kernels or are dequantized).
func Load(dir string, be backend.Backend) (*Model, func() error, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	if q := cfg.Quantization; q != nil && q.Method != "gptq" {
		return nil, nil, &hfmodel.Error{Msg: fmt.Sprintf("%s: quantization method %q is not loaded (GPTQ is)", dir, q.Method)}
	}
	ck, err := hf.OpenCheckpoint(dir)
	if err != nil {
		return nil, nil, err
	}
	m, err := New(cfg, &hfmodel.Weights{Checkpoint: ck, Backend: be, Quant: cfg.Quantization})
	if err != nil {
		ck.Close()
		return nil, nil, err
	}
	return m, ck.Close, nil
}

// checkSizes compares config.json's sizes with the checkpoint's tensors before anything is
// allocated from them (issue 14): the text model's as hf.CheckSizes does, the vision tower's
// layer count, then the shapes of the table the config implies (Tensors).
func checkSizes(cfg *Config, ck *hf.Checkpoint) error {
	if err := hf.CheckSizes(cfg.Text, ck); err != nil {
		return err
	}
	if err := hf.CheckLayerCount(ck, visionPrefix+"encoder.layers.", "vision_config.num_hidden_layers", cfg.Vision.NumLayers); err != nil {
		return err
	}
	return hf.CheckShapes(ck, func(yield func(string, []int) bool) {
		for _, t := range cfg.Tensors() {
			if !yield(t.Name, t.Shape) {
				return
			}
		}
	})
}

func bindLinear(w *hfmodel.Weights, name string, rows, cols int, bias bool) *nn.Linear {
	l := &nn.Linear{Name: name, W: w.Matrix(name+".weight", rows, cols)}
	if bias {
		l.B = w.Vector(name+".bias", rows)
	}
	return l
}

// New binds a checkpoint's tensors by their Hugging Face names through the shared binder (GPTQ
// modules with their own bits from quantization_config.dynamic); a missing or misshapen tensor
// is an error naming it.
func New(cfg *Config, w *hfmodel.Weights) (*Model, error) {
	if ck, ok := w.Checkpoint.(*hf.Checkpoint); ok { // Load and the registry (hfmodel.Open) both come here
		if err := checkSizes(cfg, ck); err != nil { // before anything is allocated by config.json's numbers
			return nil, err
		}
	}
	ck, be := w.Checkpoint, w.Backend
	if w.Quant == nil {
		w.Quant = cfg.Quantization
	}
	v, t := cfg.Vision, cfg.Text
	Hv, Iv, P, G := v.HiddenSize, v.IntermediateSize, v.PatchSize, v.Grid()
	vhd := Hv / v.NumHeads
	m := &Model{
		be:    be,
		cfg:   cfg,
		vattn: backend.Attn{Heads: v.NumHeads, KVHeads: v.NumHeads, HeadDim: vhd, Scale: cpubackend.InvSqrt(vhd)},
		veps:  float32(v.LayerNormEps),
		attn:  backend.Attn{Heads: t.NumHeads, KVHeads: t.NumKVHeads, HeadDim: t.HeadDim, Scale: cpubackend.InvSqrt(t.HeadDim)},
		eps:   float32(t.RMSNormEps),
	}
	if s := t.RopeScaling; s != nil && s.Type != "llama3" && s.Type != "linear" {
		return nil, &hf.Error{File: ck.Dir() + "/config.json", Field: "text_config.rope_scaling", Problem: fmt.Sprintf("type %q is not supported (want llama3 or linear)", s.Type)}
	}
	var rs *backend.RopeScaling
	if s := t.RopeScaling; s != nil {
		rs = &backend.RopeScaling{Type: s.Type, Factor: s.Factor, LowFreqFactor: s.LowFreqFactor, HighFreqFactor: s.HighFreqFactor, OriginalMaxPositions: s.OriginalMaxPositions}
	}
	m.invFreq = backend.InvFreq(t.RopeTheta, t.HeadDim, rs)

	e := visionPrefix + "embeddings."
	m.patch = &nn.Linear{Name: e + "patch_embedding", W: w.Matrix(e+"patch_embedding.weight", Hv, 3*P*P, Hv, 3, P, P), B: w.Vector(e+"patch_embedding.bias", Hv)}
	if w.Err == nil {
		pos, err := ck.Float32(e+"position_embedding.weight", G*G, Hv)
		if err != nil {
			w.Err = err
		} else {
			info, _ := ck.Info(e + "position_embedding.weight")
			w.Bytes += info.Bytes()
			m.pos = be.NewTensor(G*G, Hv)
			be.Upload(m.pos, pos)
		}
	}
	for i := 0; i < v.NumLayers; i++ {
		p := fmt.Sprintf("%sencoder.layers.%d.", visionPrefix, i)
		m.vlayers = append(m.vlayers, &vitLayer{
			q:    bindLinear(w, p+"self_attn.q_proj", Hv, Hv, true),
			k:    bindLinear(w, p+"self_attn.k_proj", Hv, Hv, true),
			v:    bindLinear(w, p+"self_attn.v_proj", Hv, Hv, true),
			out:  bindLinear(w, p+"self_attn.out_proj", Hv, Hv, true),
			fc1:  bindLinear(w, p+"mlp.fc1", Iv, Hv, true),
			fc2:  bindLinear(w, p+"mlp.fc2", Hv, Iv, true),
			ln1W: w.Vector(p+"layer_norm1.weight", Hv), ln1B: w.Vector(p+"layer_norm1.bias", Hv),
			ln2W: w.Vector(p+"layer_norm2.weight", Hv), ln2B: w.Vector(p+"layer_norm2.bias", Hv),
		})
	}
	m.postW = w.Vector(visionPrefix+"post_layernorm.weight", Hv)
	m.postB = w.Vector(visionPrefix+"post_layernorm.bias", Hv)
	s2 := cfg.ScaleFactor * cfg.ScaleFactor
	m.proj = bindLinear(w, strings.TrimSuffix(connectorWeight, ".weight"), t.HiddenSize, Hv*s2, false)

	H, I, hd := t.HiddenSize, t.IntermediateSize, t.HeadDim
	m.embed = w.Matrix(textPrefix+"embed_tokens.weight", t.VocabSize, H)
	for i := 0; i < t.NumLayers; i++ {
		p := fmt.Sprintf("%slayers.%d.", textPrefix, i)
		m.layers = append(m.layers, &decLayer{
			q:        bindLinear(w, p+"self_attn.q_proj", t.NumHeads*hd, H, false),
			k:        bindLinear(w, p+"self_attn.k_proj", t.NumKVHeads*hd, H, false),
			v:        bindLinear(w, p+"self_attn.v_proj", t.NumKVHeads*hd, H, false),
			o:        bindLinear(w, p+"self_attn.o_proj", H, t.NumHeads*hd, false),
			gate:     bindLinear(w, p+"mlp.gate_proj", I, H, false),
			up:       bindLinear(w, p+"mlp.up_proj", I, H, false),
			down:     bindLinear(w, p+"mlp.down_proj", H, I, false),
			attnNorm: w.Vector(p+"input_layernorm.weight", H),
			mlpNrm:   w.Vector(p+"post_attention_layernorm.weight", H),
		})
	}
	m.norm = w.Vector(textPrefix+"norm.weight", H)
	if cfg.TieWordEmbeddings {
		m.head = &nn.Linear{Name: "lm_head", W: m.embed}
	} else {
		m.head = bindLinear(w, "lm_head", t.VocabSize, H, false)
	}
	if w.Err != nil {
		return nil, w.Err
	}
	m.bytes = w.Bytes
	return m, nil
}

// Config is the model's configuration.
func (m *Model) Config() *Config { return m.cfg }

// Backend is the backend the model runs on.
func (m *Model) Backend() backend.Backend { return m.be }

// WeightBytes is the bytes of all bound tensors as stored.
func (m *Model) WeightBytes() int64 { return m.bytes }

// Linears lists every linear module by its checkpoint name (quantization hooks and reports).
func (m *Model) Linears() []*nn.Linear {
	var out []*nn.Linear
	for _, l := range m.vlayers {
		out = append(out, l.q, l.k, l.v, l.out, l.fc1, l.fc2)
	}
	out = append(out, m.proj)
	for _, l := range m.layers {
		out = append(out, l.q, l.k, l.v, l.o, l.gate, l.up, l.down)
	}
	if !m.cfg.TieWordEmbeddings {
		out = append(out, m.head)
	}
	return out
}

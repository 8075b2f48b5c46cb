package cogvlm2

import (
	"fmt"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/nn"
)

// Model is a loaded CogVLM2: the vision tower and the visual-expert language model.
type Model struct {
	be   backend.Backend
	cfg  *Config
	attn backend.Attn
	eps  float32

	vision *visionTower

	embed  backend.Weight // model.embed_tokens.weight
	layers []*layer
	norm   backend.Tensor // model.norm.weight
	head   *nn.Linear     // lm_head (untied)

	bytes int64 // weight bytes as stored
}

// expert is one of a decoder layer's two experts. The fused query_key_value is split by rows
// into q, k and v at load time (the checkpoint keeps it fused; fused names are in qkvName).
type expert struct {
	qkvName        string
	q, k, v        *nn.Linear
	dense          *nn.Linear
	gate, up, down *nn.Linear
}

type layer struct {
	attnNorm, mlpNorm backend.Tensor
	invFreq           []float32 // self_attn.rotary_emb.inv_freq, as stored (BF16 in the real one)
	vis, lang         expert
}

// Load opens a CogVLM2 checkpoint folder (config.json + safetensors, sharded or not; GPTQ
// linears are dequantized by models/quant) on be.
func Load(dir string, be backend.Backend) (*Model, func() error, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	if q := cfg.LM.Quantization; q != nil && q.Method != "gptq" {
		return nil, nil, &hfmodel.Error{Msg: fmt.Sprintf("%s: quantization method %q is not loaded (GPTQ is)", dir, q.Method)}
	}
	ck, err := hf.OpenCheckpoint(dir)
	if err != nil {
		return nil, nil, err
	}
	if err := hf.CheckSizes(cfg.LM, ck); err != nil { // before New allocates by config.json's numbers
		ck.Close()
		return nil, nil, err
	}
	m, err := New(cfg, &hfmodel.Weights{Checkpoint: ck, Backend: be, Quant: cfg.LM.Quantization})
	if err != nil {
		ck.Close()
		return nil, nil, err
	}
	return m, ck.Close, nil
}

// New binds a CogVLM2 checkpoint's tensors by their Hugging Face names (reference §1.8). A
// missing or misshapen tensor is an error naming it.
func New(cfg *Config, hw *hfmodel.Weights) (*Model, error) {
	if ck, ok := hw.Checkpoint.(*hf.Checkpoint); ok { // Load and the registry (hfmodel.Open) both come here
		if err := checkVisionSizes(cfg, ck); err != nil {
			return nil, err
		}
	}
	w := hw
	c := cfg.LM
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return nil, &hf.Error{File: hw.Checkpoint.Dir() + "/config.json", Field: "hidden_act", Problem: fmt.Sprintf("want silu, got %q", c.HiddenAct)}
	}
	H, I, V, hd := c.HiddenSize, c.IntermediateSize, c.VocabSize, c.HeadDim
	kvd := c.NumKVHeads * hd
	m := &Model{
		be:   hw.Backend,
		cfg:  cfg,
		attn: backend.Attn{Heads: c.NumHeads, KVHeads: c.NumKVHeads, HeadDim: hd, Scale: cpubackend.InvSqrt(hd)},
		eps:  float32(c.RMSNormEps),
	}
	lin := func(name string, wt backend.Weight, b backend.Tensor) *nn.Linear {
		return &nn.Linear{Name: name, W: wt, B: b}
	}
	m.embed = w.Matrix("model.embed_tokens.weight", V, H)
	for i := 0; i < c.NumLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		l := &layer{
			attnNorm: w.Vector(p+"input_layernorm.weight", H),
			mlpNorm:  w.Vector(p+"post_attention_layernorm.weight", H),
		}
		if inv := w.Vector(p+"self_attn.rotary_emb.inv_freq", hd/2); inv != nil {
			l.invFreq = make([]float32, hd/2)
			hw.Backend.Download(l.invFreq, inv)
		}
		for _, e := range []struct {
			dst  *expert
			name string
		}{{&l.vis, "vision"}, {&l.lang, "language"}} {
			qkv := p + "self_attn." + e.name + "_expert_query_key_value"
			ws := w.Split(qkv+".weight", H, H, kvd, kvd)
			var bs []backend.Tensor
			if e.name == "vision" { // only the vision expert's QKV has a bias (§0.4)
				bs = w.SplitVector(qkv+".bias", H, kvd, kvd)
			} else {
				bs = make([]backend.Tensor, 3)
			}
			mlp := p + "mlp." + e.name + "_mlp."
			*e.dst = expert{
				qkvName: qkv,
				q:       lin(qkv+"#q", ws[0], bs[0]),
				k:       lin(qkv+"#k", ws[1], bs[1]),
				v:       lin(qkv+"#v", ws[2], bs[2]),
				dense:   lin(p+"self_attn."+e.name+"_expert_dense", w.Matrix(p+"self_attn."+e.name+"_expert_dense.weight", H, H), nil),
				gate:    lin(mlp+"gate_proj", w.Matrix(mlp+"gate_proj.weight", I, H), nil),
				up:      lin(mlp+"up_proj", w.Matrix(mlp+"up_proj.weight", I, H), nil),
				down:    lin(mlp+"down_proj", w.Matrix(mlp+"down_proj.weight", H, I), nil),
			}
		}
		m.layers = append(m.layers, l)
	}
	m.norm = w.Vector("model.norm.weight", H)
	m.head = lin("lm_head", w.Matrix("lm_head.weight", V, H), nil)
	m.vision = newVisionTower(cfg, w)
	if hw.Err != nil {
		return nil, hw.Err
	}
	m.bytes = hw.Bytes
	return m, nil
}

// Config is the model's configuration.
func (m *Model) Config() *Config { return m.cfg }

// Backend is the backend the model runs on.
func (m *Model) Backend() backend.Backend { return m.be }

// WeightBytes is the bytes of all bound tensors as stored.
func (m *Model) WeightBytes() int64 { return m.bytes }

// checkVisionSizes does for the vision tower what hf.CheckSizes does for the language model:
// vision_config's layer count first (a num_hidden_layers of 2e9 made New loop for minutes),
// then the shapes of the table the config implies (Tensors).
func checkVisionSizes(cfg *Config, ck *hf.Checkpoint) error {
	if err := hf.CheckLayerCount(ck, "model.vision.transformer.layers.", "vision_config.num_hidden_layers", cfg.Vision.NumLayers); err != nil {
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

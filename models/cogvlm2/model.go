package cogvlm2

import (
	"fmt"
	"strings"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/quant"
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

// binder adds to hfmodel.Weights what CogVLM2's layout needs: matrices stored with more than
// two dimensions (the convolutions) and fused matrices split by rows.
type binder struct{ *hfmodel.Weights }

// matrix binds name (stored with shape, which must have rows·cols elements) as rows×cols.
func (w binder) matrix(name string, rows, cols int, shape ...int) backend.Weight {
	if len(shape) == 0 {
		shape = []int{rows, cols}
	}
	if w.Err != nil {
		return nil
	}
	if p, ok := strings.CutSuffix(name, ".weight"); ok && w.Quant != nil && quant.IsPacked(w.Checkpoint, p) {
		if ws, ok := w.repacked(p, rows, cols); ok { // the backend's quantized layout
			if ws == nil {
				return nil
			}
			return ws[0]
		}
		v, err := w.dequant(p, rows, cols)
		if err != nil {
			w.Err = err
			return nil
		}
		return w.Backend.NewWeightF32(rows, cols, v)
	}
	if err := w.Checkpoint.CheckShape(name, shape...); err != nil {
		w.Err = err
		return nil
	}
	info, data, err := w.Checkpoint.Raw(name)
	if err != nil {
		w.Err = err
		return nil
	}
	w.Bytes += info.Bytes()
	return w.dense(name, info.DType, rows, cols, data)
}

func (w binder) dense(name string, dt safetensors.DType, rows, cols int, data []byte) backend.Weight {
	var bdt backend.DType
	switch dt {
	case safetensors.F32:
		bdt = backend.F32
	case safetensors.BF16:
		bdt = backend.BF16
	case safetensors.F16:
		bdt = backend.F16
	default:
		v, err := w.Checkpoint.Float32(name)
		if err != nil {
			w.Err = err
			return nil
		}
		if len(data) > 0 {
			return w.Backend.NewWeightF32(rows, cols, v[:rows*cols])
		}
		return nil
	}
	wt, err := w.Backend.NewWeight(bdt, rows, cols, data)
	if err != nil {
		w.Err = &hfmodel.Error{Msg: fmt.Sprintf("%s: tensor %q: %v", w.Checkpoint.Dir(), name, err)}
		return nil
	}
	return wt
}

// split binds the [sum(parts) × cols] matrix name as one weight per block of rows.
func (w binder) split(name string, cols int, parts ...int) []backend.Weight {
	rows := 0
	for _, p := range parts {
		rows += p
	}
	out := make([]backend.Weight, len(parts))
	if w.Err != nil {
		return out
	}
	prefix, _ := strings.CutSuffix(name, ".weight")
	if w.Quant != nil && quant.IsPacked(w.Checkpoint, prefix) {
		if ws, ok := w.repacked(prefix, rows, cols, parts...); ok {
			if ws == nil {
				return out
			}
			return ws
		}
		v, err := w.dequant(prefix, rows, cols)
		if err != nil {
			w.Err = err
			return out
		}
		lo := 0
		for i, p := range parts {
			out[i] = w.Backend.NewWeightF32(p, cols, v[lo*cols:(lo+p)*cols])
			lo += p
		}
		return out
	}
	if err := w.Checkpoint.CheckShape(name, rows, cols); err != nil {
		w.Err = err
		return out
	}
	info, data, err := w.Checkpoint.Raw(name)
	if err != nil {
		w.Err = err
		return out
	}
	w.Bytes += info.Bytes()
	if info.DType != safetensors.F32 && info.DType != safetensors.BF16 && info.DType != safetensors.F16 {
		v, err := w.Checkpoint.Float32(name, rows, cols)
		if err != nil {
			w.Err = err
			return out
		}
		lo := 0
		for i, p := range parts {
			out[i] = w.Backend.NewWeightF32(p, cols, v[lo*cols:(lo+p)*cols])
			lo += p
		}
		return out
	}
	es := len(data) / (rows * cols)
	lo := 0
	for i, p := range parts {
		out[i] = w.dense(name, info.DType, p, cols, data[lo*cols*es:(lo+p)*cols*es])
		lo += p
	}
	return out
}

// dequant unpacks the GPTQ module prefix (rows×cols) with its own bits (moduleQuant).
func (w binder) dequant(prefix string, rows, cols int) ([]float32, error) {
	qc, err := moduleQuant(w.Quant, prefix)
	if err != nil {
		return nil, err
	}
	v, o, in, err := quant.DequantizeLinear(w.Checkpoint, qc, prefix)
	if err != nil {
		return nil, err
	}
	if o != rows || in != cols {
		return nil, &hfmodel.Error{Msg: fmt.Sprintf("%s: GPTQ module %s is %d×%d, want %d×%d", w.Checkpoint.Dir(), prefix, o, in, rows, cols)}
	}
	for _, s := range []string{".qweight", ".qzeros", ".scales", ".g_idx"} {
		if info, ok := w.Checkpoint.Info(prefix + s); ok {
			w.Bytes += info.Bytes()
		}
	}
	return v, nil
}

// vector binds a tensor stored with shape (any rank) as a 1×n backend tensor.
func (w binder) vector(name string, shape ...int) backend.Tensor {
	if w.Err != nil {
		return nil
	}
	v, err := w.Checkpoint.Float32(name, shape...)
	if err != nil {
		w.Err = err
		return nil
	}
	info, _ := w.Checkpoint.Info(name)
	w.Bytes += info.Bytes()
	t := w.Backend.NewTensor(1, len(v))
	w.Backend.Upload(t, v)
	return t
}

// splitVector binds a 1-D tensor as consecutive 1×p parts.
func (w binder) splitVector(name string, parts ...int) []backend.Tensor {
	n := 0
	for _, p := range parts {
		n += p
	}
	out := make([]backend.Tensor, len(parts))
	if w.Err != nil {
		return out
	}
	v, err := w.Checkpoint.Float32(name, n)
	if err != nil {
		w.Err = err
		return out
	}
	info, _ := w.Checkpoint.Info(name)
	w.Bytes += info.Bytes()
	lo := 0
	for i, p := range parts {
		out[i] = w.Backend.NewTensor(1, p)
		w.Backend.Upload(out[i], v[lo:lo+p])
		lo += p
	}
	return out
}

// New binds a CogVLM2 checkpoint's tensors by their Hugging Face names (reference §1.8). A
// missing or misshapen tensor is an error naming it.
func New(cfg *Config, hw *hfmodel.Weights) (*Model, error) {
	w := binder{hw}
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
	m.embed = w.matrix("model.embed_tokens.weight", V, H)
	for i := 0; i < c.NumLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		l := &layer{
			attnNorm: w.vector(p+"input_layernorm.weight", H),
			mlpNorm:  w.vector(p+"post_attention_layernorm.weight", H),
		}
		if inv := w.vector(p+"self_attn.rotary_emb.inv_freq", hd/2); inv != nil {
			l.invFreq = make([]float32, hd/2)
			hw.Backend.Download(l.invFreq, inv)
		}
		for _, e := range []struct {
			dst  *expert
			name string
		}{{&l.vis, "vision"}, {&l.lang, "language"}} {
			qkv := p + "self_attn." + e.name + "_expert_query_key_value"
			ws := w.split(qkv+".weight", H, H, kvd, kvd)
			var bs []backend.Tensor
			if e.name == "vision" { // only the vision expert's QKV has a bias (§0.4)
				bs = w.splitVector(qkv+".bias", H, kvd, kvd)
			} else {
				bs = make([]backend.Tensor, 3)
			}
			mlp := p + "mlp." + e.name + "_mlp."
			*e.dst = expert{
				qkvName: qkv,
				q:       lin(qkv+"#q", ws[0], bs[0]),
				k:       lin(qkv+"#k", ws[1], bs[1]),
				v:       lin(qkv+"#v", ws[2], bs[2]),
				dense:   lin(p+"self_attn."+e.name+"_expert_dense", w.matrix(p+"self_attn."+e.name+"_expert_dense.weight", H, H), nil),
				gate:    lin(mlp+"gate_proj", w.matrix(mlp+"gate_proj.weight", I, H), nil),
				up:      lin(mlp+"up_proj", w.matrix(mlp+"up_proj.weight", I, H), nil),
				down:    lin(mlp+"down_proj", w.matrix(mlp+"down_proj.weight", H, I), nil),
			}
		}
		m.layers = append(m.layers, l)
	}
	m.norm = w.vector("model.norm.weight", H)
	m.head = lin("lm_head", w.matrix("lm_head.weight", V, H), nil)
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

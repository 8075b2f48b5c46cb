// Package llama is the LLaMA family of decoder-only transformers as Hugging Face writes them:
// LlamaForCausalLM (LLaMA 1-3, with LLaMA-3.1 "llama3" rope scaling), Qwen2ForCausalLM (q/k/v
// biases) and Qwen3ForCausalLM (RMSNorm over each head of q and k before RoPE). Pre-norm RMSNorm,
// rotary positions (rotate-half), grouped-query attention, SwiGLU MLP, optionally tied embeddings.
package llama

import (
	"fmt"
	"math"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/model"
	"github.com/rpiq/rpiq/runtime/nn"
)

func init() {
	hfmodel.Register(hfmodel.Arch{Name: ArchLlama, ModelTypes: []string{"llama"}, Config: readLlama, New: New, Inspect: inspect})
	hfmodel.Register(hfmodel.Arch{Name: ArchQwen2, ModelTypes: []string{"qwen2"}, Config: readQwen2, New: New, Inspect: inspect})
	hfmodel.Register(hfmodel.Arch{Name: ArchQwen3, ModelTypes: []string{"qwen3"}, Config: readQwen3, New: New, Inspect: inspect})
}

// Model is a loaded LLaMA-family model. The embedded nn.Decoder makes it a model.Layered from
// the parts below (embedTokens, layerForward, logits).
type Model struct {
	nn.Decoder
	be      backend.Backend
	attn    backend.Attn
	eps     float32
	invFreq []float32

	embed  backend.Weight // model.embed_tokens.weight
	layers []*layer
	norm   backend.Tensor // model.norm.weight
	head   *nn.Linear     // lm_head, or the embedding when tied
}

type layer struct {
	attnNorm, mlpNorm backend.Tensor // input_layernorm, post_attention_layernorm
	qNorm, kNorm      backend.Tensor // Qwen3 only: 1×head_dim
	q, k, v, o        *nn.Linear
	gate, up, down    *nn.Linear
}

// New binds the weights of a LLaMA-family checkpoint by their HF names.
func New(c *hf.Config, w *hfmodel.Weights) (model.Model, error) {
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return nil, &hfmodel.Error{Msg: fmt.Sprintf("%s/config.json: hidden_act %q is not supported (want silu)", w.Checkpoint.Dir(), c.HiddenAct)}
	}
	if c.RopeScaling != nil && c.RopeScaling.Type != "llama3" && c.RopeScaling.Type != "linear" {
		return nil, &hfmodel.Error{Msg: fmt.Sprintf("%s/config.json: rope_scaling type %q is not supported (want llama3 or linear)", w.Checkpoint.Dir(), c.RopeScaling.Type)}
	}
	if c.SlidingWindow > 0 {
		return nil, &hfmodel.Error{Msg: fmt.Sprintf("%s/config.json: use_sliding_window (window %d) is not supported; full attention only", w.Checkpoint.Dir(), c.SlidingWindow)}
	}
	H, hd, V := c.HiddenSize, c.HeadDim, c.VocabSize
	qDim, kvDim := c.NumHeads*hd, c.NumKVHeads*hd
	m := &Model{
		be:   w.Backend,
		attn: backend.Attn{Heads: c.NumHeads, KVHeads: c.NumKVHeads, HeadDim: hd, Scale: invSqrt(hd)},
		eps:  float32(c.RMSNormEps),
	}
	m.Decoder = nn.Decoder{Name: "llama", Backend: w.Backend, Layers: c.NumLayers, KVDim: kvDim, Linear: nn.Linears{},
		EmbedAt: func(tokens []int32, _ int) (backend.Tensor, error) { return m.embedTokens(tokens) },
		Layer: func(i int, x backend.Tensor, c backend.Cache, ci, pos int, hook model.Hook) backend.Tensor {
			return m.layerForward(m.layers[i], x, c, ci, pos, hook)
		},
		Logits: m.logits,
		Groups: func(i int) [][]*nn.Linear {
			l := m.layers[i]
			return [][]*nn.Linear{{l.q, l.k, l.v}, {l.o}, {l.gate, l.up}, {l.down}}
		},
	}
	var rs *backend.RopeScaling
	if s := c.RopeScaling; s != nil {
		rs = &backend.RopeScaling{Type: s.Type, Factor: s.Factor, LowFreqFactor: s.LowFreqFactor, HighFreqFactor: s.HighFreqFactor, OriginalMaxPositions: s.OriginalMaxPositions}
	}
	m.invFreq = backend.InvFreq(c.RopeTheta, hd, rs)

	lin := func(name string, out, in int, bias bool) *nn.Linear {
		l := &nn.Linear{Name: name, W: w.Matrix(name+".weight", out, in)}
		if bias {
			l.B = w.Vector(name+".bias", out)
		}
		m.Linear.Add(l)
		return l
	}
	m.embed = w.Matrix("model.embed_tokens.weight", V, H)
	for i := 0; i < c.NumLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		l := &layer{
			attnNorm: w.Vector(p+"input_layernorm.weight", H),
			mlpNorm:  w.Vector(p+"post_attention_layernorm.weight", H),
			q:        lin(p+"self_attn.q_proj", qDim, H, c.AttentionBias),
			k:        lin(p+"self_attn.k_proj", kvDim, H, c.AttentionBias),
			v:        lin(p+"self_attn.v_proj", kvDim, H, c.AttentionBias),
			o:        lin(p+"self_attn.o_proj", H, qDim, c.AttentionOutBias),
			gate:     lin(p+"mlp.gate_proj", c.IntermediateSize, H, c.MLPBias),
			up:       lin(p+"mlp.up_proj", c.IntermediateSize, H, c.MLPBias),
			down:     lin(p+"mlp.down_proj", H, c.IntermediateSize, c.MLPBias),
		}
		if c.QKNorm {
			l.qNorm = w.Vector(p+"self_attn.q_norm.weight", hd)
			l.kNorm = w.Vector(p+"self_attn.k_norm.weight", hd)
		}
		m.layers = append(m.layers, l)
	}
	m.norm = w.Vector("model.norm.weight", H)
	switch {
	case w.Has("lm_head.weight") || w.Has("lm_head.qweight"): // a GPTQ lm_head (lm_head: true)
		m.head = &nn.Linear{Name: "lm_head", W: w.Matrix("lm_head.weight", V, H)}
	case c.TieWordEmbeddings:
		m.head = &nn.Linear{Name: "lm_head", W: w.TiedHead(m.embed, "model.embed_tokens.weight")}
	default:
		w.Matrix("lm_head.weight", V, H) // records the "not in the checkpoint" error
	}
	if w.Err != nil {
		return nil, w.Err
	}
	eos := make([]int32, len(c.EOSTokenIDs))
	for i, id := range c.EOSTokenIDs {
		eos[i] = int32(id)
	}
	m.Meta = model.Info{
		Arch: c.Architecture, Vocab: V, Hidden: H, Layers: c.NumLayers, MaxSeq: c.MaxPositions,
		BOS: int32(c.BOSTokenID), EOS: eos, WeightBytes: w.Bytes,
		KVBytesPerPos: int64(2 * c.NumLayers * kvDim * 4),
	}
	return m, nil
}

// LMHead is the output projection (the embedding when tied, or its quantized copy).
func (m *Model) LMHead() *nn.Linear { return m.head }

func (m *Model) embedTokens(tokens []int32) (backend.Tensor, error) {
	for _, t := range tokens {
		if t < 0 || int(t) >= m.Meta.Vocab {
			return nil, fmt.Errorf("llama: token id %d outside the vocabulary of %d", t, m.Meta.Vocab)
		}
	}
	x := m.be.NewTensor(len(tokens), m.Meta.Hidden)
	m.be.Embed(x, m.embed, tokens)
	return x, nil
}

func (m *Model) logits(x backend.Tensor) []float32 {
	be := m.be
	h := be.NewTensor(x.Rows(), x.Cols())
	be.RMSNorm(h, x, m.norm, m.eps)
	y := m.head.Forward(be, h)
	out := make([]float32, y.Rows()*y.Cols())
	be.Download(out, y)
	return out
}

// layerForward is one decoder layer (x is n×Hidden at positions pos..; the layer's keys and
// values go to cache layer ci):
//
//	h = x + o(attention(rope(norm_q(q(rms(x)))), rope(norm_k(k(rms(x)))), v(rms(x))))
//	out = h + down(silu(gate(rms(h))) · up(rms(h)))
func (m *Model) layerForward(l *layer, x backend.Tensor, c backend.Cache, ci, pos int, hook model.Hook) backend.Tensor {
	be, a := m.be, m.attn
	n := x.Rows()
	h := be.NewTensor(n, x.Cols())
	be.RMSNorm(h, x, l.attnNorm, m.eps)
	nn.Tap(be, hook, l.q.Name, h)
	q, k, v := l.q.Forward(be, h), l.k.Forward(be, h), l.v.Forward(be, h)
	if l.qNorm != nil {
		be.RMSNorm(q, q, l.qNorm, m.eps)
		be.RMSNorm(k, k, l.kNorm, m.eps)
	}
	be.RoPE(q, a.HeadDim, pos, m.invFreq)
	be.RoPE(k, a.HeadDim, pos, m.invFreq)
	att := be.NewTensor(n, a.Heads*a.HeadDim)
	be.Attention(att, q, k, v, c, ci, pos, a)
	nn.Tap(be, hook, l.o.Name, att)
	be.Add(x, x, l.o.Forward(be, att)) // x is ours: the embedding or the previous layer's output

	be.RMSNorm(h, x, l.mlpNorm, m.eps)
	nn.Tap(be, hook, l.gate.Name, h)
	g, u := l.gate.Forward(be, h), l.up.Forward(be, h)
	be.SwiGLU(g, g, u)
	nn.Tap(be, hook, l.down.Name, g)
	be.Add(x, x, l.down.Forward(be, g))
	return x
}

func invSqrt(n int) float32 {
	return float32(1 / math.Sqrt(float64(n)))
}

// Package opt is Meta's OPT (OPTForCausalLM) as Hugging Face writes it: learned absolute
// positions (row p+2 of embed_positions for position p), LayerNorm with biases before
// (do_layer_norm_before, most sizes) or after (opt-350m) each block, ReLU MLP (fc1, fc2),
// biases everywhere, and project_in/project_out when word_embed_proj_dim differs from hidden_size.
package opt

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
	hfmodel.Register(hfmodel.Arch{Name: Arch, ModelTypes: []string{"opt"}, Config: readConfig, New: New, Inspect: inspect})
}

// Model is a loaded OPT model. The embedded nn.Decoder makes it a model.Layered from the parts
// below (embedTokens, layerForward, logits).
type Model struct {
	nn.Decoder
	be        backend.Backend
	attn      backend.Attn
	preNorm   bool
	gelu      bool
	posOffset int

	embed, positions backend.Weight
	projectIn        *nn.Linear // nil when word_embed_proj_dim == hidden_size
	projectOut       *nn.Linear
	layers           []*layer
	finalNormW       backend.Tensor // model.decoder.final_layer_norm; nil when absent
	finalNormB       backend.Tensor
	head             *nn.Linear
}

type layer struct {
	attnNormW, attnNormB backend.Tensor // self_attn_layer_norm
	mlpNormW, mlpNormB   backend.Tensor // final_layer_norm (of the layer)
	q, k, v, o           *nn.Linear
	fc1, fc2             *nn.Linear
}

const eps = 1e-5 // nn.LayerNorm's default, which OPT uses

// New binds an OPT checkpoint's weights by their HF names.
func New(c *hf.Config, w *hfmodel.Weights) (model.Model, error) {
	dir := w.Checkpoint.Dir()
	oc := configOf(c)
	if c.HiddenAct != "relu" && c.HiddenAct != "gelu" {
		return nil, &hfmodel.Error{Msg: fmt.Sprintf("%s/config.json: activation_function %q is not supported (want relu or gelu)", dir, c.HiddenAct)}
	}
	H, V, P := c.HiddenSize, c.VocabSize, c.WordEmbedProjDim
	hd := c.HeadDim
	m := &Model{
		be: w.Backend, preNorm: oc.DoLayerNormBefore, gelu: c.HiddenAct == "gelu", posOffset: c.PositionOffset,
		attn: backend.Attn{Heads: c.NumHeads, KVHeads: c.NumHeads, HeadDim: hd, Scale: float32(1 / math.Sqrt(float64(hd)))},
	}
	m.Decoder = nn.Decoder{Name: "opt", Backend: w.Backend, Layers: c.NumLayers, KVDim: H, MaxPositions: c.MaxPositions, Linear: nn.Linears{},
		EmbedAt: m.embedTokens,
		Layer: func(i int, x backend.Tensor, c backend.Cache, ci, pos int, hook model.Hook) backend.Tensor {
			return m.layerForward(m.layers[i], x, c, ci, pos, hook)
		},
		Logits: m.logits,
		Groups: func(i int) [][]*nn.Linear {
			l := m.layers[i]
			return [][]*nn.Linear{{l.q, l.k, l.v}, {l.o}, {l.fc1}, {l.fc2}}
		},
	}
	// With layer_norm_elementwise_affine false the norms have no parameters: weight 1, bias 0.
	norm := func(name string) (backend.Tensor, backend.Tensor) {
		if !oc.LayerNormElementwiseAffine {
			one, zero := make([]float32, H), make([]float32, H)
			for i := range one {
				one[i] = 1
			}
			return upload(w.Backend, one), upload(w.Backend, zero)
		}
		return w.Vector(name+".weight", H), w.Vector(name+".bias", H)
	}
	lin := func(name string, out, in int, bias bool) *nn.Linear {
		l := &nn.Linear{Name: name, W: w.Matrix(name+".weight", out, in)}
		if bias {
			l.B = w.Vector(name+".bias", out)
		}
		m.Linear.Add(l)
		return l
	}
	// OPT checkpoints come in two layouts: OPTForCausalLM's (model.decoder.*, lm_head.weight)
	// and the bare OPTModel's that facebook/opt-350m and others are stored in (decoder.*, no
	// lm_head: HF ties it to the embedding). Names keep the checkpoint's prefix.
	d := "model.decoder."
	if !w.Has(d+"embed_tokens.weight") && w.Has("decoder.embed_tokens.weight") {
		d = "decoder."
	}
	m.embed = w.Matrix(d+"embed_tokens.weight", V, P)
	m.positions = w.Matrix(d+"embed_positions.weight", c.MaxPositions+c.PositionOffset, H)
	if P != H {
		m.projectIn = &nn.Linear{Name: d + "project_in", W: w.Matrix(d+"project_in.weight", H, P)}
		m.projectOut = &nn.Linear{Name: d + "project_out", W: w.Matrix(d+"project_out.weight", P, H)}
	}
	for i := 0; i < c.NumLayers; i++ {
		p := fmt.Sprintf("%slayers.%d.", d, i)
		l := &layer{
			q:   lin(p+"self_attn.q_proj", H, H, c.AttentionBias),
			k:   lin(p+"self_attn.k_proj", H, H, c.AttentionBias),
			v:   lin(p+"self_attn.v_proj", H, H, c.AttentionBias),
			o:   lin(p+"self_attn.out_proj", H, H, c.AttentionOutBias),
			fc1: lin(p+"fc1", c.IntermediateSize, H, c.MLPBias),
			fc2: lin(p+"fc2", H, c.IntermediateSize, c.MLPBias),
		}
		l.attnNormW, l.attnNormB = norm(p + "self_attn_layer_norm")
		l.mlpNormW, l.mlpNormB = norm(p + "final_layer_norm")
		m.layers = append(m.layers, l)
	}
	if oc.DoLayerNormBefore && !oc.RemoveFinalLayerNorm {
		m.finalNormW, m.finalNormB = norm(d + "final_layer_norm")
	}
	switch {
	case w.Has("lm_head.weight"):
		m.head = &nn.Linear{Name: "lm_head", W: w.Matrix("lm_head.weight", V, P)}
	case c.TieWordEmbeddings:
		m.head = &nn.Linear{Name: "lm_head", W: m.embed}
	default:
		w.Matrix("lm_head.weight", V, P)
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
		BOS: int32(c.BOSTokenID), EOS: eos, WeightBytes: w.Bytes, KVBytesPerPos: int64(2 * c.NumLayers * H * 4),
	}
	return m, nil
}

func upload(be backend.Backend, v []float32) backend.Tensor {
	t := be.NewTensor(1, len(v))
	be.Upload(t, v)
	return t
}

func (m *Model) embedTokens(tokens []int32, pos int) (backend.Tensor, error) {
	be := m.be
	for _, t := range tokens {
		if t < 0 || int(t) >= m.Meta.Vocab {
			return nil, fmt.Errorf("opt: token id %d outside the vocabulary of %d", t, m.Meta.Vocab)
		}
	}
	e := be.NewTensor(len(tokens), m.embed.Cols())
	be.Embed(e, m.embed, tokens)
	if m.projectIn != nil {
		e = m.projectIn.Forward(be, e)
	}
	ids := make([]int32, len(tokens))
	for i := range ids {
		ids[i] = int32(pos + i + m.posOffset)
	}
	p := be.NewTensor(len(tokens), m.Meta.Hidden)
	be.Embed(p, m.positions, ids)
	be.Add(e, e, p)
	return e, nil
}

func (m *Model) logits(x backend.Tensor) []float32 {
	be := m.be
	h := x
	if m.finalNormW != nil {
		h = be.NewTensor(x.Rows(), x.Cols())
		be.LayerNorm(h, x, m.finalNormW, m.finalNormB, eps)
	}
	if m.projectOut != nil {
		h = m.projectOut.Forward(be, h)
	}
	y := m.head.Forward(be, h)
	out := make([]float32, y.Rows()*y.Cols())
	be.Download(out, y)
	return out
}

// layerForward is one decoder layer; with pre-norm (do_layer_norm_before):
//
//	h = x + out_proj(attention(q(ln1(x)), k(ln1(x)), v(ln1(x))))
//	out = h + fc2(relu(fc1(ln2(h))))
//
// and with post-norm the same blocks with each LayerNorm applied after its residual add.
func (m *Model) layerForward(l *layer, x backend.Tensor, c backend.Cache, ci, pos int, hook model.Hook) backend.Tensor {
	be, a := m.be, m.attn
	n := x.Rows()
	h := x
	if m.preNorm {
		h = be.NewTensor(n, x.Cols())
		be.LayerNorm(h, x, l.attnNormW, l.attnNormB, eps)
	}
	nn.Tap(be, hook, l.q.Name, h)
	q, k, v := l.q.Forward(be, h), l.k.Forward(be, h), l.v.Forward(be, h)
	att := be.NewTensor(n, a.Heads*a.HeadDim)
	be.Attention(att, q, k, v, c, ci, pos, a)
	nn.Tap(be, hook, l.o.Name, att)
	be.Add(x, x, l.o.Forward(be, att))
	if !m.preNorm {
		be.LayerNorm(x, x, l.attnNormW, l.attnNormB, eps)
	}

	h = x
	if m.preNorm {
		h = be.NewTensor(n, x.Cols())
		be.LayerNorm(h, x, l.mlpNormW, l.mlpNormB, eps)
	}
	nn.Tap(be, hook, l.fc1.Name, h)
	f := l.fc1.Forward(be, h)
	if m.gelu {
		be.GELU(f)
	} else {
		be.ReLU(f)
	}
	nn.Tap(be, hook, l.fc2.Name, f)
	be.Add(x, x, l.fc2.Forward(be, f))
	if !m.preNorm {
		be.LayerNorm(x, x, l.mlpNormW, l.mlpNormB, eps)
	}
	return x
}

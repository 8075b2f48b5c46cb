package cogvlm2

import (
	"fmt"
	"math"

	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/nn"
)

// visionTower is EVA2-CLIP-E with CogVLM2's 2×2 convolution and GLU adapter (reference §1.2-1.3).
type visionTower struct {
	be   backend.Backend
	cfg  VisionConfig
	attn backend.Attn
	eps  float32

	patch   *nn.Linear     // proj as a [Hv × 3·P·P] matrix over gathered patches (c, ky, kx)
	cls     backend.Tensor // 1×Hv
	pos     backend.Tensor // (G²+1)×Hv
	layers  []*vitLayer
	conv    *nn.Linear // conv as a [Hv × Hv·4] matrix over Im2Col's 2×2 patches
	proj    *nn.Linear // linear_proj.linear_proj
	norm1W  backend.Tensor
	norm1B  backend.Tensor
	gate    *nn.Linear
	h4h     *nn.Linear // dense_h_to_4h (the "up" half of the GLU)
	down    *nn.Linear // dense_4h_to_h
	boi     backend.Tensor
	eoi     backend.Tensor
	lmWidth int
}

type vitLayer struct {
	q, k, v, dense   *nn.Linear
	fc1, fc2         *nn.Linear
	inLNW, inLNB     backend.Tensor // input_layernorm: applied to the attention OUTPUT (post-norm)
	postLNW, postLNB backend.Tensor // post_attention_layernorm: applied to the MLP output
}

func newVisionTower(cfg *Config, w *hfmodel.Weights) *visionTower {
	v := cfg.Vision
	Hv, Iv, P, G := v.HiddenSize, v.IntermediateSize, v.PatchSize, v.Grid()
	H, I := cfg.LM.HiddenSize, cfg.LM.IntermediateSize
	hd := Hv / v.NumHeads
	lin := func(name string, rows, cols int, bias bool, shape ...int) *nn.Linear {
		l := &nn.Linear{Name: name, W: w.Matrix(name+".weight", rows, cols, shape...)}
		if bias {
			l.B = w.Vector(name+".bias", rows)
		}
		return l
	}
	t := &visionTower{
		be:      w.Backend,
		cfg:     v,
		attn:    backend.Attn{Heads: v.NumHeads, KVHeads: v.NumHeads, HeadDim: hd, Scale: float32(1 / math.Sqrt(float64(hd)))},
		eps:     float32(v.LayerNormEps),
		lmWidth: H,
	}
	pe := "model.vision.patch_embedding."
	t.patch = lin(pe+"proj", Hv, 3*P*P, true, Hv, 3, P, P)
	t.cls = w.Vector(pe+"cls_embedding", Hv, 1, Hv)
	if w.Err == nil {
		pos, err := w.Checkpoint.Float32(pe+"position_embedding.weight", v.NumPositions, Hv)
		if err != nil {
			w.Err = err
		} else {
			info, _ := w.Checkpoint.Info(pe + "position_embedding.weight")
			w.Bytes += info.Bytes()
			t.pos = w.Backend.NewTensor(G*G+1, Hv)
			w.Backend.Upload(t.pos, pos)
		}
	}
	for j := 0; j < v.NumLayers; j++ {
		p := fmt.Sprintf("model.vision.transformer.layers.%d.", j)
		qkv := w.Split(p+"attention.query_key_value.weight", Hv, Hv, Hv, Hv)
		qb := w.SplitVector(p+"attention.query_key_value.bias", Hv, Hv, Hv)
		name := p + "attention.query_key_value"
		t.layers = append(t.layers, &vitLayer{
			q:       &nn.Linear{Name: name + "#q", W: qkv[0], B: qb[0]},
			k:       &nn.Linear{Name: name + "#k", W: qkv[1], B: qb[1]},
			v:       &nn.Linear{Name: name + "#v", W: qkv[2], B: qb[2]},
			dense:   lin(p+"attention.dense", Hv, Hv, true),
			fc1:     lin(p+"mlp.fc1", Iv, Hv, true),
			fc2:     lin(p+"mlp.fc2", Hv, Iv, true),
			inLNW:   w.Vector(p+"input_layernorm.weight", Hv),
			inLNB:   w.Vector(p+"input_layernorm.bias", Hv),
			postLNW: w.Vector(p+"post_attention_layernorm.weight", Hv),
			postLNB: w.Vector(p+"post_attention_layernorm.bias", Hv),
		})
	}
	t.conv = lin("model.vision.conv", Hv, Hv*4, true, Hv, Hv, 2, 2)
	lp := "model.vision.linear_proj."
	t.proj = lin(lp+"linear_proj", H, Hv, false)
	t.norm1W = w.Vector(lp+"norm1.weight", H)
	t.norm1B = w.Vector(lp+"norm1.bias", H)
	t.gate = lin(lp+"gate_proj", I, H, false)
	t.h4h = lin(lp+"dense_h_to_4h", I, H, false)
	t.down = lin(lp+"dense_4h_to_h", H, I, false)
	t.boi = w.Vector("model.vision.boi", H, 1, 1, H)
	t.eoi = w.Vector("model.vision.eoi", H, 1, 1, H)
	return t
}

// Patches gathers a preprocessed CHW image (3×S×S) into G² rows of 3·P·P values ordered
// (channel, ky, kx), so the 14×14 patch convolution is one MatMul (done on the host, during
// preprocessing).
func (c VisionConfig) Patches(img []float32) ([]float32, error) {
	S, P, G := c.ImageSize, c.PatchSize, c.Grid()
	if len(img) != 3*S*S {
		return nil, fmt.Errorf("cogvlm2: image of %d values, want 3×%d×%d = %d", len(img), S, S, 3*S*S)
	}
	out := make([]float32, G*G*3*P*P)
	i := 0
	for gy := 0; gy < G; gy++ {
		for gx := 0; gx < G; gx++ {
			for ch := 0; ch < 3; ch++ {
				for ky := 0; ky < P; ky++ {
					row := img[ch*S*S+(gy*P+ky)*S+gx*P:]
					i += copy(out[i:i+P], row[:P])
				}
			}
		}
	}
	return out, nil
}

// EncodeImage runs the vision tower on a preprocessed CHW image (Preprocess's output at
// ImageSize) and returns the ImageTokens() embeddings [boi, patches..., eoi] of LM width.
func (m *Model) EncodeImage(img []float32) (backend.Tensor, error) {
	t, be := m.vision, m.be
	patches, err := t.cfg.Patches(img)
	if err != nil {
		return nil, err
	}
	v := t.cfg
	G, Hv := v.Grid(), v.HiddenSize
	n := G*G + 1
	pt := be.NewTensor(G*G, 3*v.PatchSize*v.PatchSize)
	be.Upload(pt, patches)
	x := be.NewTensor(n, Hv)
	be.Copy(be.Rows(x, 0, 1), t.cls)
	emb := be.Rows(x, 1, n)
	be.MatMul(emb, pt, t.patch.W)
	be.AddBias(emb, t.patch.B)
	be.Add(x, x, t.pos)
	for _, l := range t.layers {
		x = t.layerForward(l, x)
	}
	// Drop CLS, 2×2 stride-2 convolution over the G×G grid.
	g := be.NewTensor((G/2)*(G/2), Hv*4)
	be.Im2Col(g, be.Rows(x, 1, n), G, G, 2)
	y := t.conv.Forward(be, g)
	// GLU adapter: linear_proj, LayerNorm (eps 1e-5), GELU, silu(gate)·h_to_4h, 4h_to_h.
	z := t.proj.Forward(be, y)
	be.LayerNorm(z, z, t.norm1W, t.norm1B, 1e-5)
	be.GELU(z)
	gt, u := t.gate.Forward(be, z), t.h4h.Forward(be, z)
	be.SwiGLU(gt, gt, u)
	z = t.down.Forward(be, gt)
	out := be.NewTensor(z.Rows()+2, t.lmWidth)
	be.Copy(be.Rows(out, 0, 1), t.boi)
	be.Copy(be.Rows(out, 1, z.Rows()+1), z)
	be.Copy(be.Rows(out, z.Rows()+1, z.Rows()+2), t.eoi)
	return out, nil
}

// layerForward is one post-norm ("sandwich") EVA2-CLIP layer:
//
//	x = x + LN_in(dense(attention(q(x), k(x), v(x))))
//	x = x + LN_post(fc2(gelu(fc1(x))))
func (t *visionTower) layerForward(l *vitLayer, x backend.Tensor) backend.Tensor {
	be := t.be
	q, k, v := l.q.Forward(be, x), l.k.Forward(be, x), l.v.Forward(be, x)
	a := be.NewTensor(x.Rows(), x.Cols())
	be.AttentionFull(a, q, k, v, t.attn)
	o := l.dense.Forward(be, a)
	be.LayerNorm(o, o, l.inLNW, l.inLNB, t.eps)
	be.Add(x, x, o)
	h := l.fc1.Forward(be, x)
	be.GELU(h)
	o = l.fc2.Forward(be, h)
	be.LayerNorm(o, o, l.postLNW, l.postLNB, t.eps)
	be.Add(x, x, o)
	return x
}

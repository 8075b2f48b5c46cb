package smolvlm

import (
	"fmt"

	"github.com/rpiq/rpiq/kernels/cpu"

	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/nn"
)

// Patches gathers a preprocessed CHW tile (3×S×S) into G² rows of 3·P·P values ordered
// (channel, ky, kx), so the stride-P patch convolution is one MatMul with the [Hv, 3, P, P]
// weight read as [Hv, 3·P·P].
func (v VisionConfig) Patches(tile []float32) ([]float32, error) {
	S, P, G := v.ImageSize, v.PatchSize, v.Grid()
	if len(tile) != 3*S*S {
		return nil, fmt.Errorf("smolvlm: tile of %d values, want 3×%d×%d = %d", len(tile), S, S, 3*S*S)
	}
	out := make([]float32, G*G*3*P*P)
	i := 0
	for gy := 0; gy < G; gy++ {
		for gx := 0; gx < G; gx++ {
			for ch := 0; ch < 3; ch++ {
				for ky := 0; ky < P; ky++ {
					row := tile[ch*S*S+(gy*P+ky)*S+gx*P:]
					i += copy(out[i:i+P], row[:P])
				}
			}
		}
	}
	return out, nil
}

// Hook sees the input rows of a linear module (name is the checkpoint's module name): the
// quantizer's calibration statistics.
type Hook func(name string, x backend.Tensor)

// EncodeTile runs the SigLIP encoder and the connector on one preprocessed tile (Preprocess's
// output: CHW, ImageSize per side, a full tile so every patch is real) and returns its
// ImageSeqLen() embeddings of decoder width.
func (m *Model) EncodeTile(tile []float32) (backend.Tensor, error) { return m.encodeTile(tile, nil) }

func (m *Model) encodeTile(tile []float32, hook Hook) (backend.Tensor, error) {
	be := m.be
	x, err := m.embedPatches(tile)
	if err != nil {
		return nil, err
	}
	for _, l := range m.vlayers {
		m.vitForward(l, x, hook)
	}
	return fwd(be, m.proj, m.connectorInput(x), hook), nil
}

// vitForward is one pre-norm SigLIP layer on x (n×Hv), in place:
//
//	x = x + out_proj(attention(q(ln1(x)), k(ln1(x)), v(ln1(x))))
//	x = x + fc2(gelu_tanh(fc1(ln2(x))))
func (m *Model) vitForward(l *vitLayer, x backend.Tensor, hook Hook) {
	be := m.be
	n, Hv := x.Rows(), x.Cols()
	h := be.NewTensor(n, Hv)
	a := be.NewTensor(n, Hv)
	be.LayerNorm(h, x, l.ln1W, l.ln1B, m.veps)
	q, k, vv := fwd(be, l.q, h, hook), fwd(be, l.k, h, hook), fwd(be, l.v, h, hook)
	m.attention(a, q, k, vv)
	be.Add(x, x, fwd(be, l.out, a, hook))
	be.LayerNorm(h, x, l.ln2W, l.ln2B, m.veps)
	f := fwd(be, l.fc1, h, hook)
	m.gelu(f)
	be.Add(x, x, fwd(be, l.fc2, f, hook))
}

// connectorInput is post_layernorm then pixel shuffle of the encoder's output x (n×Hv; x is
// overwritten): n/s² rows of Hv·s².
func (m *Model) connectorInput(x backend.Tensor) backend.Tensor {
	be, s := m.be, m.cfg.ScaleFactor
	be.LayerNorm(x, x, m.postW, m.postB, m.veps)
	sh := be.NewTensor(x.Rows()/(s*s), x.Cols()*s*s)
	m.pixelShuffle(sh, x)
	return sh
}

// embedPatches is the encoder's input for one tile: patch embedding plus positions (G²×Hv).
func (m *Model) embedPatches(tile []float32) (backend.Tensor, error) {
	be, v := m.be, m.cfg.Vision
	patches, err := v.Patches(tile)
	if err != nil {
		return nil, err
	}
	G := v.Grid()
	pt := be.NewTensor(G*G, 3*v.PatchSize*v.PatchSize)
	be.Upload(pt, patches)
	x := m.patch.Forward(be, pt)
	// Every patch of a full tile is real: position ids are 0..G²-1 (the bucketize of
	// Idefics3VisionEmbeddings reduces to the identity).
	be.Add(x, x, m.pos)
	return x, nil
}

func fwd(be backend.Backend, l *nn.Linear, x backend.Tensor, hook Hook) backend.Tensor {
	if hook != nil {
		hook(l.Name, x)
	}
	return l.Forward(be, x)
}

// gelu applies the vision activation: gelu_pytorch_tanh (SigLIP's), computed on the host since
// the backend has only the exact erf GELU; "gelu" uses the backend's.
func (m *Model) gelu(x backend.Tensor) {
	if m.cfg.Vision.HiddenAct == "gelu" {
		m.be.GELU(x)
		return
	}
	m.smu.Lock()
	defer m.smu.Unlock()
	buf := m.scratch(0, x.Rows()*x.Cols())
	m.be.Download(buf, x)
	cpu.Default().Run(len(buf), 1024, func(lo, hi int) { GELUTanh(buf[lo:hi]) })
	m.be.Upload(x, buf)
}

// attention is the encoder's bidirectional multi-head attention, each head as two backend
// MatMuls (scores = q_h·k_hᵀ with k_h bound as a weight, then softmax(scores)·v_h with v_hᵀ
// bound as a weight) and the softmax on the host: the GEMM kernels do the n²·d work, where
// the backend's row-by-row AttentionFull spends 80% of a 1024-patch tile.
func (m *Model) attention(dst, q, k, v backend.Tensor) {
	be, a := m.be, m.vattn
	n, W, hd := q.Rows(), q.Cols(), a.HeadDim
	m.smu.Lock()
	defer m.smu.Unlock()
	qh, kh, vh, out := m.scratch(0, n*W), m.scratch(1, n*W), m.scratch(2, n*W), m.scratch(3, n*W)
	be.Download(qh, q)
	be.Download(kh, k)
	be.Download(vh, v)
	scores := m.scratch(4, n*n)
	st, qt, ot := be.NewTensor(n, n), be.NewTensor(n, hd), be.NewTensor(n, hd)
	qb, ob := m.scratch(5, n*hd), m.scratch(6, n*hd)
	kb, vt := m.scratch(7, n*hd), m.scratch(8, hd*n) // backing the per-head weights, reused once each MatMul returns
	pool := cpu.Default()
	for h := 0; h < a.Heads; h++ {
		for i := 0; i < n; i++ {
			for d := 0; d < hd; d++ {
				qb[i*hd+d] = qh[i*W+h*hd+d] * a.Scale
				kb[i*hd+d] = kh[i*W+h*hd+d]
				vt[d*n+i] = vh[i*W+h*hd+d]
			}
		}
		be.Upload(qt, qb)
		be.MatMul(st, qt, be.NewWeightF32(n, hd, kb))
		be.Download(scores, st)
		pool.Run(n, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				cpu.Softmax(scores[i*n : (i+1)*n])
			}
		})
		be.Upload(st, scores)
		be.MatMul(ot, st, be.NewWeightF32(hd, n, vt))
		be.Download(ob, ot)
		for i := 0; i < n; i++ {
			copy(out[i*W+h*hd:i*W+(h+1)*hd], ob[i*hd:(i+1)*hd])
		}
	}
	be.Upload(dst, out)
}

// GELUTanh is PyTorch's gelu(approximate="tanh"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))),
// with tanh(y) = sign(y)·(1 − e)/(1 + e), e = expf(−2|y|) (absolute error about 1e-7).
func GELUTanh(x []float32) {
	const c = 0.7978845608028654 // sqrt(2/pi)
	for i, v := range x {
		y := c * (v + 0.044715*v*v*v)
		z := -2 * y
		if y < 0 {
			z = 2 * y
		}
		e := expf(z) // inlined by the compiler
		t := (1 - e) / (1 + e)
		if y < 0 {
			t = -t
		}
		x[i] = 0.5 * v * (1 + t)
	}
}

// pixelShuffle is Idefics3Connector.pixel_shuffle on one tile: the G×G grid of Hv-vectors
// becomes a (G/s)×(G/s) grid whose token (i, j) concatenates, for a = 0..s-1 (row offset,
// outer) and b = 0..s-1 (column offset, inner), the input at (i·s+a, j·s+b).
func (m *Model) pixelShuffle(dst, x backend.Tensor) {
	G, D, s := m.cfg.Vision.Grid(), m.cfg.Vision.HiddenSize, m.cfg.ScaleFactor
	in := make([]float32, G*G*D)
	m.be.Download(in, x)
	out := PixelShuffle(in, G, D, s)
	m.be.Upload(dst, out)
}

// PixelShuffle permutes a G×G grid of D-vectors (row-major) as pixel_shuffle does.
func PixelShuffle(in []float32, G, D, s int) []float32 {
	g := G / s
	out := make([]float32, len(in))
	o := 0
	for i := 0; i < g; i++ {
		for j := 0; j < g; j++ {
			for a := 0; a < s; a++ {
				for b := 0; b < s; b++ {
					src := ((i*s+a)*G + j*s + b) * D
					o += copy(out[o:o+D], in[src:src+D])
				}
			}
		}
	}
	return out
}

// scratch is host buffer i of at least n values, reused across layers and heads (the encoder
// would otherwise allocate about 60 MB per layer, and the garbage collector's stops showed in
// the profile); callers hold m.smu.
func (m *Model) scratch(i, n int) []float32 {
	for len(m.scr) <= i {
		m.scr = append(m.scr, nil)
	}
	if cap(m.scr[i]) < n {
		m.scr[i] = make([]float32, n)
	}
	return m.scr[i][:n]
}

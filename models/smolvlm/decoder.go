package smolvlm

import (
	"fmt"

	"github.com/rpiq/rpiq/runtime/backend"
)

// Sequence is one conversation's KV cache.
type Sequence struct {
	Cache backend.Cache
}

// NewSequence returns an empty sequence with room for maxSeq tokens.
func (m *Model) NewSequence(maxSeq int) *Sequence {
	return &Sequence{Cache: m.be.NewCache(len(m.layers), maxSeq, m.attn.KVHeads*m.attn.HeadDim)}
}

// Len is the number of tokens run so far.
func (s *Sequence) Len() int { return s.Cache.Len() }

// Forward runs ids after what s holds and returns the last token's logits. The rows of image
// replace, in order, the embeddings of the ids equal to image_token_id, as
// Idefics3Model.inputs_merger does (their counts must match); with image nil every id is
// embedded as a token (a generated image_token_id included, as transformers does after the
// prompt).
func (m *Model) Forward(s *Sequence, ids []int32, image backend.Tensor) ([]float32, error) {
	return m.forward(s, ids, image, false, nil)
}

// ForwardAll is Forward returning every token's logits (rows of VocabSize).
func (m *Model) ForwardAll(s *Sequence, ids []int32, image backend.Tensor) ([]float32, error) {
	return m.forward(s, ids, image, true, nil)
}

func (m *Model) forward(s *Sequence, ids []int32, image backend.Tensor, all bool, hook Hook) ([]float32, error) {
	x, err := m.embedInput(ids, image)
	if err != nil {
		return nil, err
	}
	n, start := len(ids), s.Len()
	if start+n > s.Cache.Cap() {
		return nil, fmt.Errorf("smolvlm: %d tokens exceed the cache of %d", start+n, s.Cache.Cap())
	}
	for i, l := range m.layers {
		x = m.layerForward(l, x, s.Cache, i, start, hook)
	}
	s.Cache.SetLen(start + n)
	if !all {
		x = m.be.Rows(x, n-1, n)
	}
	be := m.be
	h := be.NewTensor(x.Rows(), x.Cols())
	be.RMSNorm(h, x, m.norm, m.eps)
	y := fwd(be, m.head, h, hook)
	out := make([]float32, y.Rows()*y.Cols())
	be.Download(out, y)
	return out, nil
}

// embedInput is the token embeddings with the image rows merged in at the image token ids.
func (m *Model) embedInput(ids []int32, image backend.Tensor) (backend.Tensor, error) {
	n := len(ids)
	if n == 0 {
		return nil, fmt.Errorf("smolvlm: no input tokens")
	}
	V, H, img := m.cfg.Text.VocabSize, m.cfg.Text.HiddenSize, int32(m.cfg.ImageTokenID)
	var at []int
	for i, id := range ids {
		if id < 0 || int(id) >= V {
			return nil, fmt.Errorf("smolvlm: token id %d outside the vocabulary of %d", id, V)
		}
		if id == img {
			at = append(at, i)
		}
	}
	if image == nil {
		at = nil
	} else if image.Cols() != H {
		return nil, fmt.Errorf("smolvlm: image embeddings of width %d, want %d", image.Cols(), H)
	}
	if rows := rowsOf(image); len(at) != rows {
		return nil, fmt.Errorf("smolvlm: %d image tokens (id %d) in the input but %d image embeddings", len(at), img, rows)
	}
	x := m.be.NewTensor(n, H)
	m.be.Embed(x, m.embed, ids)
	for j := 0; j < len(at); {
		// copy runs of consecutive image positions at once
		k := j
		for k+1 < len(at) && at[k+1] == at[k]+1 {
			k++
		}
		m.be.Copy(m.be.Rows(x, at[j], at[k]+1), m.be.Rows(image, j, k+1))
		j = k + 1
	}
	return x, nil
}

// layerForward is one LLaMA decoder layer over x (n×H) at cache positions start..:
//
//	h = x + o(attention(rope(q(rms(x))), rope(k(rms(x))), v(rms(x))))
//	out = h + down(silu(gate(rms(h))) · up(rms(h)))
func (m *Model) layerForward(l *decLayer, x backend.Tensor, c backend.Cache, ci, start int, hook Hook) backend.Tensor {
	be, a := m.be, m.attn
	n, H := x.Rows(), x.Cols()
	h := be.NewTensor(n, H)
	be.RMSNorm(h, x, l.attnNorm, m.eps)
	q, k, v := fwd(be, l.q, h, hook), fwd(be, l.k, h, hook), fwd(be, l.v, h, hook)
	be.RoPE(q, a.HeadDim, start, m.invFreq)
	be.RoPE(k, a.HeadDim, start, m.invFreq)
	att := be.NewTensor(n, a.Heads*a.HeadDim)
	be.Attention(att, q, k, v, c, ci, start, a)
	be.Add(x, x, fwd(be, l.o, att, hook))
	be.RMSNorm(h, x, l.mlpNrm, m.eps)
	g, u := fwd(be, l.gate, h, hook), fwd(be, l.up, h, hook)
	be.SwiGLU(g, g, u)
	be.Add(x, x, fwd(be, l.down, g, hook))
	return x
}

func rowsOf(t backend.Tensor) int {
	if t == nil {
		return 0
	}
	return t.Rows()
}

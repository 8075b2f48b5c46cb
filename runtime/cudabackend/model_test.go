package cudabackend

import (
	"math/rand/v2"
	"testing"

	"github.com/rpiq/rpiq/device/cuda"
	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/runtime/backend"
)

// modelShape is a LLaMA-style decoder's size.
type modelShape struct {
	Name                                                  string
	Hidden, Layers, Heads, KVHeads, HeadDim, Inter, Vocab int
}

var (
	llama32_1B = modelShape{"Llama-3.2-1B", 2048, 16, 32, 8, 64, 8192, 128256}
	llama3_8B  = modelShape{"Llama-3-8B", 4096, 32, 32, 8, 128, 14336, 128256}
)

type randomLayer4 struct {
	norm1, norm2               backend.Tensor
	wq, wk, wv, wo, wg, wu, wd *GPTQWeight
}

// randomModel is a 4-bit (group 128, GPTQ v1 symmetric) LLaMA-shaped decoder with random
// weights, built on the device, and the decode step written against the backend's ops.
type randomModel struct {
	shape         modelShape
	embed, lmHead *Dense
	normF         backend.Tensor
	layers        []randomLayer4
	invFreq       []float32
	x, h, q, k, v backend.Tensor
	att, o, g, u  backend.Tensor
	logits        backend.Tensor
	weightBytes   int // packed bytes a decode step reads (layers + lm_head)
}

// newRandomGPTQ allocates a K×N 4-bit layer filled on the device: random codes, zero 8, scales
// 2^-8 (small models get host-random scales so tokens differ).
func newRandomGPTQ(b *Backend, r *rand.Rand, K, N int, seed uint64) *GPTQWeight {
	const gs = 128
	w := &GPTQWeight{bits: 4, k: K, n: N, groupSize: gs, zeroOffset: 1}
	G := (K + gs - 1) / gs
	w.qweight = b.alloc(K / 8 * N * 4)
	w.qzeros = b.alloc(G * N / 8 * 4)
	b.launch("fill_random_u32", b.grid1(K/8*N), cuda.D1(256), 0, cuda.Ptr(w.qweight.ptr), cuda.U64(uint64(K/8*N)), cuda.U64(seed))
	b.run(func(c *cuda.Ctx) error { return c.Memset32Async(w.qzeros.ptr, 0x77777777, G*N/8, b.stream) })
	if K*N <= 1<<22 {
		sc := make([]uint16, G*N)
		for i := range sc {
			sc[i] = half.F32ToF16(float32(0.002 + 0.01*r.Float64()))
		}
		w.scales = uploadSlice(b, sc)
	} else {
		w.scales = b.alloc(G * N * 2)
		b.run(func(c *cuda.Ctx) error { return c.Memset32Async(w.scales.ptr, 0x1c001c00, G*N/2, b.stream) })
	}
	return w
}

func newDenseF16(b *Backend, r *rand.Rand, rows, cols int) *Dense {
	w := &Dense{dt: backend.F16, rows: rows, cols: cols}
	if rows*cols <= 1<<22 {
		v := make([]uint16, rows*cols)
		for i := range v {
			v[i] = half.F32ToF16(float32(r.NormFloat64() * 0.5))
		}
		w.buf = uploadSlice(b, v)
	} else {
		w.buf = b.alloc(rows * cols * 2)
		b.run(func(c *cuda.Ctx) error { return c.Memset32Async(w.buf.ptr, 0x2c002c00, rows*cols/2, b.stream) })
	}
	return w
}

func newRandomModel(t testing.TB, b *Backend, r *rand.Rand, s modelShape, maxSeq int) *randomModel {
	t.Helper()
	m := &randomModel{shape: s}
	qd, kvd := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	ones := func(n int) backend.Tensor {
		tt := b.NewTensor(1, n)
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		b.Upload(tt, v)
		return tt
	}
	seed := uint64(1)
	next := func(K, N int) *GPTQWeight {
		seed++
		w := newRandomGPTQ(b, r, K, N, seed)
		m.weightBytes += w.Bytes()
		return w
	}
	for range s.Layers {
		m.layers = append(m.layers, randomLayer4{
			norm1: ones(s.Hidden), norm2: ones(s.Hidden),
			wq: next(s.Hidden, qd), wk: next(s.Hidden, kvd), wv: next(s.Hidden, kvd), wo: next(qd, s.Hidden),
			wg: next(s.Hidden, s.Inter), wu: next(s.Hidden, s.Inter), wd: next(s.Inter, s.Hidden),
		})
	}
	m.embed = newDenseF16(b, r, s.Vocab, s.Hidden)
	m.lmHead = newDenseF16(b, r, s.Vocab, s.Hidden)
	m.weightBytes += s.Vocab * s.Hidden * 2
	m.normF = ones(s.Hidden)
	m.invFreq = backend.InvFreq(500000, s.HeadDim, nil)
	m.x, m.h = b.NewTensor(1, s.Hidden), b.NewTensor(1, s.Hidden)
	m.q, m.k, m.v, m.att = b.NewTensor(1, qd), b.NewTensor(1, kvd), b.NewTensor(1, kvd), b.NewTensor(1, qd)
	m.o, m.g, m.u = b.NewTensor(1, s.Hidden), b.NewTensor(1, s.Inter), b.NewTensor(1, s.Inter)
	m.logits = b.NewTensor(1, s.Vocab)
	return m
}

// step is one decode step: token at pos in, argmax token out (Backend.Token or the step's).
func (m *randomModel) step(b *Backend, c backend.Cache, tok int32, pos int) {
	s := m.shape
	a := backend.Attn{Heads: s.Heads, KVHeads: s.KVHeads, HeadDim: s.HeadDim, Scale: InvSqrtF(s.HeadDim)}
	b.Embed(m.x, m.embed, []int32{tok})
	for l, L := range m.layers {
		b.RMSNorm(m.h, m.x, L.norm1, 1e-5)
		b.MatMul(m.q, m.h, L.wq)
		b.MatMul(m.k, m.h, L.wk)
		b.MatMul(m.v, m.h, L.wv)
		b.RoPE(m.q, s.HeadDim, pos, m.invFreq)
		b.RoPE(m.k, s.HeadDim, pos, m.invFreq)
		b.Attention(m.att, m.q, m.k, m.v, c, l, pos, a)
		b.MatMul(m.o, m.att, L.wo)
		b.Add(m.x, m.x, m.o)
		b.RMSNorm(m.h, m.x, L.norm2, 1e-5)
		b.MatMul(m.g, m.h, L.wg)
		b.MatMul(m.u, m.h, L.wu)
		b.SwiGLU(m.g, m.g, m.u)
		b.MatMul(m.o, m.g, L.wd)
		b.Add(m.x, m.x, m.o)
	}
	b.RMSNorm(m.h, m.x, m.normF, 1e-5)
	b.MatMul(m.logits, m.h, m.lmHead)
	b.Sample(m.logits, SampleParams{})
}

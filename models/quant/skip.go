package quant

import (
	"hash/maphash"
	"unsafe"

	"github.com/rpiq/rpiq/runtime/backend"
)

// Work backend: the driver runs every decoder layer 9 times per calibration window (both
// streams once per true-sequential group, then the quantized stream again for the layer's
// output), but most of that work gives the same numbers again or is thrown away. Wrapping the
// backend the model is opened with (NewWorkBackend) lets QuantizeModel skip it without any
// change to the models:
//
//   - after the hook has captured the input it needs, and when the run's output is not used,
//     the rest of the layer is skipped (every compute op becomes a no-op);
//   - causal attention is remembered by the content of its q, k and v (two independent 64-bit
//     hashes), so a stream whose attention inputs did not change since the last group reuses
//     the output instead of recomputing it: per window and layer attention runs twice (once
//     per stream) instead of 9 times. Attention dominates on small models (stories260K: 85% of
//     the time, head size 8, 512 positions).
//
// The results are bit-identical to running everything: a reused output is the output the same
// inputs gave before, and skipped ops feed nothing that is kept.
type workBackend struct {
	backend.Backend
	memo   bool   // remember attention outputs (set by the driver around RunLayer)
	skip   bool   // compute ops do nothing (the rest of this run is thrown away)
	want   string // the module whose input the driver's hook captures ("": every tap)
	seeds  [2]maphash.Seed
	seen   map[[2]uint64][]float32
	bytes  int64
	budget int64
	buf    []float32
	// counters for the tests and the report
	attnRun, attnReused, skipped int
}

// DefaultMemoBytes bounds the attention outputs remembered per layer (the memo is cleared at
// every layer); on large models only some windows fit and the rest are recomputed.
const DefaultMemoBytes = 1 << 30

// NewWorkBackend wraps be so that QuantizeModel can skip repeated and discarded work; open the
// model to quantize with the returned backend and pass the same one to QuantizeModel. Outside
// QuantizeModel it behaves exactly as be.
func NewWorkBackend(be backend.Backend) backend.Backend {
	return &workBackend{Backend: be, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		seen: map[[2]uint64][]float32{}, budget: DefaultMemoBytes}
}

func (w *workBackend) reset() {
	clear(w.seen)
	w.bytes = 0
}

func (w *workBackend) download(t backend.Tensor) []float32 {
	n := t.Rows() * t.Cols()
	if cap(w.buf) < n {
		w.buf = make([]float32, n)
	}
	w.buf = w.buf[:n]
	w.Backend.Download(w.buf, t)
	return w.buf
}

func floatBytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

func (w *workBackend) Attention(dst, q, k, v backend.Tensor, c backend.Cache, layer, pos int, a backend.Attn) {
	if w.skip {
		w.skipped++
		return
	}
	if !w.memo {
		w.Backend.Attention(dst, q, k, v, c, layer, pos, a)
		return
	}
	var key [2]uint64
	var hs [2]maphash.Hash
	for i := range hs {
		hs[i].SetSeed(w.seeds[i])
		for _, d := range []int{q.Rows(), q.Cols(), k.Cols(), v.Cols(), pos, a.Heads, a.KVHeads, a.HeadDim} {
			maphash.WriteComparable(&hs[i], d)
		}
		maphash.WriteComparable(&hs[i], a.Scale)
	}
	for _, t := range []backend.Tensor{q, k, v} {
		b := floatBytes(w.download(t))
		for i := range hs {
			hs[i].Write(b)
		}
	}
	key[0], key[1] = hs[0].Sum64(), hs[1].Sum64()
	if out, ok := w.seen[key]; ok {
		w.attnReused++
		w.Backend.Upload(dst, out)
		return
	}
	w.attnRun++
	w.Backend.Attention(dst, q, k, v, c, layer, pos, a)
	if sz := int64(4 * dst.Rows() * dst.Cols()); w.bytes+sz <= w.budget {
		out := make([]float32, dst.Rows()*dst.Cols())
		w.Backend.Download(out, dst)
		w.seen[key] = out
		w.bytes += sz
	}
}

// Wants tells nn.Tap whether to copy the input of module name out for the hook: only the one
// the driver captures (want; "" for all), and none while skipping.
func (w *workBackend) Wants(name string) bool { return !w.skip && (w.want == "" || w.want == name) }

// Download leaves dst alone while skipping: the values would be meaningless and are thrown away.
func (w *workBackend) Download(dst []float32, t backend.Tensor) {
	if !w.skip {
		w.Backend.Download(dst, t)
	}
}

// The compute ops: no-ops while skipping.

func (w *workBackend) MatMul(dst, x backend.Tensor, wt backend.Weight) {
	if !w.skip {
		w.Backend.MatMul(dst, x, wt)
	}
}
func (w *workBackend) AddBias(x, b backend.Tensor) {
	if !w.skip {
		w.Backend.AddBias(x, b)
	}
}
func (w *workBackend) Add(dst, a, b backend.Tensor) {
	if !w.skip {
		w.Backend.Add(dst, a, b)
	}
}
func (w *workBackend) Copy(dst, src backend.Tensor) {
	if !w.skip {
		w.Backend.Copy(dst, src)
	}
}
func (w *workBackend) RMSNorm(dst, x, wt backend.Tensor, eps float32) {
	if !w.skip {
		w.Backend.RMSNorm(dst, x, wt, eps)
	}
}
func (w *workBackend) LayerNorm(dst, x, wt, b backend.Tensor, eps float32) {
	if !w.skip {
		w.Backend.LayerNorm(dst, x, wt, b, eps)
	}
}
func (w *workBackend) RoPE(x backend.Tensor, headDim, pos int, invFreq []float32) {
	if !w.skip {
		w.Backend.RoPE(x, headDim, pos, invFreq)
	}
}
func (w *workBackend) RoPEAt(x backend.Tensor, headDim int, pos []int32, invFreq []float32) {
	if !w.skip {
		w.Backend.RoPEAt(x, headDim, pos, invFreq)
	}
}
func (w *workBackend) AttentionFull(dst, q, k, v backend.Tensor, a backend.Attn) {
	if !w.skip {
		w.Backend.AttentionFull(dst, q, k, v, a)
	}
}
func (w *workBackend) SwiGLU(dst, gate, up backend.Tensor) {
	if !w.skip {
		w.Backend.SwiGLU(dst, gate, up)
	}
}
func (w *workBackend) ReLU(x backend.Tensor) {
	if !w.skip {
		w.Backend.ReLU(x)
	}
}
func (w *workBackend) GELU(x backend.Tensor) {
	if !w.skip {
		w.Backend.GELU(x)
	}
}
func (w *workBackend) Im2Col(dst, x backend.Tensor, gh, gw, k int) {
	if !w.skip {
		w.Backend.Im2Col(dst, x, gh, gw, k)
	}
}

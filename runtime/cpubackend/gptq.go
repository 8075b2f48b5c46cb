package cpubackend

import (
	"fmt"
	"unsafe"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/kernels/cpu/q"
	"github.com/rpiq/rpiq/runtime/backend"
)

// GPTQ is a GPTQ linear layer repacked once at load for the quantized kernels (kernels/cpu/q):
// about the checkpoint's size in memory (4.5 bits per weight at group 128), never a float copy.
type GPTQ struct{ M *q.Matrix }

func (w *GPTQ) Rows() int            { return w.M.Out }
func (w *GPTQ) Cols() int            { return w.M.In }
func (w *GPTQ) DType() backend.DType { return backend.Quantized }

// Bytes is the resident size of the repacked weight.
func (w *GPTQ) Bytes() int { return w.M.Bytes() }

func (w *GPTQ) MatMul(p *cpu.Pool, dst, x []float32, n int) { w.M.MatMulOn(p, dst, x, n) }
func (w *GPTQ) Row(dst []float32, i int)                    { w.M.Row(dst[:w.M.In], i) }

// RepackGPTQ builds a quantized weight from one GPTQ linear's checkpoint tensors: qweight and
// qzeros as the stored 32-bit words, scales as fp16 bits, gIdx nil for in-order groups,
// groupSize -1 per channel. v2 means the zeros are stored as they are (checkpoint_format
// "gptq_v2"); otherwise they are zero−1 ("gptq"). Errors wrap q.ErrFormat.
func (c *CPU) RepackGPTQ(qweight, qzeros []uint32, scales []uint16, gIdx []int32,
	in, out, bits, groupSize int, sym, v2 bool) (backend.Weight, error) {
	m, err := q.RepackGPTQ(int32s(qweight), int32s(qzeros), scales, gIdx, in, out, bits, groupSize, sym, !v2)
	if err != nil {
		return nil, err
	}
	return &GPTQ{M: m}, nil
}

// int32s reinterprets the words (GPTQ stores int32; the bits are what matter).
func int32s(u []uint32) []int32 {
	if u == nil {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(u))), len(u))
}

// QuantizeHead makes a quantized copy of a dense weight (the tied embedding used as the LM head)
// by round-to-nearest, bits 8 per output row or 4 in groups of 32 (q.FromRows), for the
// quantized kernels. The dense weight itself stays as it is for embedding lookups. done (may be
// nil) hears which rows have been read.
func (c *CPU) QuantizeHead(w backend.Weight, bits int, done func(lo, hi int)) (backend.Weight, error) {
	l, ok := w.(Linear)
	if !ok {
		return nil, fmt.Errorf("cpubackend: QuantizeHead of a weight of type %T", w)
	}
	if _, isQ := w.(*GPTQ); isQ {
		return w, nil
	}
	group := -1
	if bits == 4 {
		group = 32
		if w.Cols()%32 != 0 {
			group = -1
		}
	}
	m, err := q.FromRows(w.Cols(), w.Rows(), bits, group, l.Row, c.pool, done)
	if err != nil {
		return nil, err
	}
	return &GPTQ{M: m}, nil
}

// Layout is the kernel layout of one of this backend's quantized weights (for a pre-packed
// sidecar file, runtime/packfile); ok is false for other weights.
func (c *CPU) Layout(w backend.Weight) (q.Layout, bool) {
	g, ok := w.(*GPTQ)
	if !ok {
		return q.Layout{}, false
	}
	return g.M.Layout(), true
}

// FromLayout makes a quantized weight that uses l's memory in place (a mapped pack file).
func (c *CPU) FromLayout(l q.Layout) (backend.Weight, error) {
	m, err := q.FromLayout(l)
	if err != nil {
		return nil, err
	}
	return &GPTQ{M: m}, nil
}

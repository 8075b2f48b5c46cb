package cudabackend

import (
	"fmt"
	"unsafe"

	"github.com/rpiq/rpiq/device/cuda"
	cudakernels "github.com/rpiq/rpiq/kernels/cuda"
	"github.com/rpiq/rpiq/runtime/backend"
)

// GPTQWeight is a 4- or 8-bit GPTQ linear layer on the device, in the checkpoint's own layout
// (the kernels read qweight/qzeros/scales as stored). As a backend.Weight it is [N][K]
// (out × in), like the dense weights.
type GPTQWeight struct {
	bits, k, n, groupSize, zeroOffset int
	qweight, qzeros, scales           *buffer
	perm, bias                        *buffer // optional
}

func (w *GPTQWeight) Rows() int            { return w.n }
func (w *GPTQWeight) Cols() int            { return w.k }
func (w *GPTQWeight) DType() backend.DType { return backend.Quantized }

// Bytes is the weight's size on the device (what a decode step reads).
func (w *GPTQWeight) Bytes() int {
	n := w.qweight.bytes + w.qzeros.bytes + w.scales.bytes
	if w.perm != nil {
		n += w.perm.bytes
	}
	return n
}

// NewGPTQWeight uploads a GPTQ layer. bias may be nil. Perm (act-order) maps row k of the
// weight to the input index it multiplies: the loader sorts rows by g_idx and keeps the order.
func (b *Backend) NewGPTQWeight(q *cudakernels.GPTQ, bias []float32) (*GPTQWeight, error) {
	if q.Bits != 4 && q.Bits != 8 {
		return nil, fmt.Errorf("cudabackend: GPTQ weight with %d bits (the kernels do 4 and 8)", q.Bits)
	}
	pack := 32 / q.Bits
	switch {
	case q.K <= 0 || q.N <= 0 || q.K%pack != 0:
		return nil, fmt.Errorf("cudabackend: GPTQ weight K=%d N=%d: K must be a positive multiple of %d", q.K, q.N, pack)
	case q.N%8 != 0:
		return nil, fmt.Errorf("cudabackend: GPTQ weight N=%d: out_features must be a multiple of 8", q.N)
	case q.GroupSize <= 0 || q.GroupSize%pack != 0:
		return nil, fmt.Errorf("cudabackend: GPTQ group_size %d: must be a positive multiple of %d (use K for -1)", q.GroupSize, pack)
	case q.ZeroOffset != 0 && q.ZeroOffset != 1:
		return nil, fmt.Errorf("cudabackend: GPTQ zero offset %d: 1 for checkpoint_format gptq, 0 for gptq_v2", q.ZeroOffset)
	case len(q.Qweight) != q.K/pack*q.N:
		return nil, fmt.Errorf("cudabackend: GPTQ qweight has %d words, want %d ([%d][%d])", len(q.Qweight), q.K/pack*q.N, q.K/pack, q.N)
	case len(q.Qzeros) != q.Groups()*q.N/pack:
		return nil, fmt.Errorf("cudabackend: GPTQ qzeros has %d words, want %d ([%d][%d])", len(q.Qzeros), q.Groups()*q.N/pack, q.Groups(), q.N/pack)
	case len(q.Scales) != q.Groups()*q.N:
		return nil, fmt.Errorf("cudabackend: GPTQ scales has %d values, want %d ([%d][%d])", len(q.Scales), q.Groups()*q.N, q.Groups(), q.N)
	case q.Perm != nil && len(q.Perm) != q.K:
		return nil, fmt.Errorf("cudabackend: GPTQ perm has %d entries, want K=%d", len(q.Perm), q.K)
	case bias != nil && len(bias) != q.N:
		return nil, fmt.Errorf("cudabackend: GPTQ bias has %d values, want N=%d", len(bias), q.N)
	}
	for i, p := range q.Perm {
		if p < 0 || int(p) >= q.K {
			return nil, fmt.Errorf("cudabackend: GPTQ perm[%d] = %d outside [0, %d)", i, p, q.K)
		}
	}
	w := &GPTQWeight{bits: q.Bits, k: q.K, n: q.N, groupSize: q.GroupSize, zeroOffset: q.ZeroOffset}
	w.qweight = uploadSlice(b, q.Qweight)
	w.qzeros = uploadSlice(b, q.Qzeros)
	w.scales = uploadSlice(b, q.Scales)
	if q.Perm != nil {
		w.perm = uploadSlice(b, q.Perm)
	}
	if bias != nil {
		w.bias = uploadSlice(b, bias)
	}
	return w, nil
}

// uploadSlice copies v into a new device buffer.
func uploadSlice[T any](b *Backend, v []T) *buffer {
	var z T
	buf := b.alloc(max(len(v)*int(unsafe.Sizeof(z)), 4))
	b.run(func(c *cuda.Ctx) error {
		if err := b.noCapture("upload"); err != nil {
			return err
		}
		return cuda.CopyToDeviceAsync(c, buf.ptr, v, b.stream)
	})
	return buf
}

func ptrOr0(buf *buffer) cuda.DevPtr {
	if buf == nil {
		return 0
	}
	return buf.ptr
}

// matMulGPTQ: one row → the GEMV (split along K when the columns alone cannot fill the GPU);
// more rows → the tensor-core GEMM.
func (b *Backend) matMulGPTQ(d, x *Tensor, w *GPTQWeight, accumulate bool) {
	name := fmt.Sprintf("q%d", w.bits)
	common := []uint64{cuda.Ptr(x.ptr), cuda.Ptr(w.qweight.ptr), cuda.Ptr(w.qzeros.ptr), cuda.Ptr(w.scales.ptr),
		cuda.Ptr(ptrOr0(w.perm)), cuda.Ptr(ptrOr0(w.bias)), cuda.Ptr(d.ptr)}
	if x.rows == 1 {
		gx := (w.n + 127) / 128
		split := splitK(gx, w.k/(32/w.bits), b.info.Multiprocessors)
		acc := accumulate
		if split > 1 && !accumulate {
			b.run(func(c *cuda.Ctx) error { return c.Memset32Async(d.ptr, 0, w.n, b.stream) })
			acc = true
		}
		args := append(common, cuda.I32(w.k), cuda.I32(w.n), cuda.I32(w.groupSize), cuda.I32(w.zeroOffset), I(acc))
		b.launch("gemv_"+name, cuda.D2(gx, split), cuda.Dim3{X: 32, Y: 8, Z: 1}, 0, args...)
		return
	}
	if !b.k.Has("gemm_" + name) {
		panic(fmt.Sprintf("cudabackend: the tensor-core GEMM needs sm_80 or newer (this GPU is sm_%d)", b.info.Arch()))
	}
	args := append(common, cuda.I32(x.rows), cuda.I32(w.n), cuda.I32(w.k), cuda.I32(w.groupSize), cuda.I32(w.zeroOffset), I(accumulate))
	b.launch("gemm_"+name, cuda.D2((w.n+63)/64, (x.rows+63)/64), cuda.D1(128), 0, args...)
}

// splitK picks how many blocks share K so the GEMV has about 8 blocks (64 warps) per SM, enough
// loads in flight to cover memory latency, keeping at least 64 packed rows per block.
func splitK(colBlocks, packedRows, sms int) int {
	if sms <= 0 {
		return 1
	}
	s := (8*sms + colBlocks - 1) / colBlocks
	if lim := packedRows / 64; s > lim {
		s = lim
	}
	return max(s, 1)
}

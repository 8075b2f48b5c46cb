package cpu

import (
	"sync"
	"unsafe"

	"github.com/rpiq/rpiq/kernels/half"
)

// Dense float matrix products, the only place decode and prompt processing spend real time.
// Every product is dst[n×m] = x[n×k] · w[m×k]ᵀ: w is stored the Hugging Face way (one output
// row of k inputs after another), x holds n activation rows. One activation row (decode) is a
// GEMV that streams w once; several rows (a prompt) use the 2×4 register-blocked micro-kernel
// over blocks of w rows that stay in L2 while every activation row passes by.

// MatMulF32 computes dst[n×m] = x[n×k] · w[m×k]ᵀ with float32 weights.
func (p *Pool) MatMulF32(dst, x, w []float32, n, k, m int) {
	checkDims(len(dst), len(x), len(w), n, k, m)
	if n == 1 {
		p.Run(m, 8, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				dst[j] = DotF32(x[:k], w[j*k:(j+1)*k])
			}
		})
		return
	}
	if n >= packMinRows && hasGEMM6x16 {
		p.gemmPacked(dst, x, n, k, m, denseSource{k: k, pack: packF32(w, k),
			dot: func(xi []float32, j int) float32 { return DotF32(xi, w[j*k:(j+1)*k]) }})
		return
	}
	mb := blockRows(k)
	p.Run(m, 4, func(lo, hi int) {
		for j0 := lo; j0 < hi; j0 += mb {
			j1 := min(j0+mb, hi)
			gemmBlock(dst, x, w[j0*k:j1*k], n, k, m, j0, j1-j0)
		}
	})
}

// MatMulBF16 is MatMulF32 with bfloat16 weights, used as stored: decode widens each weight in
// registers; prompt processing widens one L2-sized block of rows at a time into scratch.
func (p *Pool) MatMulBF16(dst, x []float32, w []uint16, n, k, m int) {
	p.matMulHalf(dst, x, w, n, k, m, DotBF16, widenBF16, nil) // nil: bfloat16 packing
}

// MatMulF16 is MatMulF32 with IEEE half-precision weights, used as stored.
func (p *Pool) MatMulF16(dst, x []float32, w []uint16, n, k, m int) {
	p.matMulHalf(dst, x, w, n, k, m, DotF16, widenF16, half.F16ToF32)
}

func (p *Pool) matMulHalf(dst, x []float32, w []uint16, n, k, m int,
	dot func([]float32, []uint16) float32, widen func([]float32, []uint16), conv func(uint16) float32) {
	checkDims(len(dst), len(x), len(w), n, k, m)
	if n >= packMinRows && hasGEMM6x16 {
		pack := packHalf(w, k, conv)
		if conv == nil {
			pack = packBF16(w, k)
		}
		p.gemmPacked(dst, x, n, k, m, denseSource{k: k, pack: pack,
			dot: func(xi []float32, j int) float32 { return dot(xi, w[j*k:(j+1)*k]) }})
		return
	}
	if n == 1 {
		p.Run(m, 8, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				dst[j] = dot(x[:k], w[j*k:(j+1)*k])
			}
		})
		return
	}
	mb := blockRows(k)
	p.Run(m, 4, func(lo, hi int) {
		buf := scratch.Get().(*[]float32)
		if cap(*buf) < mb*k {
			*buf = make([]float32, mb*k)
		}
		blk := (*buf)[:mb*k]
		for j0 := lo; j0 < hi; j0 += mb {
			j1 := min(j0+mb, hi)
			widen(blk[:(j1-j0)*k], w[j0*k:j1*k])
			gemmBlock(dst, x, blk[:(j1-j0)*k], n, k, m, j0, j1-j0)
		}
		scratch.Put(buf)
	})
}

var scratch = sync.Pool{New: func() any { return new([]float32) }}

// blockRows is how many weight rows of length k fill about 256 KiB (half of a Zen L2), a
// multiple of 4 for the micro-kernel.
func blockRows(k int) int {
	mb := (256 << 10) / (4 * k)
	mb &^= 3
	return max(mb, 4)
}

// gemmBlock computes dst[i, j0+j] for all n activation rows and the mb weight rows in wb.
// This is the prompt-processing hot loop.
func gemmBlock(dst, x, wb []float32, n, k, m, j0, mb int) {
	var out [8]float32
	i := 0
	for ; i+2 <= n; i += 2 {
		x0, x1 := x[i*k:(i+1)*k], x[(i+1)*k:(i+2)*k]
		d0, d1 := dst[i*m:(i+1)*m], dst[(i+1)*m:(i+2)*m]
		j := 0
		for ; j+4 <= mb; j += 4 {
			dot2x4F32(x0, x1, wb[j*k:], k, &out)
			copy(d0[j0+j:j0+j+4], out[:4])
			copy(d1[j0+j:j0+j+4], out[4:])
		}
		for ; j < mb; j++ {
			row := wb[j*k : (j+1)*k]
			d0[j0+j] = DotF32(x0, row)
			d1[j0+j] = DotF32(x1, row)
		}
	}
	if i < n {
		x0, d0 := x[i*k:(i+1)*k], dst[i*m:(i+1)*m]
		for j := 0; j < mb; j++ {
			d0[j0+j] = DotF32(x0, wb[j*k:(j+1)*k])
		}
	}
}

func widenBF16(dst []float32, src []uint16) {
	src = src[:len(dst)]
	for i, h := range src {
		dst[i] = bf16(h)
	}
}

func widenF16(dst []float32, src []uint16) {
	src = src[:len(dst)]
	for i, h := range src {
		dst[i] = half.F16ToF32(h)
	}
}

// WidenBF16 converts bfloat16 values to float32 (len(dst) values).
func WidenBF16(dst []float32, src []uint16) { widenBF16(dst, src) }

// WidenF16 converts IEEE half values to float32 (len(dst) values).
func WidenF16(dst []float32, src []uint16) { widenF16(dst, src) }

func checkDims(ld, lx, lw, n, k, m int) {
	if n < 0 || k <= 0 || m < 0 || ld < n*m || lx < n*k || lw < m*k {
		panic("cpu: matmul dimensions do not match the slices")
	}
}

// Uint16s views little-endian 2-byte data (a safetensors BF16/F16 tensor) as []uint16 without
// copying. The data must be 2-byte aligned; AlignedUint16s reports whether it is.
func Uint16s(b []byte) []uint16 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2)
}

// Float32s views little-endian 4-byte data as []float32 without copying (see AlignedFloat32s).
func Float32s(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// AlignedUint16s reports whether b can be viewed as []uint16 in place.
func AlignedUint16s(b []byte) bool { return len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%2 == 0 }

// AlignedFloat32s reports whether b can be viewed as []float32 in place.
func AlignedFloat32s(b []byte) bool { return len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%4 == 0 }

//go:build !noasm && !purego

package q

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Assembly in kernels_avx2_amd64.s and kernels_avx512_amd64.s; each computes one row block and
// mirrors its pure-Go twin in generic.go (same arguments, steps = inputs per block / 8 for 4-bit,
// / 4 for 8-bit).

//go:noescape
func dot4AVX2(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)

//go:noescape
func dot8AVX2(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)

//go:noescape
func tile4AVX2(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)

//go:noescape
func tile8AVX2(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)

//go:noescape
func dot4AVX512(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)

//go:noescape
func dot8AVX512(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)

//go:noescape
func tile4AVX512(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)

//go:noescape
func tile8AVX512(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)

type asmFunc func(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)

// wrap adapts an assembly routine to kernelFunc; div is the inputs per step (8 or 4).
func wrap(f asmFunc, div int) kernelFunc {
	return func(w []byte, sm []byte, xq []int8, xd []float32, nb, blk int, out []float32) {
		_ = out[rows-1]
		f(unsafe.SliceData(w), unsafe.SliceData(sm), unsafe.SliceData(xq), unsafe.SliceData(xd), nb, blk/div, unsafe.SliceData(out))
	}
}

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C {
		variants = append(variants, &kernels{"avx2",
			wrap(dot4AVX2, 8), wrap(dot8AVX2, 4), wrap(tile4AVX2, 8), wrap(tile8AVX2, 4)})
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI {
		variants = append(variants, &kernels{"avx512",
			wrap(dot4AVX512, 8), wrap(dot8AVX512, 4), wrap(tile4AVX512, 8), wrap(tile8AVX512, 4)})
	}
}

//go:noescape
func quantAVX2(x *float32, q *int8, d *float32, nb, blk int)

func init() {
	if cpu.X86.HasAVX2 {
		quantizeFast = func(x []float32, q []int8, d []float32, blk int) {
			quantAVX2(unsafe.SliceData(x), unsafe.SliceData(q), unsafe.SliceData(d), len(x)/blk, blk)
		}
	}
}

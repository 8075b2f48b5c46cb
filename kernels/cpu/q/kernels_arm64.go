//go:build !noasm && !purego

package q

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Assembly in kernels_arm64.s (NEON with the ARMv8.2 dot-product instruction SDOT, which the Go
// assembler cannot spell, so it is emitted as WORD); each routine mirrors its twin in generic.go.

//go:noescape
func dot4NEON(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)

//go:noescape
func dot8NEON(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)

//go:noescape
func tile4NEON(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)

//go:noescape
func tile8NEON(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)

type asmFunc func(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)

// wrap adapts an assembly routine to kernelFunc; div is the inputs per step (8 or 4).
func wrap(f asmFunc, div int) kernelFunc {
	return func(w []byte, sm []byte, xq []int8, xd []float32, nb, blk int, out []float32) {
		_ = out[rows-1]
		f(unsafe.SliceData(w), unsafe.SliceData(sm), unsafe.SliceData(xq), unsafe.SliceData(xd), nb, blk/div, unsafe.SliceData(out))
	}
}

func init() {
	if cpu.ARM64.HasASIMD && cpu.ARM64.HasASIMDDP {
		variants = append(variants, &kernels{"neon",
			wrap(dot4NEON, 8), wrap(dot8NEON, 4), wrap(tile4NEON, 8), wrap(tile8NEON, 4)})
	}
}

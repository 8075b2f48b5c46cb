//go:build linux

package cpu

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// MapAnon returns n zero bytes of anonymous memory outside the Go heap, page-aligned, in
// transparent huge pages where the kernel allows (MADV_HUGEPAGE, best effort). Weights live
// there: in the heap, gigabytes of them make the collector so rare that a decoded token's
// temporaries keep landing on untouched pages (docs/BENCHMARKS.md). Release with Unmap.
func MapAnon(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	return b, nil
}

// Unmap releases memory from MapAnon.
func Unmap(b []byte) error { return unix.Munmap(b) }

// MakeHuge is make([]T, n) with transparent huge pages asked for (MADV_HUGEPAGE, best effort)
// under the whole 2 MiB pages of the new slice before anything touches it. For large buffers
// made fresh again and again (the quantizer's Hessians, cross terms, stage 2's residuals and
// copies, code matrices, per module): on this project's VMs a fresh 4 KiB page costs 11-14 µs
// to fault in and a 2 MiB page 60 µs, so an 11 MB array filled once costs 32 ms in faults with
// small pages (an n = 5632 Hessian sum, 254 MB, 0.7 s; stage 2 of a 5632×2048 module ran 8%
// faster with every page huge). Below 4 MiB it is make.
func MakeHuge[T any](n int) []T {
	x := make([]T, n)
	const huge = 2 << 20
	size := uintptr(n) * unsafe.Sizeof(*new(T))
	if size < 2*huge {
		return x
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), size)
	p := uintptr(unsafe.Pointer(&b[0]))
	lo := (p + huge - 1) &^ (huge - 1)
	hi := (p + size) &^ (huge - 1)
	if hi > lo {
		_ = unix.Madvise(b[lo-p:hi-p], unix.MADV_HUGEPAGE)
	}
	return x
}

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

// AdviseHuge asks for transparent huge pages under the whole 2 MiB pages inside b (best
// effort, no effect on its contents). For a large buffer the caller has just allocated in the
// heap and not touched: on this project's VMs a fresh 4 KiB page costs 11 µs to fault in and a
// 2 MiB page 60 µs, so an 11 MB array filled once costs 32 ms in faults with small pages.
func AdviseHuge(b []byte) {
	const huge = 2 << 20
	if len(b) < 2*huge {
		return
	}
	p := uintptr(unsafe.Pointer(&b[0]))
	lo := (p + huge - 1) &^ (huge - 1)
	hi := (p + uintptr(len(b))) &^ (huge - 1)
	if hi > lo {
		_ = unix.Madvise(b[lo-p:hi-p], unix.MADV_HUGEPAGE)
	}
}

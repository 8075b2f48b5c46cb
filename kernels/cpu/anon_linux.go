//go:build linux

package cpu

import "golang.org/x/sys/unix"

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

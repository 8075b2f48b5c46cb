//go:build linux

package bench

import "golang.org/x/sys/unix"

// mapped returns n zero bytes outside the Go heap and the function that releases them. The
// benchmarks hold their random checkpoint's kept tensors (the embedding) this way because a
// loaded checkpoint is a mapped file: in the heap, half a gigabyte of embedding makes the
// collector so rare that every token's temporaries land on untouched pages (page faults a real
// load does not pay).
func mapped(n int) ([]byte, func()) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b, func() { _ = unix.Munmap(b) }
}

package bench

import "github.com/rpiq/rpiq/kernels/cpu"

// mapped returns n zero bytes outside the Go heap where the platform allows (cpu.MapAnon) and the
// function that releases them. The benchmarks hold their random checkpoint's kept tensors (the
// embedding) this way because a loaded checkpoint is a mapped file: in the heap, half a gigabyte
// of embedding makes the collector so rare that every token's temporaries land on untouched
// pages (page faults a real load does not pay).
func mapped(n int) ([]byte, func()) {
	b, err := cpu.MapAnon(n)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b, func() { _ = cpu.Unmap(b) }
}

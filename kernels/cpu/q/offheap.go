package q

import (
	"runtime"
	"sync/atomic"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// offHeapMin is the size from which a matrix's codes and records live outside the Go heap.
const offHeapMin = 1 << 20

// weightBytes returns n zero bytes, 64-byte aligned, for owner's codes or records. Large ones are
// mapped outside the Go heap (cpu.MapAnon, where the platform has it) and unmapped once owner is
// unreachable. Why: with a model's weights in the heap the live heap is gigabytes, the collector
// runs once in a thousand-odd tokens, and every tensor a token makes in between lands on memory
// never touched before. On the 1B shape here that was 446 page faults and 4.4 ms of system time
// per decoded token; a pre-packed load (weights outside the heap, runtime/packfile) took 47.
func weightBytes(owner *Matrix, n int) []byte {
	if n < offHeapMin {
		return alignedBytes(n)
	}
	b, err := cpu.MapAnon(n)
	if err != nil {
		return alignedBytes(n)
	}
	offHeapBytes.Add(int64(n))
	runtime.AddCleanup(owner, func(b []byte) {
		if cpu.Unmap(b) == nil {
			offHeapBytes.Add(-int64(len(b)))
		}
	}, b)
	return b
}

// offHeapBytes is how many bytes of weights are mapped outside the heap now (for the tests).
var offHeapBytes atomic.Int64

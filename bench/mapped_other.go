//go:build !linux

package bench

// mapped returns n zero bytes (in the heap here; outside it on Linux, see mapped_linux.go).
func mapped(n int) ([]byte, func()) { return make([]byte, n), func() {} }

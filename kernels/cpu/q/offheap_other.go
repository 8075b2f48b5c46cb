//go:build !linux

package q

// weightBytes returns n zero bytes, 64-byte aligned, for owner's codes or records (in the Go
// heap; on Linux large ones are mapped outside it, see offheap_linux.go).
func weightBytes(_ *Matrix, n int) []byte { return alignedBytes(n) }

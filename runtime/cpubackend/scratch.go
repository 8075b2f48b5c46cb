package cpubackend

import "unsafe"

// Scratch mode: between BeginScratch and EndScratch, NewTensor and NewCache hand out zeroed
// memory from a slab the backend keeps instead of allocating. For a caller that runs the same
// shapes again and again and keeps no tensor past EndScratch (the quantizer's layer passes:
// stories260K allocated ~12 GB in 2 MB pieces, and zeroing fresh memory plus the garbage
// collector's work was ~12% of the CPU time), the memory is reused while it is still in cache.
// The backend must be used by one goroutine at a time while in scratch mode.

// slab is the scratch memory: one piece, grown to the largest total a scope used.
type slab struct {
	on   bool
	buf  []float32
	off  int
	need int // values requested in this scope (the next scope's size)
}

// scratchAlign keeps every piece on a 64-byte line.
const scratchAlign = 16

// BeginScratch starts a scope in which tensors and caches come from the scratch slab.
func (c *CPU) BeginScratch() {
	c.scratch.on = true
	c.scratch.off, c.scratch.need = 0, 0
}

// EndScratch ends the scope: every tensor and cache made in it must be dead. The slab is kept
// for the next scope, grown to what this one needed.
func (c *CPU) EndScratch() {
	s := &c.scratch
	s.on = false
	if s.need > len(s.buf) {
		s.buf = alignedFloats(s.need)
	}
	s.off, s.need = 0, 0
}

// floats is n zeroed values for an op's own use, from the slab in scratch mode.
func (c *CPU) floats(n int) []float32 {
	if c.scratch.on {
		return c.scratch.take(n)
	}
	return make([]float32, n)
}

// take returns n zeroed values from the slab (a fresh allocation once the slab is used up).
func (s *slab) take(n int) []float32 {
	r := (n + scratchAlign - 1) &^ (scratchAlign - 1)
	s.need += r
	if s.off+r > len(s.buf) {
		return alignedFloats(n)[:n]
	}
	b := s.buf[s.off : s.off+n : s.off+n]
	s.off += r
	clear(b)
	return b
}

// alignedFloats is a zeroed slice of n values starting on a 64-byte boundary.
func alignedFloats(n int) []float32 {
	b := make([]float32, n+scratchAlign)
	o := 0
	for o < scratchAlign && uintptr(unsafe.Pointer(&b[o]))%64 != 0 {
		o++
	}
	return b[o : o+n : o+n]
}

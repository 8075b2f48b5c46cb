package q

import (
	"fmt"
	"math/bits"
	"unsafe"
)

// LayoutVersion numbers the meaning of Layout's fields and bytes: a saved layout of another
// version is stale (runtime/packfile checks it). Bump it with any change to the Matrix layout.
const LayoutVersion = 2

// Layout is a Matrix's kernel layout as plain fields and slices, so a loader can save it once
// (runtime/packfile) and later use it in place from a file read back into memory instead of
// repacking the checkpoint at every start. The layout is the same for every kernel variant (generic, AVX2,
// AVX-512, NEON) and little-endian.
type Layout struct {
	In, Out   int     // logical shape [Out][In]
	Bits      int     // 2, 3, 4 or 8: the codes' width in the checkpoint
	GroupSize int     // as in the checkpoint; -1 = one group per output row
	CodeBits  int     // 4 (bits 2..4) or 8
	Blk       int     // inputs per activation block, a multiple of 8
	NB        int     // blocks per row: the padded input length is NB·Blk
	Src       []int32 // padded position → input index (-1 padding); nil = identity
	W         []byte  // codes: ceil(Out/16) row blocks of NB·Blk·16·CodeBits/8 bytes
	SM        []byte  // per row block and block, a record: 16 fp16 scales, then 16 zeros (q.go)

	owner *Matrix // keeps the matrix, and so W and SM, alive while the layout is (weightBytes)
}

// Layout returns the matrix's layout; its slices are the matrix's own (not copies) and stay
// valid while the matrix or this layout is reachable.
func (m *Matrix) Layout() Layout {
	return Layout{In: m.In, Out: m.Out, Bits: m.Bits, GroupSize: m.GroupSize, CodeBits: m.codeBits,
		Blk: m.blk, NB: m.nb, Src: m.src, W: m.w, SM: m.sm, owner: m}
}

// FromLayout makes a Matrix that uses l's slices in place (they must not change while it is in
// use; W is copied only when it is not 64-byte aligned). Every size and index is checked, so a
// layout read from a damaged file gives an error, never an out-of-range access in the kernels.
func FromLayout(l Layout) (*Matrix, error) {
	bad := func(format string, a ...any) (*Matrix, error) {
		return nil, fmt.Errorf("%w: layout: %s", ErrFormat, fmt.Sprintf(format, a...))
	}
	const maxDim = 1 << 30
	if l.In <= 0 || l.Out <= 0 || l.In > maxDim || l.Out > maxDim {
		return bad("shape %d×%d, want 1..%d each", l.Out, l.In, maxDim)
	}
	switch l.Bits {
	case 2, 3, 4, 8:
	default:
		return bad("bits = %d, want 2, 3, 4 or 8", l.Bits)
	}
	wantCode := 4
	if l.Bits == 8 {
		wantCode = 8
	}
	if l.CodeBits != wantCode {
		return bad("code bits = %d for %d-bit weights, want %d", l.CodeBits, l.Bits, wantCode)
	}
	if l.GroupSize != -1 && l.GroupSize <= 0 {
		return bad("group size %d, want -1 or a positive size", l.GroupSize)
	}
	if l.Blk < 8 || l.Blk%8 != 0 || l.Blk > 1<<16 {
		return bad("block of %d inputs, want a multiple of 8 up to 65536", l.Blk)
	}
	if l.NB <= 0 || l.NB > maxDim/l.Blk {
		return bad("%d blocks of %d inputs, want 1..%d", l.NB, l.Blk, maxDim/l.Blk)
	}
	m := &Matrix{In: l.In, Out: l.Out, Bits: l.Bits, GroupSize: l.GroupSize, codeBits: l.CodeBits,
		blk: l.Blk, nb: l.NB, kp: l.NB * l.Blk, nrb: ceilDiv(l.Out, rows)}
	if l.Src == nil {
		if m.kp < l.In {
			return bad("padded length %d is shorter than the %d inputs", m.kp, l.In)
		}
	} else {
		if len(l.Src) != m.kp {
			return bad("permutation has %d entries, want the padded length %d", len(l.Src), m.kp)
		}
		for p, k := range l.Src {
			if k < -1 || int(k) >= l.In {
				return bad("permutation[%d] = %d, want -1..%d", p, k, l.In-1)
			}
		}
		m.src = l.Src
	}
	hi, wantW := bits.Mul64(uint64(m.nrb), uint64(m.rbBytes()))
	if hi != 0 || wantW != uint64(len(l.W)) {
		return bad("codes are %d bytes, want %d row blocks × %d", len(l.W), m.nrb, m.rbBytes())
	}
	if want := uint64(m.nrb) * uint64(m.nb) * uint64(m.meta()); want != uint64(len(l.SM)) { // < 2^26·2^30·2^6
		return bad("scales and zeros are %d bytes, want %d row blocks × %d blocks × %d", len(l.SM), m.nrb, m.nb, m.meta())
	}
	m.w, m.sm = l.W, l.SM
	if uintptr(unsafe.Pointer(unsafe.SliceData(l.W)))&63 != 0 {
		m.w = weightBytes(m, len(l.W))
		copy(m.w, l.W)
	}
	return m, nil
}

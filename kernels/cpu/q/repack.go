package q

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"unsafe"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/kernels/half"
)

// ErrFormat marks GPTQ tensors whose shapes or contents do not match the declared layout.
var ErrFormat = errors.New("q: bad GPTQ tensors")

// maxBlock caps the activation block: a group of 128 (or per-channel) gets one d per 128 inputs.
const maxBlock = 128

// RepackGPTQ builds the kernel layout from one GPTQ linear layer (rpiq.md §3.1), as raw slices:
//
//	qweight [ceil(in·bits/32)][out]          codes packed along the input dim, LSB first
//	qzeros  [groups][ceil(out·bits/32)]      zeros packed along the output dim (nil: sym, z = 2^(bits-1))
//	scales  [groups][out]                     fp16 bits
//	gIdx    [in]                              group of each input (nil: i/groupSize)
//
// groupSize -1 (or 0) means one group per output row. v1Zeros: the checkpoint stores zero−1
// (checkpoint_format "gptq"), so z = stored+1 as every GPTQ loader does; v2 stores z itself.
// Bits 2 and 3 are kept as 4-bit codes (the 4-bit kernels, 4.5 bits per weight at group 128).
// The weight is never dequantized: the result is about as big as the checkpoint's tensors.
func RepackGPTQ(qweight, qzeros []int32, scales []uint16, gIdx []int32,
	inFeatures, outFeatures, bits, groupSize int, sym, v1Zeros bool) (*Matrix, error) {
	in, out := inFeatures, outFeatures
	if in <= 0 || out <= 0 {
		return nil, fmt.Errorf("%w: in_features %d and out_features %d must be positive", ErrFormat, in, out)
	}
	switch bits {
	case 2, 3, 4, 8:
	default:
		return nil, fmt.Errorf("%w: bits = %d, want 2, 3, 4 or 8", ErrFormat, bits)
	}
	if groupSize <= 0 {
		groupSize = -1
	}
	groups := 1
	if groupSize > 0 {
		groups = (in + groupSize - 1) / groupSize
	}
	if gIdx != nil {
		if len(gIdx) != in {
			return nil, fmt.Errorf("%w: g_idx has %d entries, want in_features = %d", ErrFormat, len(gIdx), in)
		}
		for i, g := range gIdx {
			if g < 0 || int(g) >= groups {
				return nil, fmt.Errorf("%w: g_idx[%d] = %d, want 0..%d (%d groups of %d)", ErrFormat, i, g, groups-1, groups, groupSize)
			}
		}
	}
	qrows, ok := packedWords(len(qweight), out, in, bits)
	if !ok {
		return nil, fmt.Errorf("%w: qweight has %d int32, want %d×%d = %d (in·bits/32 × out)", ErrFormat, len(qweight), qrows, out, qrows*out)
	}
	if qzeros == nil && !sym {
		return nil, fmt.Errorf("%w: qzeros missing for an asymmetric layer", ErrFormat)
	}
	zw := ceilDiv(out*bits, 32)
	if qzeros != nil {
		if len(qzeros)%groups != 0 {
			return nil, fmt.Errorf("%w: qzeros has %d int32, want %d×%d = %d (groups × out·bits/32)", ErrFormat, len(qzeros), groups, zw, groups*zw)
		}
		if zw, ok = packedWords(len(qzeros)/groups, 1, out, bits); !ok {
			return nil, fmt.Errorf("%w: qzeros has %d int32, want %d×%d = %d (groups × out·bits/32)", ErrFormat, len(qzeros), groups, zw, groups*zw)
		}
	}
	if len(scales) != groups*out {
		return nil, fmt.Errorf("%w: scales has %d values, want %d×%d = %d (groups × out)", ErrFormat, len(scales), groups, out, groups*out)
	}
	group := func(i int) int {
		if gIdx != nil {
			return int(gIdx[i])
		}
		if groupSize < 0 {
			return 0
		}
		return i / groupSize
	}

	m := &Matrix{In: in, Out: out, Bits: bits, GroupSize: groupSize, codeBits: 4}
	if bits == 8 {
		m.codeBits = 8
	}
	m.blk = maxBlock
	if groupSize > 0 && groupSize < maxBlock {
		m.blk = ceilDiv(groupSize, 8) * 8
	}

	// Padded input order: groups in order, members ascending, each group padded to a multiple of
	// blk so a block never straddles two scales. blockGroup[b] is the group of block b.
	members := make([][]int32, groups)
	for i := 0; i < in; i++ {
		g := group(i)
		members[g] = append(members[g], int32(i))
	}
	var src []int32
	var blockGroup []int
	for g, ms := range members {
		sort.Slice(ms, func(a, b int) bool { return ms[a] < ms[b] })
		nb := ceilDiv(len(ms), m.blk)
		for b := 0; b < nb; b++ {
			blockGroup = append(blockGroup, g)
			for i := 0; i < m.blk; i++ {
				if j := b*m.blk + i; j < len(ms) {
					src = append(src, ms[j])
				} else {
					src = append(src, -1)
				}
			}
		}
	}
	m.nb = len(blockGroup)
	m.kp = m.nb * m.blk
	identity := true
	for p, k := range src {
		if int(k) != p && !(k < 0 && p >= in) {
			identity = false
			break
		}
	}
	if !identity {
		m.src = src
	}
	m.nrb = ceilDiv(out, rows)

	// Codes.
	m.w = weightBytes(m, m.nrb*m.rbBytes())
	fast := m.src == nil && (bits == 4 || bits == 8)
	pack := func(lo, hi int) {
		for rb := lo; rb < hi; rb++ {
			for n := rb * rows; n < min((rb+1)*rows, out); n++ {
				if fast {
					m.packWords(qweight, n)
				} else {
					m.packCodes(qweight, src, n)
				}
			}
		}
	}
	if m.nrb >= 64 { // big layers on the pool; small ones (the start-up self-check) inline
		cpu.Default().Run(m.nrb, 1, pack)
	} else {
		pack(0, m.nrb)
	}

	// Scales and zero points per (row block, block), the scales' fp16 bits as stored.
	m.sm = weightBytes(m, m.nrb*m.nb*m.meta())
	for n := 0; n < out; n++ {
		rb, r := n/rows, n%rows
		for b, g := range blockGroup {
			sb := scales[g*out+n]
			if s := half.F16ToF32(sb); math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
				return nil, fmt.Errorf("%w: scales[%d][%d] is %v", ErrFormat, g, n, s)
			}
			z := 1 << (bits - 1)
			if qzeros != nil {
				z = int(bitsAt(qzeros[g*zw:(g+1)*zw], 1, 0, n*bits, bits))
				if v1Zeros {
					z++
				}
			}
			m.setMeta(rb, b, r, sb, z)
		}
	}
	return m, nil
}

// packWords stores output row n when the padded order is the identity and codes are 4 or 8
// bits: qweight's word row j then is exactly step j (8 or 4 inputs), a 4-byte store.
func (m *Matrix) packWords(qweight []int32, n int) {
	rb, r := n/rows, n%rows
	base := rb*m.rbBytes() + r*4
	words := len(qweight) / m.Out
	for j := 0; j < words; j++ {
		v := uint32(qweight[j*m.Out+n])
		if m.codeBits == 4 {
			// Word nibble k (input k) goes to byte k%4, low half for k < 4, high for k >= 4:
			// nibble positions 0,1,2,3,4,5,6,7 → 0,2,4,6,1,3,5,7.
			v = v&0xf000000f | v&0x000000f0<<4 | v&0x00000f00<<8 | v&0x0000f000<<12 |
				v&0x000f0000>>12 | v&0x00f00000>>8 | v&0x0f000000>>4
		}
		binary.LittleEndian.PutUint32(m.w[base+j*64:], v)
	}
}

// packCodes stores output row n code by code (act-order permutations, 2 and 3 bits).
func (m *Matrix) packCodes(qweight []int32, src []int32, n int) {
	rb, r := n/rows, n%rows
	base := rb * m.rbBytes()
	for p, k := range src {
		if k < 0 {
			continue
		}
		c := byte(bitsAt(qweight, m.Out, n, int(k)*m.Bits, m.Bits))
		if m.codeBits == 8 {
			m.w[base+(p/4)*64+r*4+p%4] = c
			continue
		}
		j, i := p/8, p%8
		off := base + j*64 + r*4 + i%4
		if i < 4 {
			m.w[off] |= c
		} else {
			m.w[off] |= c << 4
		}
	}
}

// bitsAt reads a bits-wide code from a GPTQ tensor packed as a little-endian bit stream along
// one dimension: word (w, col) of a [words][cols] int32 tensor holds stream bits 32w..32w+31 of
// column col. (For 3 bits a code may straddle two words, as AutoGPTQ packs it.)
func bitsAt(t []int32, cols, col, bit, bits int) uint32 {
	w, sh := bit/32, bit%32
	v := uint32(t[w*cols+col]) >> sh
	if sh+bits > 32 {
		v |= uint32(t[(w+1)*cols+col]) << (32 - sh)
	}
	return v & (1<<bits - 1)
}

// packedWords checks that a tensor of n int32 holds cols columns of k codes each, packed along k:
// either the tight ceil(k·bits/32) words per column, or for 3 bits AutoGPTQ's whole 3-word
// units of 32 codes. It returns the words per column (the tight count when n fits neither).
func packedWords(n, cols, k, bits int) (int, bool) {
	tight := ceilDiv(k*bits, 32)
	if n == tight*cols {
		return tight, true
	}
	if bits == 3 && n == ceilDiv(k, 32)*3*cols {
		return ceilDiv(k, 32) * 3, true
	}
	return tight, false
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// alignedBytes returns n zero bytes starting on a 64-byte boundary (one cache line, one zmm load).
func alignedBytes(n int) []byte {
	b := make([]byte, n+63)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & 63)
	return b[off : off+n : off+n]
}

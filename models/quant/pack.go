package quant

import (
	"encoding/binary"
	"fmt"

	"github.com/rpiq/rpiq/kernels/half"
)

// Packed is one linear module in the GPTQ checkpoint layout (reference notes §3.1):
// qweight packs the codes along the input dimension, qzeros the zeros along the output
// dimension, both as a little-endian bit stream of Bits-bit fields (for 3 bits that is the
// AutoGPTQ layout of 32 values in 3 words). A dimension that does not fill whole words is padded
// with zero codes (standard GPTQ files need In % (32/bits) == 0 and Out % (32/bits) == 0; ours
// accept any size, e.g. stories260K's 172).
type Packed struct {
	In, Out, Bits, Groups int
	GroupSize             int      // -1 per channel
	QWeight               []uint32 // [PackedLen(In)][Out]
	QZeros                []uint32 // [Groups][PackedLen(Out)]
	Scales                []uint16 // fp16 [Groups][Out]
	GIdx                  []int32  // [In]
	// V2 stores the true zero (checkpoint_format gptq_v2); false stores zero−1 (gptq, v1).
	V2 bool
}

// PackedLen is the number of 32-bit words holding k values of the given width.
func PackedLen(k, bits int) int {
	if bits == 3 {
		return (k + 31) / 32 * 3
	}
	per := 32 / bits
	return (k + per - 1) / per
}

// packStream writes vals as consecutive bits-wide fields, LSB first, into words[0], words[stride], ...
func packStream(words []uint32, stride int, vals func(i int) uint32, k, bits int) {
	for i := 0; i < k; i++ {
		v := uint64(vals(i)) & (1<<bits - 1)
		bit := i * bits
		w, off := bit/32, bit%32
		words[w*stride] |= uint32(v << off)
		if off+bits > 32 {
			words[(w+1)*stride] |= uint32(v >> (32 - off))
		}
	}
}

// unpackStream reads field i of a stream written by packStream.
func unpackStream(words []uint32, stride, i, bits int) uint32 {
	bit := i * bits
	w, off := bit/32, bit%32
	v := uint64(words[w*stride]) >> off
	if off+bits > 32 {
		v |= uint64(words[(w+1)*stride]) << (32 - off)
	}
	return uint32(v & (1<<bits - 1))
}

// Pack converts a quantized matrix to the GPTQ layout. Scales are stored as fp16: the codes must
// have been chosen with fp16-rounded scales (Grid.ScaleFP16) for the round trip to be exact.
func Pack(q *Quantized, v2 bool) (*Packed, error) {
	if err := q.Grid.Validate(); err != nil {
		return nil, err
	}
	bits := q.Grid.Bits
	in, out, groups := q.Cols, q.Rows, q.Groups()
	p := &Packed{In: in, Out: out, Bits: bits, Groups: groups, GroupSize: q.GroupSize, V2: v2,
		QWeight: make([]uint32, PackedLen(in, bits)*out),
		QZeros:  make([]uint32, groups*PackedLen(out, bits)),
		Scales:  make([]uint16, groups*out),
		GIdx:    append([]int32(nil), q.GIdx...),
	}
	for c := 0; c < out; c++ {
		packStream(p.QWeight[c:], out, func(i int) uint32 { return uint32(q.Codes[c*in+i]) }, in, bits)
	}
	zc := PackedLen(out, bits)
	for g := 0; g < groups; g++ {
		zs := q.Zeros[g*out : (g+1)*out]
		for _, z := range zs {
			if z < 0 || z > q.Grid.MaxQ() || (!v2 && z == 0) {
				return nil, fmt.Errorf("quant: zero %d cannot be stored in the %s layout at %d bits (use gptq_v2 for asymmetric grids)", z, formatName(v2), bits)
			}
		}
		packStream(p.QZeros[g*zc:], 1, func(i int) uint32 {
			if v2 {
				return uint32(zs[i])
			}
			return uint32(zs[i] - 1)
		}, out, bits)
		for r := 0; r < out; r++ {
			s := q.Scales[g*out+r]
			h := half.F32ToF16(float32(s))
			if float64(half.F16ToF32(h)) != s && q.Grid.ScaleFP16 {
				return nil, fmt.Errorf("quant: scale %v (group %d, row %d) is not a float16 value", s, g, r)
			}
			p.Scales[g*out+r] = h
		}
	}
	return p, nil
}

func formatName(v2 bool) string {
	if v2 {
		return "gptq_v2"
	}
	return "gptq"
}

// Code is the stored code of weight (out row r, input column i).
func (p *Packed) Code(r, i int) int { return int(unpackStream(p.QWeight[r:], p.Out, i, p.Bits)) }

// Zero is the zero the loaders use for (group g, row r): the stored field, plus one for v1
// (without masking, exactly as AutoGPTQ and vLLM do, so another tool's underflowed asymmetric v1
// zero 0xF reads as 16).
func (p *Packed) Zero(g, r int) int {
	z := int(unpackStream(p.QZeros[g*PackedLen(p.Out, p.Bits):], 1, r, p.Bits))
	if !p.V2 {
		z++
	}
	return z
}

// Validate checks the tensor sizes and that every g_idx entry names a group.
func (p *Packed) Validate() error {
	switch p.Bits {
	case 2, 3, 4, 8:
	default:
		return fmt.Errorf("bits = %d, want 2, 3, 4 or 8", p.Bits)
	}
	if p.In <= 0 || p.Out <= 0 || p.Groups <= 0 {
		return fmt.Errorf("in %d, out %d, groups %d: want positive sizes", p.In, p.Out, p.Groups)
	}
	if len(p.QWeight) != PackedLen(p.In, p.Bits)*p.Out {
		return fmt.Errorf("qweight has %d words, want %d×%d", len(p.QWeight), PackedLen(p.In, p.Bits), p.Out)
	}
	if len(p.QZeros) != p.Groups*PackedLen(p.Out, p.Bits) {
		return fmt.Errorf("qzeros has %d words, want %d×%d", len(p.QZeros), p.Groups, PackedLen(p.Out, p.Bits))
	}
	if len(p.Scales) != p.Groups*p.Out {
		return fmt.Errorf("scales has %d values, want %d×%d", len(p.Scales), p.Groups, p.Out)
	}
	if len(p.GIdx) != p.In {
		return fmt.Errorf("g_idx has %d entries, want %d", len(p.GIdx), p.In)
	}
	for i, g := range p.GIdx {
		if g < 0 || int(g) >= p.Groups {
			return fmt.Errorf("g_idx[%d] = %d, want 0..%d", i, g, p.Groups-1)
		}
	}
	return nil
}

// Unpack returns the codes, scales and zeros as a Quantized (Perm is the identity; the
// processing order is not stored in a checkpoint).
func (p *Packed) Unpack() (*Quantized, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("quant: %v", err)
	}
	q := &Quantized{Rows: p.Out, Cols: p.In, Grid: Grid{Bits: p.Bits, ScaleFP16: true}, GroupSize: p.GroupSize,
		Codes: make([]uint8, p.Out*p.In), Scales: make([]float64, p.Groups*p.Out), Zeros: make([]int, p.Groups*p.Out),
		GIdx: append([]int32(nil), p.GIdx...), Perm: identity(p.In), Dead: make([]bool, p.In)}
	for r := 0; r < p.Out; r++ {
		for i := 0; i < p.In; i++ {
			q.Codes[r*p.In+i] = uint8(p.Code(r, i))
		}
	}
	for g := 0; g < p.Groups; g++ {
		for r := 0; r < p.Out; r++ {
			q.Scales[g*p.Out+r] = float64(half.F16ToF32(p.Scales[g*p.Out+r]))
			q.Zeros[g*p.Out+r] = p.Zero(g, r)
		}
	}
	return q, nil
}

// Dequantize returns the Out×In float32 weights (HF layout): w = scale·(q − zero) with the
// group of each input column from g_idx, computed in float32 as the GPTQ kernels do.
func (p *Packed) Dequantize() ([]float32, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("quant: %v", err)
	}
	w := make([]float32, p.Out*p.In)
	zc := PackedLen(p.Out, p.Bits)
	for i := 0; i < p.In; i++ {
		g := int(p.GIdx[i])
		for r := 0; r < p.Out; r++ {
			z := int(unpackStream(p.QZeros[g*zc:], 1, r, p.Bits))
			if !p.V2 {
				z++
			}
			s := half.F16ToF32(p.Scales[g*p.Out+r])
			w[r*p.In+i] = s * float32(p.Code(r, i)-z)
		}
	}
	return w, nil
}

// le32 and friends convert between words and little-endian safetensors bytes.
func u32Bytes(v []uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

func i32Bytes(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func u16Bytes(v []uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

func bytesU32(b []byte) []uint32 {
	v := make([]uint32, len(b)/4)
	for i := range v {
		v[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return v
}

func bytesU16(b []byte) []uint16 {
	v := make([]uint16, len(b)/2)
	for i := range v {
		v[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return v
}

package gguf

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/rpiq/rpiq/kernels/half"
)

// Block layouts (ggml-common.h), 32 elements per block, little-endian:
//
//	block_q4_0 { f16 d;        u8 qs[16] }  18 bytes  y[j] = ((qs[j]&15) − 8)·d,  y[j+16] = ((qs[j]>>4) − 8)·d
//	block_q4_1 { f16 d, m;     u8 qs[16] }  20 bytes  y[j] =  (qs[j]&15)·d + m,   y[j+16] =  (qs[j]>>4)·d + m
//	block_q8_0 { f16 d;        i8 qs[32] }  34 bytes  y[j] = qs[j]·d
//
// Byte j of qs holds element j in its low nibble and element j+16 in its high nibble.
const (
	BlockElems   = 32
	Q4_0Bytes    = 18
	Q4_1Bytes    = 20
	Q8_0Bytes    = 34
	nibblesBytes = 16
)

// PutQ4_0 writes one Q4_0 block: d as fp16 bits and 32 codes 0..15.
func PutQ4_0(dst []byte, d uint16, codes *[BlockElems]uint8) {
	binary.LittleEndian.PutUint16(dst, d)
	putNibbles(dst[2:18], codes)
}

// PutQ4_1 writes one Q4_1 block: d and m as fp16 bits and 32 codes 0..15.
func PutQ4_1(dst []byte, d, m uint16, codes *[BlockElems]uint8) {
	binary.LittleEndian.PutUint16(dst, d)
	binary.LittleEndian.PutUint16(dst[2:], m)
	putNibbles(dst[4:20], codes)
}

func putNibbles(qs []byte, codes *[BlockElems]uint8) {
	for j := 0; j < nibblesBytes; j++ {
		qs[j] = codes[j]&15 | codes[j+16]<<4
	}
}

// QuantizeQ8_0 quantizes x (a multiple of 32 long) with llama.cpp's reference rule
// (quantize_row_q8_0_ref): d = max|x|/127 stored as fp16, q = round(x/d).
func QuantizeQ8_0(x []float32) ([]byte, error) {
	if len(x)%BlockElems != 0 {
		return nil, fmt.Errorf("gguf: Q8_0 needs a multiple of %d values, got %d", BlockElems, len(x))
	}
	out := make([]byte, len(x)/BlockElems*Q8_0Bytes)
	for b := 0; b < len(x)/BlockElems; b++ {
		xs := x[b*BlockElems : (b+1)*BlockElems]
		amax := float32(0)
		for _, v := range xs {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		id := float32(0)
		if d != 0 {
			id = 1 / d
		}
		blk := out[b*Q8_0Bytes:]
		binary.LittleEndian.PutUint16(blk, half.F32ToF16(d))
		for j, v := range xs {
			blk[2+j] = byte(int8(math.RoundToEven(float64(v * id))))
		}
	}
	return out, nil
}

// F32Bytes and F16Bytes encode dense data.
func F32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func F16Bytes(x []float32) []byte {
	b := make([]byte, 2*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint16(b[2*i:], half.F32ToF16(v))
	}
	return b
}

// Dequantize returns the elements of t as float32 in ggml order (row-major with Dims[0]
// contiguous). F32, F16, BF16, Q4_0, Q4_1 and Q8_0 are supported.
func Dequantize(t *Tensor) ([]float32, error) {
	n := t.Elements()
	if want, err := t.Type.RowBytes(t.Dims[0]); err != nil || want*(n/max(t.Dims[0], 1)) != uint64(len(t.Data)) {
		return nil, fmt.Errorf("gguf: tensor %s: %d bytes do not hold %s %v", t.Name, len(t.Data), t.Type, t.Dims)
	}
	out := make([]float32, n)
	b := t.Data
	le := binary.LittleEndian
	switch t.Type {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = half.F16ToF32(le.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = half.BF16ToF32(le.Uint16(b[2*i:]))
		}
	case Q4_0:
		for k := 0; k < len(out)/BlockElems; k++ {
			blk := b[k*Q4_0Bytes:]
			d := half.F16ToF32(le.Uint16(blk))
			y := out[k*BlockElems:]
			for j := 0; j < nibblesBytes; j++ {
				q := blk[2+j]
				y[j] = float32(int(q&15)-8) * d
				y[j+16] = float32(int(q>>4)-8) * d
			}
		}
	case Q4_1:
		for k := 0; k < len(out)/BlockElems; k++ {
			blk := b[k*Q4_1Bytes:]
			d := half.F16ToF32(le.Uint16(blk))
			m := half.F16ToF32(le.Uint16(blk[2:]))
			y := out[k*BlockElems:]
			for j := 0; j < nibblesBytes; j++ {
				q := blk[4+j]
				y[j] = float32(q&15)*d + m
				y[j+16] = float32(q>>4)*d + m
			}
		}
	case Q8_0:
		for k := 0; k < len(out)/BlockElems; k++ {
			blk := b[k*Q8_0Bytes:]
			d := half.F16ToF32(le.Uint16(blk))
			y := out[k*BlockElems:]
			for j := 0; j < BlockElems; j++ {
				y[j] = float32(int8(blk[2+j])) * d
			}
		}
	default:
		return nil, fmt.Errorf("gguf: tensor %s: dequantizing %s is not implemented", t.Name, t.Type)
	}
	return out, nil
}

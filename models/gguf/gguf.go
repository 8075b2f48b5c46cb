// Package gguf writes and reads GGUF v3 files, llama.cpp's single-file model format: a header
// (magic "GGUF", version 3, tensor and key-value counts), typed key-value metadata, tensor infos
// (name, dims in ggml order — the contiguous dimension first, i.e. reversed relative to PyTorch —
// type, offset), then the tensor data, each tensor aligned to general.alignment (default 32).
//
// The writer is what `rpiq export --gguf` uses; the reader validates every count, length, offset
// and size before it slices, so a truncated or hostile file gives an *Error naming the file and
// the field, never a panic. Block layouts of the types we write (F32, F16, BF16, Q4_0, Q4_1,
// Q8_0) are in blocks.go.
package gguf

import (
	"fmt"
	"math"
)

// Magic is "GGUF" read as a little-endian uint32; Version is the only version written.
const (
	Magic            = 0x46554747
	Version          = 3
	DefaultAlignment = 32
	// MaxDims is GGML_MAX_DIMS: a tensor has at most 4 dimensions.
	MaxDims = 4
)

// ValueType is the type tag of a metadata value (gguf.h enum gguf_type).
type ValueType uint32

const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

// scalarSize is the byte size of a fixed-size value type (0 for string and array).
func (t ValueType) scalarSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// TensorType is a ggml tensor type (ggml.h enum ggml_type).
type TensorType uint32

const (
	F32  TensorType = 0
	F16  TensorType = 1
	Q4_0 TensorType = 2
	Q4_1 TensorType = 3
	Q5_0 TensorType = 6
	Q5_1 TensorType = 7
	Q8_0 TensorType = 8
	Q8_1 TensorType = 9
	Q2_K TensorType = 10
	Q3_K TensorType = 11
	Q4_K TensorType = 12
	Q5_K TensorType = 13
	Q6_K TensorType = 14
	Q8_K TensorType = 15
	I8   TensorType = 24
	I16  TensorType = 25
	I32  TensorType = 26
	I64  TensorType = 27
	F64  TensorType = 28
	BF16 TensorType = 30
)

type typeTraits struct {
	name       string
	blockElems int // elements per block
	blockBytes int // bytes per block
}

// traits are the block sizes of ggml-common.h (QK4_0 = 32 with a fp16 d = 18 bytes, ...).
// The reader knows the sizes of these types so it can check tensor sizes; it dequantizes only
// the ones in blocks.go.
var traits = map[TensorType]typeTraits{
	F32:  {"F32", 1, 4},
	F16:  {"F16", 1, 2},
	Q4_0: {"Q4_0", 32, 2 + 16},
	Q4_1: {"Q4_1", 32, 2 + 2 + 16},
	Q5_0: {"Q5_0", 32, 2 + 4 + 16},
	Q5_1: {"Q5_1", 32, 2 + 2 + 4 + 16},
	Q8_0: {"Q8_0", 32, 2 + 32},
	Q8_1: {"Q8_1", 32, 4 + 32},
	Q2_K: {"Q2_K", 256, 256/16 + 256/4 + 2 + 2},
	Q3_K: {"Q3_K", 256, 256/8 + 256/4 + 12 + 2},
	Q4_K: {"Q4_K", 256, 2 + 2 + 12 + 256/2},
	Q5_K: {"Q5_K", 256, 2 + 2 + 12 + 256/8 + 256/2},
	Q6_K: {"Q6_K", 256, 256/2 + 256/4 + 256/16 + 2},
	Q8_K: {"Q8_K", 256, 4 + 256 + 256/16*2},
	I8:   {"I8", 1, 1},
	I16:  {"I16", 1, 2},
	I32:  {"I32", 1, 4},
	I64:  {"I64", 1, 8},
	F64:  {"F64", 1, 8},
	BF16: {"BF16", 1, 2},
}

func (t TensorType) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize returns the elements per block and the bytes per block of t (ok false: unknown type).
func (t TensorType) BlockSize() (elems, bytes int, ok bool) {
	tr, ok := traits[t]
	return tr.blockElems, tr.blockBytes, ok
}

// RowBytes is the byte size of ne0 elements of type t; ne0 must be a multiple of the block size.
func (t TensorType) RowBytes(ne0 uint64) (uint64, error) {
	tr, ok := traits[t]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type %d", uint32(t))
	}
	if ne0%uint64(tr.blockElems) != 0 {
		return 0, fmt.Errorf("%s rows of %d elements are not whole blocks of %d", tr.name, ne0, tr.blockElems)
	}
	return ne0 / uint64(tr.blockElems) * uint64(tr.blockBytes), nil
}

// Token types of tokenizer.ggml.token_type (llama.h enum llama_token_type).
const (
	TokenNormal      int32 = 1
	TokenUnknown     int32 = 2
	TokenControl     int32 = 3
	TokenUserDefined int32 = 4
	TokenUnused      int32 = 5
	TokenByte        int32 = 6
)

// File types of general.file_type (llama.h enum llama_ftype) for the types we write.
const (
	FileTypeAllF32     uint32 = 0
	FileTypeMostlyF16  uint32 = 1
	FileTypeMostlyQ4_0 uint32 = 2
	FileTypeMostlyQ4_1 uint32 = 3
	FileTypeMostlyQ8_0 uint32 = 7
	FileTypeMostlyBF16 uint32 = 32
)

// KV is one metadata pair. Value is one of uint8, int8, uint16, int16, uint32, int32, float32,
// bool, string, uint64, int64, float64, or a slice of one of them (an array).
type KV struct {
	Key   string
	Value any
}

// Tensor is one tensor: Dims in ggml order (Dims[0] is the contiguous dimension, the number of
// columns of a row-major matrix), its type and raw bytes. Offset is the data offset relative to
// the start of the data section (set by the reader; the writer computes it).
type Tensor struct {
	Name   string
	Type   TensorType
	Dims   []uint64
	Offset uint64
	Data   []byte
	size   uint64 // data bytes, set by the reader (also when Data is not loaded)
	// fill, when Data is nil, produces the data while the writer writes it, so an export holds
	// one tensor in memory at a time.
	fill func() ([]byte, error)
}

// dataSize is the byte size the dims and type give.
func (t *Tensor) dataSize() (uint64, error) {
	size, err := t.Type.RowBytes(t.Dims[0])
	if err != nil {
		return 0, err
	}
	for _, d := range t.Dims[1:] {
		if d != 0 && size > math.MaxUint64/d {
			return 0, fmt.Errorf("dims %v overflow", t.Dims)
		}
		size *= d
	}
	return size, nil
}

// Bytes is the size of the tensor's data.
func (t *Tensor) Bytes() uint64 {
	if t.Data != nil {
		return uint64(len(t.Data))
	}
	return t.size
}

// Elements is the product of the dims.
func (t *Tensor) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a whole GGUF file: metadata in file order and tensors in file order.
type File struct {
	Version   uint32
	Alignment uint64
	KVs       []KV
	Tensors   []*Tensor
}

// Get returns the value of key, or nil.
func (f *File) Get(key string) any {
	for _, kv := range f.KVs {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// Tensor returns the tensor called name, or nil.
func (f *File) Tensor(name string) *Tensor {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Error is a problem with a GGUF file or with the model being exported: the file, the field
// (key, tensor or header field) and what was expected. It is bad input for the CLI.
type Error struct {
	File  string
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.File + ": " + e.Msg
	}
	return e.File + ": " + e.Field + ": " + e.Msg
}

// BadInput marks the error as the user's input for the CLI's exit status 2.
func (e *Error) BadInput() bool { return true }

func errorf(file, field, format string, a ...any) *Error {
	return &Error{File: file, Field: field, Msg: fmt.Sprintf(format, a...)}
}

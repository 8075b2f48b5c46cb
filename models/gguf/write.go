package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// WriteFile writes f to path atomically (a temporary file in the same folder, fsync, rename).
func WriteFile(path string, f *File) error {
	if err := f.check(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return safetensors.WriteFileAtomic(path, func(w io.Writer) error { return Write(w, f) })
}

// Write encodes f as GGUF v3. Tensor offsets are laid out in order, each rounded up to the
// alignment (f.Alignment, or general.alignment among the KVs, or 32); f's Offset fields are
// set to what was written.
func Write(w io.Writer, f *File) error {
	if err := f.check(); err != nil {
		return err
	}
	align := f.alignment()
	bw := bufio.NewWriterSize(w, 1<<20)
	e := &encoder{w: bw}
	e.u32(Magic)
	e.u32(Version)
	e.u64(uint64(len(f.Tensors)))
	e.u64(uint64(len(f.KVs)))
	for _, kv := range f.KVs {
		e.str(kv.Key)
		e.value(kv.Value, true)
	}
	off := uint64(0)
	for _, t := range f.Tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		t.Offset = off
		e.u64(off)
		size, _ := t.dataSize()
		off = alignUp(off+size, align)
	}
	e.pad(align)
	start := e.n
	for _, t := range f.Tensors {
		e.pad(align)
		if e.n-start != t.Offset {
			return fmt.Errorf("gguf: internal: tensor %s at %d, want %d", t.Name, e.n-start, t.Offset)
		}
		data := t.Data
		if data == nil && t.fill != nil {
			var err error
			if data, err = t.fill(); err != nil {
				return err
			}
			if size, _ := t.dataSize(); uint64(len(data)) != size {
				return fmt.Errorf("gguf: internal: tensor %s produced %d bytes, want %d", t.Name, len(data), size)
			}
		}
		e.bytes(data)
	}
	e.pad(align)
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

// check validates what the writer is given: known types, rows of whole blocks, data sizes that
// match the dims, unique names and keys, encodable values.
func (f *File) check() error {
	keys := map[string]bool{}
	for _, kv := range f.KVs {
		if keys[kv.Key] {
			return fmt.Errorf("gguf: duplicate key %q", kv.Key)
		}
		keys[kv.Key] = true
		if _, err := valueType(kv.Value); err != nil {
			return fmt.Errorf("gguf: key %s: %v", kv.Key, err)
		}
	}
	if a, ok := f.Get("general.alignment").(uint32); ok && (a == 0 || a&(a-1) != 0) {
		return fmt.Errorf("gguf: general.alignment = %d, want a power of two", a)
	}
	if f.Alignment != 0 && f.Alignment&(f.Alignment-1) != 0 {
		return fmt.Errorf("gguf: alignment %d, want a power of two", f.Alignment)
	}
	if a, ok := f.Get("general.alignment").(uint32); ok && f.Alignment != 0 && uint64(a) != f.Alignment {
		return fmt.Errorf("gguf: general.alignment = %d but the file is laid out with %d", a, f.Alignment)
	}
	if v := f.Get("general.alignment"); v != nil {
		if _, ok := v.(uint32); !ok {
			return fmt.Errorf("gguf: general.alignment is %T, want uint32", v)
		}
	}
	names := map[string]bool{}
	for _, t := range f.Tensors {
		if names[t.Name] {
			return fmt.Errorf("gguf: duplicate tensor %q", t.Name)
		}
		names[t.Name] = true
		if len(t.Dims) == 0 || len(t.Dims) > MaxDims {
			return fmt.Errorf("gguf: tensor %s has %d dims, want 1 to %d", t.Name, len(t.Dims), MaxDims)
		}
		size, err := t.dataSize()
		if err != nil {
			return fmt.Errorf("gguf: tensor %s: %v", t.Name, err)
		}
		if (t.Data != nil || t.fill == nil) && uint64(len(t.Data)) != size {
			return fmt.Errorf("gguf: tensor %s: %d bytes of data, want %d for %s %v", t.Name, len(t.Data), size, t.Type, t.Dims)
		}
	}
	return nil
}

func (f *File) alignment() uint64 {
	if f.Alignment != 0 {
		return f.Alignment
	}
	if a, ok := f.Get("general.alignment").(uint32); ok && a != 0 {
		return uint64(a)
	}
	return DefaultAlignment
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

// valueType maps a Go value to its GGUF type tag (and, for a slice, its element type).
func valueType(v any) (ValueType, error) {
	switch v.(type) {
	case uint8:
		return TypeUint8, nil
	case int8:
		return TypeInt8, nil
	case uint16:
		return TypeUint16, nil
	case int16:
		return TypeInt16, nil
	case uint32:
		return TypeUint32, nil
	case int32:
		return TypeInt32, nil
	case float32:
		return TypeFloat32, nil
	case bool:
		return TypeBool, nil
	case string:
		return TypeString, nil
	case uint64:
		return TypeUint64, nil
	case int64:
		return TypeInt64, nil
	case float64:
		return TypeFloat64, nil
	case []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool, []string, []uint64, []int64, []float64:
		return TypeArray, nil
	}
	return 0, fmt.Errorf("value of Go type %T has no GGUF type", v)
}

type encoder struct {
	w   io.Writer
	n   uint64
	err error
	buf [8]byte
}

func (e *encoder) bytes(b []byte) {
	if e.err != nil {
		return
	}
	var n int
	n, e.err = e.w.Write(b)
	e.n += uint64(n)
}

func (e *encoder) u8(v uint8)   { e.buf[0] = v; e.bytes(e.buf[:1]) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:], v); e.bytes(e.buf[:2]) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.bytes(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.bytes(e.buf[:8]) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.bytes([]byte(s)) }

func (e *encoder) pad(align uint64) {
	for e.n%align != 0 && e.err == nil {
		e.u8(0)
	}
}

// value writes v; withTag writes the type tag first (array elements have none).
func (e *encoder) value(v any, withTag bool) {
	t, _ := valueType(v)
	if withTag {
		e.u32(uint32(t))
	}
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case []uint8:
		writeArray(e, TypeUint8, x)
	case []int8:
		writeArray(e, TypeInt8, x)
	case []uint16:
		writeArray(e, TypeUint16, x)
	case []int16:
		writeArray(e, TypeInt16, x)
	case []uint32:
		writeArray(e, TypeUint32, x)
	case []int32:
		writeArray(e, TypeInt32, x)
	case []float32:
		writeArray(e, TypeFloat32, x)
	case []bool:
		writeArray(e, TypeBool, x)
	case []string:
		writeArray(e, TypeString, x)
	case []uint64:
		writeArray(e, TypeUint64, x)
	case []int64:
		writeArray(e, TypeInt64, x)
	case []float64:
		writeArray(e, TypeFloat64, x)
	}
}

func writeArray[T any](e *encoder, elem ValueType, xs []T) {
	e.u32(uint32(elem))
	e.u64(uint64(len(xs)))
	for _, x := range xs {
		e.value(x, false)
	}
}

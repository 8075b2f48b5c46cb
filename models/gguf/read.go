package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sort"
)

// Limits the reader enforces before it allocates (llama.cpp's gguf.cpp has the same kind of
// checks): a key or tensor name longer than this is corrupt, not a model.
const (
	maxNameLen = 1 << 16
)

// ReadFile reads and validates the GGUF file at path. Tensor data are slices of the file's bytes.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// ReadInfo reads the metadata and tensor infos of the GGUF file at path without its tensor data
// (Tensor.Data stays nil): it reads a growing prefix until the header parses, and checks every
// tensor's extent against the file's size. For inspect on multi-gigabyte files.
func ReadInfo(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	for n := int64(1 << 20); ; n *= 2 {
		n = min(n, size)
		buf := make([]byte, n)
		if _, err := fh.ReadAt(buf, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		f, err := parse(path, buf, uint64(size))
		if err == nil || n == size {
			return f, err
		}
	}
}

// Parse validates and decodes a whole GGUF file held in data; file names it in errors.
// Every count, length and offset is checked against the bytes that remain before anything is
// allocated or sliced: a tensor's data must lie inside the data section, start on the
// alignment, not overlap another tensor, and have the size its type and dims give.
func Parse(file string, data []byte) (*File, error) {
	return parse(file, data, 0)
}

// parse decodes data; fileSize > 0 means data is only a prefix of a file that long, and the
// tensor data are checked against fileSize but not sliced.
func parse(file string, data []byte, fileSize uint64) (*File, error) {
	d := &decoder{file: file, b: data}
	if len(data) < 4 {
		return nil, errorf(file, "magic", "file of %d bytes is too short for a GGUF header", len(data))
	}
	if m := binary.LittleEndian.Uint32(data); m != Magic {
		return nil, errorf(file, "magic", "0x%08x, want 0x%08x (\"GGUF\")", m, Magic)
	}
	d.off = 4
	f := &File{}
	var err error
	if f.Version, err = d.u32("version"); err != nil {
		return nil, err
	}
	if f.Version != 2 && f.Version != Version {
		return nil, errorf(file, "version", "%d, want 3 (or 2)", f.Version)
	}
	nTensors, err := d.u64("tensor_count")
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64("kv_count")
	if err != nil {
		return nil, err
	}
	// Each KV takes at least 8+4+1 bytes and each tensor info at least 8+4+8+4+8.
	if nKV > uint64(d.left())/13 {
		return nil, errorf(file, "kv_count", "%d pairs cannot fit in the %d bytes left", nKV, d.left())
	}
	if nTensors > uint64(d.left())/32 {
		return nil, errorf(file, "tensor_count", "%d tensors cannot fit in the %d bytes left", nTensors, d.left())
	}
	keys := map[string]bool{}
	for i := uint64(0); i < nKV; i++ {
		key, err := d.str(fmt.Sprintf("key of kv %d", i))
		if err != nil {
			return nil, err
		}
		if keys[key] {
			return nil, errorf(file, key, "duplicate key")
		}
		keys[key] = true
		t, err := d.u32(key + " type")
		if err != nil {
			return nil, err
		}
		v, err := d.value(key, ValueType(t), true)
		if err != nil {
			return nil, err
		}
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}
	f.Alignment = DefaultAlignment
	if v := f.Get("general.alignment"); v != nil {
		a, ok := v.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return nil, errorf(file, "general.alignment", "%v (%T), want a uint32 power of two", v, v)
		}
		f.Alignment = uint64(a)
	}
	names := map[string]bool{}
	for i := uint64(0); i < nTensors; i++ {
		t, err := d.tensorInfo(i)
		if err != nil {
			return nil, err
		}
		if names[t.Name] {
			return nil, errorf(file, "tensor "+t.Name, "duplicate tensor name")
		}
		names[t.Name] = true
		f.Tensors = append(f.Tensors, t)
	}
	end := uint64(len(data))
	if fileSize > 0 {
		end = fileSize
	}
	start := alignUp(uint64(d.off), f.Alignment)
	if start > end {
		if nTensors == 0 {
			start = end
		} else {
			return nil, errorf(file, "tensor data", "data section at %d is past the end of the file (%d bytes)", start, end)
		}
	}
	section := end - start
	for _, t := range f.Tensors {
		field := "tensor " + t.Name
		size, err := t.Type.RowBytes(t.Dims[0])
		if err != nil {
			return nil, errorf(file, field, "%v", err)
		}
		for _, n := range t.Dims[1:] {
			if n != 0 && size > math.MaxUint64/n {
				return nil, errorf(file, field, "dims %v overflow", t.Dims)
			}
			size *= n
		}
		if t.Offset%f.Alignment != 0 {
			return nil, errorf(file, field, "offset %d is not a multiple of the alignment %d", t.Offset, f.Alignment)
		}
		if t.Offset > section || size > section-t.Offset {
			return nil, errorf(file, field, "data [%d, %d+%d) runs past the data section of %d bytes (truncated file?)", t.Offset, t.Offset, size, section)
		}
		if fileSize == 0 {
			t.Data = data[start+t.Offset : start+t.Offset+size : start+t.Offset+size]
		}
		t.size = size
	}
	byOffset := append([]*Tensor(nil), f.Tensors...)
	sort.Slice(byOffset, func(i, j int) bool { return byOffset[i].Offset < byOffset[j].Offset })
	for i := 1; i < len(byOffset); i++ {
		a, b := byOffset[i-1], byOffset[i]
		if a.Offset+a.size > b.Offset {
			return nil, errorf(file, "tensor "+b.Name, "data at %d overlaps tensor %s [%d, %d)", b.Offset, a.Name, a.Offset, a.Offset+a.size)
		}
	}
	return f, nil
}

type decoder struct {
	file string
	b    []byte
	off  int
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) need(field string, n uint64) error {
	if n > uint64(d.left()) {
		return errorf(d.file, field, "needs %d bytes at offset %d, only %d left (truncated file?)", n, d.off, d.left())
	}
	return nil
}

func (d *decoder) take(field string, n uint64) ([]byte, error) {
	if err := d.need(field, n); err != nil {
		return nil, err
	}
	b := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

func (d *decoder) u32(field string) (uint32, error) {
	b, err := d.take(field, 4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(field string) (uint64, error) {
	b, err := d.take(field, 8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (d *decoder) str(field string) (string, error) {
	n, err := d.u64(field + " length")
	if err != nil {
		return "", err
	}
	b, err := d.take(field, n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// value decodes one value of type t; top is false inside an array (nested arrays are refused,
// as no writer produces them and llama.cpp does not read them).
func (d *decoder) value(field string, t ValueType, top bool) (any, error) {
	if t == TypeArray {
		if !top {
			return nil, errorf(d.file, field, "nested arrays are not supported")
		}
		et, err := d.u32(field + " element type")
		if err != nil {
			return nil, err
		}
		n, err := d.u64(field + " element count")
		if err != nil {
			return nil, err
		}
		return d.array(field, ValueType(et), n)
	}
	if t == TypeString {
		return d.str(field)
	}
	size := t.scalarSize()
	if size == 0 {
		return nil, errorf(d.file, field, "value type %d, want 0..12", uint32(t))
	}
	b, err := d.take(field, uint64(size))
	if err != nil {
		return nil, err
	}
	return scalar(t, b), nil
}

func scalar(t ValueType, b []byte) any {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return b[0]
	case TypeInt8:
		return int8(b[0])
	case TypeBool:
		return b[0] != 0
	case TypeUint16:
		return le.Uint16(b)
	case TypeInt16:
		return int16(le.Uint16(b))
	case TypeUint32:
		return le.Uint32(b)
	case TypeInt32:
		return int32(le.Uint32(b))
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b))
	case TypeUint64:
		return le.Uint64(b)
	case TypeInt64:
		return int64(le.Uint64(b))
	case TypeFloat64:
		return math.Float64frombits(le.Uint64(b))
	}
	return nil
}

func (d *decoder) array(field string, et ValueType, n uint64) (any, error) {
	if et == TypeArray {
		return nil, errorf(d.file, field, "nested arrays are not supported")
	}
	if et == TypeString {
		if n > uint64(d.left())/8 {
			return nil, errorf(d.file, field, "%d strings cannot fit in the %d bytes left", n, d.left())
		}
		out := make([]string, n)
		for i := range out {
			s, err := d.str(fmt.Sprintf("%s[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	size := et.scalarSize()
	if size == 0 {
		return nil, errorf(d.file, field, "array element type %d, want 0..12", uint32(et))
	}
	if n > uint64(d.left())/uint64(size) {
		return nil, errorf(d.file, field, "%d elements of %d bytes cannot fit in the %d bytes left (truncated file?)", n, size, d.left())
	}
	b, _ := d.take(field, n*uint64(size))
	switch et {
	case TypeUint8:
		return append([]uint8(nil), b...), nil
	case TypeInt8:
		return decodeArray[int8](et, b, size), nil
	case TypeBool:
		return decodeArray[bool](et, b, size), nil
	case TypeUint16:
		return decodeArray[uint16](et, b, size), nil
	case TypeInt16:
		return decodeArray[int16](et, b, size), nil
	case TypeUint32:
		return decodeArray[uint32](et, b, size), nil
	case TypeInt32:
		return decodeArray[int32](et, b, size), nil
	case TypeFloat32:
		return decodeArray[float32](et, b, size), nil
	case TypeUint64:
		return decodeArray[uint64](et, b, size), nil
	case TypeInt64:
		return decodeArray[int64](et, b, size), nil
	default:
		return decodeArray[float64](et, b, size), nil
	}
}

func decodeArray[T any](et ValueType, b []byte, size int) []T {
	out := make([]T, len(b)/size)
	for i := range out {
		out[i] = scalar(et, b[i*size:(i+1)*size]).(T)
	}
	return out
}

func (d *decoder) tensorInfo(i uint64) (*Tensor, error) {
	field := fmt.Sprintf("tensor info %d", i)
	n, err := d.u64(field + " name length")
	if err != nil {
		return nil, err
	}
	if n > maxNameLen {
		return nil, errorf(d.file, field, "name of %d bytes, want at most %d", n, maxNameLen)
	}
	nb, err := d.take(field+" name", n)
	if err != nil {
		return nil, err
	}
	t := &Tensor{Name: string(nb)}
	field = "tensor " + t.Name
	nd, err := d.u32(field + " n_dims")
	if err != nil {
		return nil, err
	}
	if nd == 0 || nd > MaxDims {
		return nil, errorf(d.file, field, "n_dims = %d, want 1 to %d", nd, MaxDims)
	}
	t.Dims = make([]uint64, nd)
	for j := range t.Dims {
		if t.Dims[j], err = d.u64(fmt.Sprintf("%s dim %d", field, j)); err != nil {
			return nil, err
		}
		if t.Dims[j] > math.MaxInt64 {
			return nil, errorf(d.file, field, "dim %d = %d is negative as int64", j, t.Dims[j])
		}
	}
	ty, err := d.u32(field + " type")
	if err != nil {
		return nil, err
	}
	t.Type = TensorType(ty)
	if _, _, ok := t.Type.BlockSize(); !ok {
		return nil, errorf(d.file, field, "unknown tensor type %d", ty)
	}
	if t.Offset, err = d.u64(field + " offset"); err != nil {
		return nil, err
	}
	return t, nil
}

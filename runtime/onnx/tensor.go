package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Tensor is a row-major float32 tensor: the type of a model's inputs and outputs.
type Tensor struct {
	Shape []int
	Data  []float32
}

// value is a tensor inside a run: float32 data (dtype dtFloat) or integer data held as int64
// (dtInt64, dtInt32, dtBool, dtInt8, dtUint8), so that shape arithmetic (Shape, Slice, Concat,
// Cast, Reshape) is exact. Values are never modified after they are made: ops that only change
// the shape (Reshape, Squeeze, Unsqueeze, Flatten, Identity) share the data.
type value struct {
	shape []int
	f     []float32
	i     []int64
	dtype int64
}

func (v *value) isFloat() bool { return v.dtype == dtFloat }

func (v *value) size() int { return numel(v.shape) }

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func newFloat(shape []int) *value {
	return &value{shape: shape, f: make([]float32, numel(shape)), dtype: dtFloat}
}

func newInt(shape []int, dtype int64) *value {
	return &value{shape: shape, i: make([]int64, numel(shape)), dtype: dtype}
}

func dtypeName(t int64) string {
	switch t {
	case dtFloat:
		return "float"
	case dtUint8:
		return "uint8"
	case dtInt8:
		return "int8"
	case dtInt32:
		return "int32"
	case dtInt64:
		return "int64"
	case dtBool:
		return "bool"
	case dtDouble:
		return "double"
	}
	return fmt.Sprintf("data type %d", t)
}

// maxElems caps the element count of any one tensor decoded from a file, independently of the
// data that is present (a guard for the product of dims overflowing).
const maxElems = 1 << 31

// toValue converts a decoded TensorProto. Every element must be present in the file (raw_data
// or the typed field), so the allocation is bounded by the file's size.
func (t *tensorProto) toValue() (*value, error) {
	if t.external {
		return nil, fmt.Errorf("tensor %q: external data is not supported", t.name)
	}
	shape := make([]int, len(t.dims))
	n := 1
	for i, d := range t.dims {
		if d < 0 || d > maxElems {
			return nil, fmt.Errorf("tensor %q: dimension %d is %d, expected 0..%d", t.name, i, d, maxElems)
		}
		shape[i] = int(d)
		n *= int(d)
		if n > maxElems {
			return nil, fmt.Errorf("tensor %q: %v has more than %d elements", t.name, t.dims, maxElems)
		}
	}
	size := 0
	switch t.dataType {
	case dtFloat, dtInt32:
		size = 4
	case dtInt64, dtDouble:
		size = 8
	case dtBool, dtInt8, dtUint8:
		size = 1
	default:
		return nil, fmt.Errorf("tensor %q: %s is not supported (float, double, int64, int32, int8, uint8, bool are)", t.name, dtypeName(t.dataType))
	}
	if t.hasRaw {
		if len(t.raw) != n*size {
			return nil, fmt.Errorf("tensor %q: raw_data has %d bytes, expected %d for %s %v", t.name, len(t.raw), n*size, dtypeName(t.dataType), t.dims)
		}
	}
	count := func(got int) error {
		if got != n {
			return fmt.Errorf("tensor %q: %d values for %s %v, expected %d", t.name, got, dtypeName(t.dataType), t.dims, n)
		}
		return nil
	}
	switch t.dataType {
	case dtFloat, dtDouble:
		v := &value{shape: shape, dtype: dtFloat}
		switch {
		case t.hasRaw && t.dataType == dtFloat:
			v.f = make([]float32, n)
			for i := range v.f {
				v.f[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.raw[4*i:]))
			}
		case t.hasRaw:
			v.f = make([]float32, n)
			for i := range v.f {
				v.f[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(t.raw[8*i:])))
			}
		case t.dataType == dtFloat:
			if err := count(len(t.floatData)); err != nil {
				return nil, err
			}
			v.f = t.floatData
		default:
			if err := count(len(t.dblData)); err != nil {
				return nil, err
			}
			v.f = make([]float32, n)
			for i, x := range t.dblData {
				v.f[i] = float32(x)
			}
		}
		return v, nil
	}
	v := &value{shape: shape, dtype: t.dataType, i: make([]int64, 0, n)}
	if t.hasRaw {
		for i := 0; i < n; i++ {
			switch t.dataType {
			case dtInt64:
				v.i = append(v.i, int64(binary.LittleEndian.Uint64(t.raw[8*i:])))
			case dtInt32:
				v.i = append(v.i, int64(int32(binary.LittleEndian.Uint32(t.raw[4*i:]))))
			case dtInt8:
				v.i = append(v.i, int64(int8(t.raw[i])))
			case dtUint8:
				v.i = append(v.i, int64(t.raw[i]))
			case dtBool:
				v.i = append(v.i, int64(min(t.raw[i], 1)))
			}
		}
		return v, nil
	}
	src := t.int32Data // int32, int8, uint8 and bool live in int32_data
	if t.dataType == dtInt64 {
		src = t.int64Data
	}
	if err := count(len(src)); err != nil {
		return nil, err
	}
	for _, x := range src {
		switch t.dataType {
		case dtInt32:
			x = int64(int32(x))
		case dtInt8:
			x = int64(int8(x))
		case dtUint8:
			x = int64(uint8(x))
		case dtBool:
			if x != 0 {
				x = 1
			}
		}
		v.i = append(v.i, x)
	}
	return v, nil
}

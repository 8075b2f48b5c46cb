package safetensors

import "fmt"

// DType is a safetensors element type, spelled as in the file header ("F32", "BF16", ...).
type DType string

// The dtypes of the current safetensors enum, in the enum's order (increasing alignment). The
// writer sorts tensors by decreasing position in this list, as the official writer does.
const (
	BOOL        DType = "BOOL"
	F4          DType = "F4" // 4-bit float (E2M1), two per byte
	F6_E2M3     DType = "F6_E2M3"
	F6_E3M2     DType = "F6_E3M2"
	U8          DType = "U8"
	I8          DType = "I8"
	F8_E5M2     DType = "F8_E5M2"
	F8_E4M3     DType = "F8_E4M3"
	F8_E8M0     DType = "F8_E8M0"
	F8_E4M3FNUZ DType = "F8_E4M3FNUZ"
	F8_E5M2FNUZ DType = "F8_E5M2FNUZ"
	I16         DType = "I16"
	U16         DType = "U16"
	F16         DType = "F16"
	BF16        DType = "BF16"
	I32         DType = "I32"
	U32         DType = "U32"
	F32         DType = "F32"
	C64         DType = "C64" // complex64: two F32
	F64         DType = "F64"
	I64         DType = "I64"
	U64         DType = "U64"
)

// dtypeOrder lists every known dtype with its width in bits, in the official enum order.
var dtypeOrder = []struct {
	d    DType
	bits int
}{
	{BOOL, 8}, {F4, 4}, {F6_E2M3, 6}, {F6_E3M2, 6}, {U8, 8}, {I8, 8},
	{F8_E5M2, 8}, {F8_E4M3, 8}, {F8_E8M0, 8}, {F8_E4M3FNUZ, 8}, {F8_E5M2FNUZ, 8},
	{I16, 16}, {U16, 16}, {F16, 16}, {BF16, 16},
	{I32, 32}, {U32, 32}, {F32, 32}, {C64, 64}, {F64, 64}, {I64, 64}, {U64, 64},
}

var dtypeRank = func() map[DType]int {
	m := make(map[DType]int, len(dtypeOrder))
	for i, e := range dtypeOrder {
		m[e.d] = i
	}
	return m
}()

// DTypes returns every dtype this package knows, in the official enum order.
func DTypes() []DType {
	out := make([]DType, len(dtypeOrder))
	for i, e := range dtypeOrder {
		out[i] = e.d
	}
	return out
}

// Valid reports whether d is a dtype of the current safetensors enum.
func (d DType) Valid() bool { _, ok := dtypeRank[d]; return ok }

// Bits returns the width of one element in bits (4 for F4, 6 for the F6 types), or 0 for an
// unknown dtype.
func (d DType) Bits() int {
	if r, ok := dtypeRank[d]; ok {
		return dtypeOrder[r].bits
	}
	return 0
}

// Size returns the size of one element in bytes. ok is false for unknown dtypes and for the
// sub-byte F4/F6 types, whose size is only defined for a whole tensor (see ByteLen).
func (d DType) Size() (bytes int, ok bool) {
	b := d.Bits()
	if b == 0 || b%8 != 0 {
		return 0, false
	}
	return b / 8, true
}

// ByteLen returns the number of bytes numel elements of d occupy. Sub-byte dtypes must fill
// whole bytes (the official library rejects a tensor whose bit count is not a multiple of 8).
func (d DType) ByteLen(numel int64) (int64, error) {
	b := int64(d.Bits())
	if b == 0 {
		return 0, fmt.Errorf("unknown dtype %q", string(d))
	}
	if numel < 0 {
		return 0, fmt.Errorf("negative element count %d", numel)
	}
	if numel > (1<<62)/b {
		return 0, fmt.Errorf("%d elements of %s overflow", numel, d)
	}
	bits := numel * b
	if bits%8 != 0 {
		return 0, fmt.Errorf("%d elements of %s (%d bits each) do not fill whole bytes", numel, d, b)
	}
	return bits / 8, nil
}

// Numel multiplies out a shape, rejecting negative dimensions and overflow (limit 2^62).
func Numel(shape []int) (int64, error) {
	n := int64(1)
	for i, s := range shape {
		if s < 0 {
			return 0, fmt.Errorf("dimension %d is negative (%d)", i, s)
		}
		if s != 0 && n > (1<<62)/int64(s) {
			return 0, fmt.Errorf("shape %v overflows", shape)
		}
		n *= int64(s)
	}
	return n, nil
}

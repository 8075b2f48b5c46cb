package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// rawFile builds a file from a literal header and data, without any validation.
func rawFile(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func writeTemp(t testing.TB, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func f32le(vals ...float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, vals)
	return b.Bytes()
}

// The byte-exact expectations of the official implementation's own tests (safetensors
// tensor.rs: test_serialization, test_empty, test_serialization_forced_alignement).
func TestWriteMatchesOfficialBytes(t *testing.T) {
	data := f32le(0, 1, 2, 3, 4, 5)
	cases := []struct {
		name     string
		tensors  []Tensor
		metadata map[string]string
		want     []byte
	}{
		{"serialization", []Tensor{{"attn.0", F32, []int{1, 2, 3}, data}}, nil,
			append(rawFile(`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`, nil), data...)},
		{"empty", nil, nil, []byte{8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32}},
		{"empty with metadata", nil, map[string]string{"framework": "pt"},
			rawFile(`{"__metadata__":{"framework":"pt"}}     `, nil)},
		{"forced alignment", []Tensor{{"attn0", F32, []int{1, 1, 2, 3}, data}}, nil,
			append(rawFile(`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       `, nil), data...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.safetensors")
			if err := Write(p, c.tensors, c.metadata); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if !bytes.Equal(got, c.want) {
				t.Fatalf("bytes differ:\n got %q\nwant %q", got, c.want)
			}
			if _, err := Open(p); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// randomTensor makes a tensor of d with random bytes; sub-byte dtypes get element counts that
// fill whole bytes.
func randomTensor(r *rand.Rand, name string, d DType) Tensor {
	shape := []int{1 + r.IntN(4), 8 * (1 + r.IntN(3))} // multiple of 8 elements: whole bytes for F4/F6
	if r.IntN(5) == 0 {
		shape = []int{} // rank 0 (scalar) for byte-sized types
		if d.Bits()%8 != 0 {
			shape = []int{0}
		}
	}
	n, _ := Numel(shape)
	nb, err := d.ByteLen(n)
	if err != nil {
		panic(err)
	}
	data := make([]byte, nb)
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	return Tensor{Name: name, DType: d, Shape: shape, Data: data}
}

func TestRoundTripEveryDType(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var tensors []Tensor
	for i, d := range DTypes() {
		for k := 0; k < 2; k++ {
			tensors = append(tensors, randomTensor(r, fmt.Sprintf("layer.%d.%s.%d", i, d, k), d))
		}
	}
	tensors = append(tensors, Tensor{Name: "empty", DType: F32, Shape: []int{0, 3}, Data: nil})
	r.Shuffle(len(tensors), func(i, j int) { tensors[i], tensors[j] = tensors[j], tensors[i] })
	p := filepath.Join(t.TempDir(), "all.safetensors")
	md := map[string]string{"format": "pt", "note": "ünïcode \"quoted\""}
	if err := Write(p, tensors, md); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Tensors()) != len(tensors) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors()), len(tensors))
	}
	for k, v := range md {
		if f.Metadata()[k] != v {
			t.Errorf("metadata %q = %q, want %q", k, f.Metadata()[k], v)
		}
	}
	for _, want := range tensors {
		info, data, ok := f.Tensor(want.Name)
		if !ok {
			t.Fatalf("%s missing", want.Name)
		}
		if info.DType != want.DType || fmt.Sprint(info.Shape) != fmt.Sprint(want.Shape) || !bytes.Equal(data, want.Data) {
			t.Errorf("%s: got %s %v (%d bytes), want %s %v (%d bytes)", want.Name, info.DType, info.Shape, len(data), want.DType, want.Shape, len(want.Data))
		}
		if sz, ok := info.DType.Size(); ok && len(data) > 0 && uintptr(unsafe.Pointer(&data[0]))%uintptr(sz) != 0 {
			t.Errorf("%s: data not aligned to %d bytes", want.Name, sz)
		}
	}
	// The official order: decreasing alignment, then name.
	ts := f.Tensors()
	for i := 1; i < len(ts); i++ {
		a, b := ts[i-1], ts[i]
		if dtypeRank[a.DType] < dtypeRank[b.DType] || (a.DType == b.DType && a.Name > b.Name) {
			t.Fatalf("order: %s (%s) before %s (%s)", a.Name, a.DType, b.Name, b.DType)
		}
	}
	h, err := ReadHeader(p)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(h.Tensors) != fmt.Sprint(ts) {
		t.Fatal("ReadHeader and Open disagree")
	}
}

func TestDTypeSizes(t *testing.T) {
	want := map[DType]int{BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
		I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8, C64: 8}
	for d, n := range want {
		if got, ok := d.Size(); !ok || got != n {
			t.Errorf("%s.Size() = %d, %v; want %d", d, got, ok, n)
		}
	}
	for _, d := range []DType{F4, F6_E2M3, F6_E3M2, "F12", ""} {
		if _, ok := d.Size(); ok {
			t.Errorf("%s.Size() ok, want not ok", d)
		}
	}
	if n, err := F4.ByteLen(6); err != nil || n != 3 {
		t.Errorf("F4 x6 = %d, %v; want 3", n, err)
	}
	if n, err := F6_E2M3.ByteLen(4); err != nil || n != 3 {
		t.Errorf("F6 x4 = %d, %v; want 3", n, err)
	}
	if _, err := F4.ByteLen(3); err == nil {
		t.Error("3 F4 elements (12 bits) accepted")
	}
}

// Old writers did not pad the header, and readers must tolerate any tensor order in the JSON.
func TestReadUnpaddedAndUnordered(t *testing.T) {
	hdr := `{"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},"a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]}}`
	p := writeTemp(t, "old.safetensors", rawFile(hdr, []byte{1, 0, 2, 0, 7, 8}))
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Tensors()[0].Name != "a" || f.Tensors()[1].Name != "b" {
		t.Fatalf("not in offset order: %v", f.Tensors())
	}
	if _, d, _ := f.Tensor("b"); !bytes.Equal(d, []byte{7, 8}) {
		t.Fatalf("b = %v", d)
	}
}

func TestBadFiles(t *testing.T) {
	ok := `{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	eight := make([]byte, 8)
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 100_000_001)
	longer := make([]byte, 8+10)
	binary.LittleEndian.PutUint64(longer, 50)
	cases := []struct {
		name    string
		content []byte
		want    string // substring of the error
		tensor  string // tensor the error must name, if any
	}{
		{"empty file", nil, "too small", ""},
		{"truncated data", rawFile(ok, eight[:5]), "truncated", ""},
		{"truncated length", []byte{1, 2, 3}, "too small", ""},
		{"header longer than file", longer, "longer than the file", ""},
		{"header over 100MB", append(huge, '{'), "over the limit", ""},
		{"trailing bytes", rawFile(ok, make([]byte, 12)), "unexpected bytes", ""},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "overlap", "b"},
		{"gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)), "gap", "b"},
		{"not from zero", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "gap", "a"},
		{"out of range", rawFile(`{"a":{"dtype":"F32","shape":[1000],"data_offsets":[0,4000]}}`, eight), "truncated", ""},
		{"end before begin", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}`, eight), "out of range", "a"},
		{"negative offset", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, eight), "out of range", "a"},
		{"dtype shape mismatch", rawFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}`, eight), "needs 4", "a"},
		{"duplicate", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "duplicate", "a"},
		{"bad dtype", rawFile(`{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,8]}}`, eight), "unknown dtype", "a"},
		{"negative dim", rawFile(`{"a":{"dtype":"U8","shape":[-8],"data_offsets":[0,8]}}`, eight), "out of range", "a"},
		{"numel overflow", rawFile(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight), "overflow", "a"},
		{"sub-byte remainder", rawFile(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, eight[:2]), "whole bytes", "a"},
		{"not json", rawFile(`{"a":`, nil), "not valid JSON", ""},
		{"not an object", rawFile(`[1,2]`, nil), "not a JSON object", ""},
		{"missing dtype", rawFile(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, eight[:4]), "missing field \"dtype\"", "a"},
		{"three offsets", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, eight[:1]), "[begin, end]", "a"},
		{"metadata not strings", rawFile(`{"__metadata__":{"x":1}}`, nil), "strings", "__metadata__"},
		{"float shape", rawFile(`{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}`, eight[:1]), "want", "a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeTemp(t, "bad.safetensors", c.content)
			for _, open := range []func(string) error{
				func(p string) error { f, err := Open(p); f.Close(); return err },
				func(p string) error { _, err := ReadHeader(p); return err },
			} {
				err := open(p)
				if err == nil {
					t.Fatal("accepted")
				}
				var se *Error
				if !errors.As(err, &se) || !se.BadInput() {
					t.Fatalf("error %v (%T) is not a *safetensors.Error", err, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, p) || !strings.Contains(msg, c.want) {
					t.Fatalf("error %q should name the file and say %q", msg, c.want)
				}
				if c.tensor != "" && se.Tensor != c.tensor {
					t.Fatalf("error %q names tensor %q, want %q", msg, se.Tensor, c.tensor)
				}
			}
		})
	}
}

func TestWriteRejects(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.safetensors")
	cases := map[string][]Tensor{
		"size mismatch": {{"a", F32, []int{3}, make([]byte, 8)}},
		"duplicate":     {{"a", U8, []int{1}, []byte{1}}, {"a", U8, []int{1}, []byte{2}}},
		"bad dtype":     {{"a", "F3", []int{1}, []byte{1}}},
		"negative dim":  {{"a", U8, []int{-1}, nil}},
		"reserved name": {{"__metadata__", U8, []int{1}, []byte{1}}},
	}
	for name, ts := range cases {
		if err := Write(p, ts, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a rejected write left a file behind")
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 0 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestWriteFromChecksFill(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.safetensors")
	err := WriteFrom(p, []Source{{Name: "a", DType: F32, Shape: []int{2}, Fill: func(w io.Writer) error {
		_, err := w.Write([]byte{1, 2, 3})
		return err
	}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "wrote 3 bytes, want 8") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("partial file left at the destination")
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(rawFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(rawFile(`{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]},"b":{"dtype":"F4","shape":[4],"data_offsets":[4,6]}}`, make([]byte, 6)))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)))
	f.Add(rawFile(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(rawFile(`{}`, nil))
	f.Add([]byte{255, 255, 255, 255, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader("fuzz", b, int64(len(b)))
		if err != nil {
			return
		}
		// Whatever was accepted must be slicable and consistent.
		var end int64
		for _, ti := range h.Tensors {
			if ti.Begin != end || ti.End < ti.Begin {
				t.Fatalf("accepted non-contiguous tensor %+v", ti)
			}
			n, err := ti.DType.ByteLen(ti.Numel())
			if err != nil || n != ti.Bytes() {
				t.Fatalf("accepted size mismatch %+v", ti)
			}
			_ = b[h.DataOffset+ti.Begin : h.DataOffset+ti.End]
			end = ti.End
		}
		if h.DataOffset+h.DataSize != int64(len(b)) {
			t.Fatalf("data size %d + offset %d != %d", h.DataSize, h.DataOffset, len(b))
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var ts []Tensor
	for i := 0; i < 300; i++ {
		ts = append(ts, randomTensor(r, fmt.Sprintf("model.layers.%d.weight", i), BF16))
	}
	p := filepath.Join(b.TempDir(), "b.safetensors")
	if err := Write(p, ts, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/kernels/half"
)

// The spec values this package must agree with (gguf.h, ggml.h, ggml-common.h): type ids and
// block sizes, checked against literals rather than against the package's own tables.
func TestSpecConstants(t *testing.T) {
	if Magic != binary.LittleEndian.Uint32([]byte("GGUF")) {
		t.Fatalf("magic 0x%x is not \"GGUF\" little-endian", Magic)
	}
	ids := map[TensorType]uint32{F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 8, BF16: 30}
	for ty, id := range ids {
		if uint32(ty) != id {
			t.Errorf("%s id %d, want %d", ty, uint32(ty), id)
		}
	}
	sizes := map[TensorType][2]int{F32: {1, 4}, F16: {1, 2}, BF16: {1, 2}, Q4_0: {32, 18}, Q4_1: {32, 20}, Q8_0: {32, 34}, Q4_K: {256, 144}, Q6_K: {256, 210}}
	for ty, want := range sizes {
		e, b, ok := ty.BlockSize()
		if !ok || e != want[0] || b != want[1] {
			t.Errorf("%s block %d elems %d bytes, want %v", ty, e, b, want)
		}
	}
	if TypeString != 8 || TypeArray != 9 || TypeUint64 != 10 || TypeFloat64 != 12 || TypeBool != 7 || TypeFloat32 != 6 {
		t.Error("value type ids differ from gguf.h")
	}
	if TokenNormal != 1 || TokenControl != 3 || TokenByte != 6 || TokenUnused != 5 {
		t.Error("token type ids differ from llama.h")
	}
}

// A whole GGUF file computed by hand, byte by byte: one uint32 KV, one F32 tensor of 2 values
// and one Q4_0 tensor of one block.
func TestHandComputedFile(t *testing.T) {
	var codes [32]uint8
	for j := range codes {
		codes[j] = uint8(j % 16)
	}
	q4 := make([]byte, 18)
	PutQ4_0(q4, 0x3c00, &codes) // d = 1.0
	f := &File{KVs: []KV{{"a", uint32(7)}}, Tensors: []*Tensor{
		{Name: "t", Type: F32, Dims: []uint64{2}, Data: F32Bytes([]float32{1, 2})},
		{Name: "q", Type: Q4_0, Dims: []uint64{32}, Data: q4},
	}}
	var want []byte
	le := binary.LittleEndian
	want = append(want, 'G', 'G', 'U', 'F')
	want = le.AppendUint32(want, 3)
	want = le.AppendUint64(want, 2) // tensors
	want = le.AppendUint64(want, 1) // kvs
	want = le.AppendUint64(want, 1)
	want = append(want, 'a')
	want = le.AppendUint32(want, 4) // uint32
	want = le.AppendUint32(want, 7)
	want = le.AppendUint64(want, 1)
	want = append(want, 't')
	want = le.AppendUint32(want, 1)
	want = le.AppendUint64(want, 2)
	want = le.AppendUint32(want, 0)
	want = le.AppendUint64(want, 0)
	want = le.AppendUint64(want, 1)
	want = append(want, 'q')
	want = le.AppendUint32(want, 1)
	want = le.AppendUint64(want, 32)
	want = le.AppendUint32(want, 2)
	want = le.AppendUint64(want, 32) // 8 bytes of F32 data padded to 32
	if len(want) != 107 {
		t.Fatalf("hand layout is %d bytes, want 107", len(want))
	}
	want = append(want, make([]byte, 128-107)...) // pad to 128
	want = append(want, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40)
	want = append(want, make([]byte, 24)...)
	want = append(want, 0x00, 0x3c)
	for j := 0; j < 16; j++ { // low nibble element j, high nibble element j+16 (= j)
		want = append(want, byte(j)|byte(j)<<4)
	}
	want = append(want, make([]byte, 192-178)...)
	var buf bytes.Buffer
	if err := Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("written\n%x\nwant\n%x", buf.Bytes(), want)
	}
	g, err := Parse("hand.gguf", want)
	if err != nil {
		t.Fatal(err)
	}
	if g.Get("a") != uint32(7) || len(g.Tensors) != 2 || g.Tensors[1].Offset != 32 {
		t.Fatalf("parsed %+v", g)
	}
	v, err := Dequantize(g.Tensor("q"))
	if err != nil {
		t.Fatal(err)
	}
	for j, x := range v {
		if x != float32(j%16-8) {
			t.Fatalf("q[%d] = %v, want %d", j, x, j%16-8)
		}
	}
}

func TestQ4_1Layout(t *testing.T) {
	var codes [32]uint8
	for j := range codes {
		codes[j] = uint8(15 - j/2)
	}
	b := make([]byte, Q4_1Bytes)
	d, m := half.F32ToF16(0.5), half.F32ToF16(-3)
	PutQ4_1(b, d, m, &codes)
	if le := binary.LittleEndian; le.Uint16(b) != d || le.Uint16(b[2:]) != m || b[4] != codes[0]|codes[16]<<4 || b[19] != codes[15]|codes[31]<<4 {
		t.Fatalf("block %x", b)
	}
	v, err := Dequantize(&Tensor{Name: "x", Type: Q4_1, Dims: []uint64{32}, Data: b})
	if err != nil {
		t.Fatal(err)
	}
	for j := range v {
		if want := float64(codes[j])*0.5 - 3; float64(v[j]) != want {
			t.Fatalf("y[%d] = %v, want %v", j, v[j], want)
		}
	}
}

// QuantizeQ8_0 against a float64 naive reference of the llama.cpp rule on random rows.
func TestQ8_0AgainstReference(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	x := make([]float32, 32*40)
	for i := range x {
		x[i] = float32(r.NormFloat64() * math.Pow(10, float64(i/320-2)))
	}
	copy(x[:32], make([]float32, 32)) // an all-zero block
	b, err := QuantizeQ8_0(x)
	if err != nil {
		t.Fatal(err)
	}
	y, err := Dequantize(&Tensor{Name: "x", Type: Q8_0, Dims: []uint64{uint64(len(x))}, Data: b})
	if err != nil {
		t.Fatal(err)
	}
	for blk := 0; blk < len(x)/32; blk++ {
		amax := 0.0
		for _, v := range x[blk*32 : blk*32+32] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		d := float64(float32(amax / 127))
		dh := float64(half.F16ToF32(half.F32ToF16(float32(d))))
		for j := blk * 32; j < blk*32+32; j++ {
			q := 0.0
			if d != 0 {
				q = math.RoundToEven(float64(x[j]) * float64(float32(1/float32(d))))
			}
			if want := q * dh; math.Abs(float64(y[j])-want) > 1e-12*math.Abs(want) {
				t.Fatalf("block %d elem %d: %v, want %v", blk, j, y[j], want)
			}
			if math.Abs(float64(y[j])-float64(x[j])) > dh/2+math.Abs(dh-d)*127+1e-30 {
				t.Fatalf("elem %d: error %v beyond half a step %v", j, y[j]-x[j], dh/2)
			}
		}
	}
	if _, err := QuantizeQ8_0(x[:31]); err == nil {
		t.Fatal("31 values accepted")
	}
}

// Every value type round-trips through Write and Parse, and WriteFile leaves no temporary.
func TestRoundTripAllTypes(t *testing.T) {
	kvs := []KV{
		{"u8", uint8(200)}, {"i8", int8(-5)}, {"u16", uint16(60000)}, {"i16", int16(-300)},
		{"u32", uint32(1 << 31)}, {"i32", int32(-7)}, {"f32", float32(1.5)}, {"b", true},
		{"s", "héllo"}, {"u64", uint64(1 << 40)}, {"i64", int64(-1 << 40)}, {"f64", 2.25},
		{"au8", []uint8{1, 2}}, {"ai8", []int8{-1}}, {"au16", []uint16{3}}, {"ai16", []int16{-4}},
		{"au32", []uint32{5, 6}}, {"ai32", []int32{-7}}, {"af32", []float32{0.5}}, {"ab", []bool{true, false}},
		{"as", []string{"a", "", "ccc"}}, {"au64", []uint64{9}}, {"ai64", []int64{-9}}, {"af64", []float64{-0.25}},
		{"general.alignment", uint32(64)},
	}
	f := &File{KVs: kvs, Tensors: []*Tensor{
		{Name: "a", Type: F16, Dims: []uint64{3, 2}, Data: F16Bytes([]float32{1, 2, 3, 4, 5, 6})},
		{Name: "b", Type: Q8_0, Dims: []uint64{32, 1, 1, 2}, Data: make([]byte, 68)},
	}}
	path := filepath.Join(t.TempDir(), "x.gguf")
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	g, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.KVs, kvs) {
		t.Fatalf("KVs\n%v\nwant\n%v", g.KVs, kvs)
	}
	if g.Alignment != 64 || g.Tensors[1].Offset != 64 || !reflect.DeepEqual(g.Tensors[1].Dims, []uint64{32, 1, 1, 2}) {
		t.Fatalf("alignment %d, offsets %d %d", g.Alignment, g.Tensors[0].Offset, g.Tensors[1].Offset)
	}
	v, _ := Dequantize(g.Tensor("a"))
	if !reflect.DeepEqual(v, []float32{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("F16 tensor %v", v)
	}
	entries, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*"))
	if len(entries) != 1 {
		t.Fatalf("files left: %v", entries)
	}
}

func TestWriterRefusesBadFiles(t *testing.T) {
	for name, f := range map[string]*File{
		"dup key":     {KVs: []KV{{"a", uint32(1)}, {"a", uint32(2)}}},
		"bad value":   {KVs: []KV{{"a", 3}}},
		"bad align":   {KVs: []KV{{"general.alignment", uint32(24)}}},
		"two aligns":  {KVs: []KV{{"general.alignment", uint32(64)}}, Alignment: 32},
		"align type":  {KVs: []KV{{"general.alignment", uint64(64)}}},
		"dup tensor":  {Tensors: []*Tensor{{Name: "t", Type: F32, Dims: []uint64{1}, Data: make([]byte, 4)}, {Name: "t", Type: F32, Dims: []uint64{1}, Data: make([]byte, 4)}}},
		"short data":  {Tensors: []*Tensor{{Name: "t", Type: F32, Dims: []uint64{2}, Data: make([]byte, 4)}}},
		"half block":  {Tensors: []*Tensor{{Name: "t", Type: Q4_0, Dims: []uint64{16}, Data: make([]byte, 9)}}},
		"no dims":     {Tensors: []*Tensor{{Name: "t", Type: F32}}},
		"unknown typ": {Tensors: []*Tensor{{Name: "t", Type: 99, Dims: []uint64{1}, Data: make([]byte, 4)}}},
	} {
		if err := Write(&bytes.Buffer{}, f); err == nil {
			t.Errorf("%s: written", name)
		}
	}
}

func sample(t testing.TB) []byte {
	var buf bytes.Buffer
	f := &File{KVs: []KV{{"general.architecture", "llama"}, {"tokens", []string{"a", "b"}}, {"x", float32(1)}},
		Tensors: []*Tensor{
			{Name: "w", Type: Q4_0, Dims: []uint64{32, 2}, Data: make([]byte, 36)},
			{Name: "n", Type: F32, Dims: []uint64{3}, Data: F32Bytes([]float32{1, 2, 3})},
		}}
	if err := Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Every truncation of a valid file is an error naming the file, never a panic; so are the
// classic corruptions.
func TestReaderRejectsBadFiles(t *testing.T) {
	good := sample(t)
	if _, err := Parse("good.gguf", good); err != nil {
		t.Fatal(err)
	}
	// The last tensor ends 12 bytes into its 32-byte padded slot; cuts inside the padding are a
	// valid file (llama.cpp also accepts a file without the final padding).
	lastEnd := len(good) - 32 + 12
	for n := 0; n < lastEnd; n++ {
		_, err := Parse("cut.gguf", good[:n])
		if err == nil || !strings.HasPrefix(err.Error(), "cut.gguf: ") {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
	mutate := func(off int, v uint64, size int) []byte {
		b := append([]byte(nil), good...)
		if size == 4 {
			binary.LittleEndian.PutUint32(b[off:], uint32(v))
		} else {
			binary.LittleEndian.PutUint64(b[off:], v)
		}
		return b
	}
	// Offsets into sample's header: tensor count at 8, kv count at 16, first key length at 24.
	infoStart := bytes.Index(good, []byte("\x01\x00\x00\x00\x00\x00\x00\x00w")) // name length 1, "w"
	wOffset := infoStart + 8 + 1 + 4 + 16 + 4
	nOffset := wOffset + 8 + 8 + 1 + 4 + 8 + 4
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"magic", mutate(0, 0x46554746, 4), "magic"},
		{"version", mutate(4, 4, 4), "version"},
		{"tensor count", mutate(8, 1<<60, 8), "tensor_count"},
		{"kv count", mutate(16, 1<<60, 8), "kv_count"},
		{"key length", mutate(24, 1<<62, 8), "key of kv 0"},
		{"misaligned", mutate(nOffset, 40, 8), "not a multiple of the alignment"},
		{"overlap", mutate(nOffset, 0, 8), "overlaps"},
		{"past end", mutate(nOffset, 1<<20, 8), "runs past"},
		{"huge dim", mutate(infoStart+8+1+4+8, 1<<40, 8), "runs past"},
		{"n_dims", mutate(infoStart+8+1, 5, 4), "n_dims"},
		{"type", mutate(infoStart+8+1+4+16, 77, 4), "unknown tensor type"},
	}
	for _, c := range cases {
		_, err := Parse("bad.gguf", c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "bad.gguf: ") {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	good := sample(f)
	f.Add(good)
	f.Add(good[:40])
	var hand bytes.Buffer
	Write(&hand, &File{KVs: []KV{{"general.alignment", uint32(8)}, {"a", []uint64{1, 2}}}})
	f.Add(hand.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Parse("fuzz.gguf", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.gguf") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		// What parses must re-encode and parse to the same metadata.
		var buf bytes.Buffer
		if err := Write(&buf, g); err != nil {
			return // e.g. a tensor type the reader sizes but the writer is strict about
		}
		h, err := Parse("again.gguf", buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded file does not parse: %v", err)
		}
		if len(h.KVs) != len(g.KVs) || len(h.Tensors) != len(g.Tensors) {
			t.Fatal("re-encoded file differs")
		}
		for _, tn := range g.Tensors {
			if _, _, ok := tn.Type.BlockSize(); ok {
				Dequantize(tn)
			}
		}
	})
}

// ReadInfo gives the same metadata and sizes as ReadFile without the data, and checks the
// tensors against the file's size.
func TestReadInfo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.gguf")
	good := sample(t)
	os.WriteFile(path, good, 0o644)
	a, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.KVs, b.KVs) || len(b.Tensors) != 2 || b.Tensors[0].Data != nil || b.Tensors[1].Bytes() != 12 || b.Tensors[1].Offset != a.Tensors[1].Offset {
		t.Fatalf("ReadInfo %+v", b.Tensors)
	}
	cut := filepath.Join(dir, "cut.gguf")
	os.WriteFile(cut, good[:len(good)-40], 0o644)
	if _, err := ReadInfo(cut); err == nil || !strings.Contains(err.Error(), "runs past") {
		t.Fatalf("truncated data: %v", err)
	}
}

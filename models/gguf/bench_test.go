package gguf

import (
	"bytes"
	"io"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/quant"
)

// randomPacked is a 4-bit group-32 GPTQ module of out×in with random codes, scales and zeros.
func randomPacked(out, in int, sym bool) *quant.Packed {
	r := rand.New(rand.NewSource(1))
	q := &quant.Quantized{Rows: out, Cols: in, Grid: quant.Grid{Bits: 4, Sym: sym, ScaleFP16: true}, GroupSize: 32,
		Codes: make([]uint8, out*in), Scales: make([]float64, in/32*out), Zeros: make([]int, in/32*out), GIdx: make([]int32, in)}
	for i := range q.Codes {
		q.Codes[i] = uint8(r.Intn(16))
	}
	for i := range q.Scales {
		q.Scales[i] = float64(half.F16ToF32(half.F32ToF16(float32(r.Float64() * 0.01))))
		q.Zeros[i] = 8
		if !sym {
			q.Zeros[i] = r.Intn(16)
		}
	}
	for i := range q.GIdx {
		q.GIdx[i] = int32(i / 32)
	}
	p, err := quant.Pack(q, !sym)
	if err != nil {
		panic(err)
	}
	return p
}

// TestQ4FromPackedReference checks the block conversion against a float64 naive reference of
// the GPTQ formula s·(q − z), on random modules: Q4_0 exactly, Q4_1 within fp16(m)'s rounding.
func TestQ4FromPackedReference(t *testing.T) {
	for _, sym := range []bool{true, false} {
		p := randomPacked(48, 96, sym)
		typ := Q4_1
		if sym {
			typ = Q4_0
		}
		got, err := Dequantize(&Tensor{Name: "x", Type: typ, Dims: []uint64{96, 48}, Data: q4FromPacked(p, sym)})
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < 48; r++ {
			for i := 0; i < 96; i++ {
				s := float64(half.F16ToF32(p.Scales[(i/32)*48+r]))
				z := float64(p.Zero(i/32, r))
				want := s * (float64(p.Code(r, i)) - z)
				e := got[r*96+i] - float32(want)
				if sym && float64(got[r*96+i]) != want {
					t.Fatalf("sym (%d,%d) = %v, want %v", r, i, got[r*96+i], want)
				}
				if bound := s*z*0x1p-11 + s*16*0x1p-23; float64(max(e, -e)) > bound {
					t.Fatalf("asym (%d,%d) = %v, want %v (bound %g)", r, i, got[r*96+i], want, bound)
				}
			}
		}
	}
}

func BenchmarkQ4FromPacked4096(b *testing.B) {
	p := randomPacked(4096, 4096, true)
	b.SetBytes(int64(4096 * 4096 / 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q4FromPacked(p, true)
	}
}

func benchFile() *File {
	data := make([]byte, 64<<20)
	rand.New(rand.NewSource(1)).Read(data)
	f := &File{KVs: []KV{{"general.architecture", "llama"}}}
	for i := 0; i < 64; i++ {
		f.Tensors = append(f.Tensors, &Tensor{Name: "t" + string(rune('A'+i%26)) + string(rune('a'+i/26)), Type: F32, Dims: []uint64{1 << 18}, Data: data[i<<20 : (i+1)<<20]})
	}
	return f
}

func BenchmarkWrite64MB(b *testing.B) {
	f := benchFile()
	b.SetBytes(64 << 20)
	for i := 0; i < b.N; i++ {
		if err := Write(io.Discard, f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse64MB(b *testing.B) {
	var buf bytes.Buffer
	Write(&buf, benchFile())
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Parse("b.gguf", buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExportStories260K(b *testing.B) {
	b.StopTimer()
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	if err := convertStories(b, src); err != nil {
		b.Skip(err)
	}
	b.StartTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Export(src, filepath.Join(dir, "m.gguf"), ExportOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

package hfmodel

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// Splitting a packed module by output rows (the fused query_key_value into q, k, v) gives the
// rows of the whole module, for every packable width.
func TestSlicePacked(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, bits := range []int{2, 4, 8} {
		for _, sym := range []bool{false, true} {
			m, n := 40, 48
			w := make([]float64, m*n)
			for i := range w {
				w[i] = r.NormFloat64()
			}
			cfg := quant.DefaultConfig()
			cfg.Bits, cfg.Sym, cfg.GroupSize = bits, sym, 16
			q, err := quant.RTN(w, m, n, cfg)
			if err != nil {
				t.Fatal(err)
			}
			p, err := quant.Pack(q, !sym)
			if err != nil {
				t.Fatal(err)
			}
			full, err := p.Dequantize()
			if err != nil {
				t.Fatal(err)
			}
			lo := 0
			for _, part := range []int{16, 8, 16} {
				s := slicePacked(p, lo, lo+part)
				got, err := s.Dequantize()
				if err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if got[i] != full[lo*n+i] {
						t.Fatalf("bits %d sym %v rows [%d,%d): value %d = %g, want %g", bits, sym, lo, lo+part, i, got[i], full[lo*n+i])
					}
				}
				lo += part
			}
		}
	}
}

// The dynamic per-module bits table: matching rules override bits, bad patterns are errors.
func FuzzModuleQuant(f *testing.F) {
	f.Add(`^model\.vision\.`, "model.vision.conv", 8)
	f.Add(`(`, "x", 4)
	f.Fuzz(func(t *testing.T, pat, name string, bits int) {
		qc := &hf.QuantizationConfig{Bits: 4, GroupSize: 128, Raw: map[string]any{"dynamic": map[string]any{"+:" + pat: map[string]any{"bits": float64(bits)}}}}
		got, err := ModuleQuant(qc, name)
		if err != nil {
			return
		}
		if got.Bits != 4 && got.Bits != bits {
			t.Fatalf("bits %d", got.Bits)
		}
	})
}

// The binder's splits and N-d tensors on a dense checkpoint: each part holds its rows, a 4-D
// kernel binds as rows × the rest, a [1, 1, n] tensor as a vector, and a wrong stored shape is an
// error naming the tensor.
func TestBinderSplitsAndShapes(t *testing.T) {
	be := cpubackend.New(1)
	vals := make([]float32, 6*4)
	for i := range vals {
		vals[i] = float32(i)
	}
	ts := MemTensors{
		"qkv.weight":  {Name: "qkv.weight", DType: safetensors.F32, Shape: []int{6, 4}, Data: f32le(vals)},
		"qkv.bias":    {Name: "qkv.bias", DType: safetensors.F32, Shape: []int{6}, Data: f32le(vals[:6])},
		"conv.weight": {Name: "conv.weight", DType: safetensors.F32, Shape: []int{6, 1, 2, 2}, Data: f32le(vals)},
		"boi":         {Name: "boi", DType: safetensors.F32, Shape: []int{1, 1, 4}, Data: f32le(vals[:4])},
	}
	w := &Weights{Checkpoint: ts, Backend: be}
	parts := w.Split("qkv.weight", 4, 3, 1, 2)
	biases := w.SplitVector("qkv.bias", 3, 1, 2)
	conv := w.Matrix("conv.weight", 6, 4, 6, 1, 2, 2)
	boi := w.Vector("boi", 4, 1, 1, 4)
	if w.Err != nil {
		t.Fatal(w.Err)
	}
	x := be.NewTensor(1, 4)
	be.Upload(x, []float32{1, 0, 0, 0}) // picks column 0 of each row
	lo := 0
	for i, p := range parts {
		y := be.NewTensor(1, p.Rows())
		be.MatMul(y, x, p)
		got := make([]float32, p.Rows())
		be.Download(got, y)
		b := make([]float32, biases[i].Cols())
		be.Download(b, biases[i])
		for r := range got {
			if got[r] != vals[(lo+r)*4] || b[r] != vals[lo+r] {
				t.Fatalf("part %d row %d: %g (bias %g), want %g (%g)", i, r, got[r], b[r], vals[(lo+r)*4], vals[lo+r])
			}
		}
		lo += p.Rows()
	}
	if conv.Rows() != 6 || conv.Cols() != 4 || boi.Cols() != 4 {
		t.Fatalf("conv %d×%d, boi 1×%d", conv.Rows(), conv.Cols(), boi.Cols())
	}
	w = &Weights{Checkpoint: ts, Backend: be}
	w.Matrix("conv.weight", 6, 4, 6, 2, 2) // not the stored shape
	if w.Err == nil || !strings.Contains(w.Err.Error(), "conv.weight") {
		t.Fatalf("wrong stored shape: %v", w.Err)
	}
}

func f32le(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

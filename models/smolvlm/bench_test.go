package smolvlm

import (
	"github.com/rpiq/rpiq/models/hfmodel"
	"testing"

	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// TestRandomGPTQBindsPerPartBits: the benchmark checkpoint binds its decoder linears as 4-bit
// and the encoder, connector and head as 8-bit quantized weights (quantization_config.dynamic).
func TestRandomGPTQBindsPerPartBits(t *testing.T) {
	s := TinySizes
	s.HeadDim, s.Heads, s.KVHeads, s.Hidden = 16, 4, 2, 64 // widths the packed layout takes
	cfg, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	mem, qc := RandomGPTQ(cfg, BenchBits, 1)
	cfg.Quantization, cfg.Text.Quantization = qc, qc
	m, err := New(cfg, &hfmodel.Weights{Checkpoint: mem, Backend: cpubackend.New(1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Linears() {
		g, ok := l.W.(*cpubackend.GPTQ)
		if !ok {
			t.Fatalf("%s is %T, want a quantized weight", l.Name, l.W)
		}
		want := 8
		if PartOf(TensorSpec{Name: l.Name + ".weight", Shape: []int{1, 1}}) == PartDecoder {
			want = 4
		}
		if g.M.Bits != want {
			t.Errorf("%s: %d-bit, want %d", l.Name, g.M.Bits, want)
		}
	}
}

// BenchmarkEncodeTile256M is one 512-px tile through the real-width encoder at 8 bits
// (`go test -bench EncodeTile -run X ./models/smolvlm`).
func BenchmarkEncodeTile256M(b *testing.B) {
	cfg, err := Sizes256M.Config()
	if err != nil {
		b.Fatal(err)
	}
	mem, qc := RandomGPTQ(cfg, BenchBits, 1)
	cfg.Quantization, cfg.Text.Quantization = qc, qc
	m, err := New(cfg, &hfmodel.Weights{Checkpoint: mem, Backend: cpubackend.New(2)})
	if err != nil {
		b.Fatal(err)
	}
	tile := make([]float32, 3*512*512)
	b.ResetTimer()
	for range b.N {
		if _, err := m.EncodeTile(tile); err != nil {
			b.Fatal(err)
		}
	}
}

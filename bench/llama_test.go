package bench

import (
	"math"
	"testing"
)

func TestShape1BHasABillionParameters(t *testing.T) {
	if p := Shape1B.Params(); p < 1.0e9 || p > 1.2e9 {
		t.Fatalf("Shape1B has %d parameters", p)
	}
}

// Bench on a small shape: every result is present and self-consistent.
func TestBenchSmallShape(t *testing.T) {
	s := Shape{Name: "tiny", Hidden: 64, Inter: 96, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 100}
	res, err := Llama(LlamaOptions{Shape: s, Threads: 2, DecodeSteps: 3, PromptTokens: 16, BandwidthMiB: 8})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]LlamaResult{}
	for _, r := range res {
		names[r.Name] = r
		if !(r.Ms > 0) || math.IsInf(r.Ms, 0) {
			t.Fatalf("%s: ms = %g", r.Name, r.Ms)
		}
	}
	for _, n := range []string{"read_bandwidth_8MiB", "decode_tiny_f32", "decode_tiny_bf16", "prompt16_tiny_f32", "prompt16_tiny_bf16"} {
		if _, ok := names[n]; !ok {
			t.Fatalf("missing %s in %v", n, res)
		}
	}
	d := names["decode_tiny_f32"]
	if want := float64(s.matmulParams()*4) / (d.Ms / 1e3) / 1e9; math.Abs(d.GBs-want) > 1e-9*want {
		t.Fatalf("decode GB/s %g, want %g from ms", d.GBs, want)
	}
	if names["prompt16_tiny_bf16"].GFLOPs <= 0 {
		t.Fatal("no GFLOP/s")
	}
}

// BenchmarkDecode1B: decode and prompt processing of the random 1B model (F32 then BF16), next
// to the measured read bandwidth. Needs ~5 GB of memory; run with -bench Decode1B -benchtime 1x.
func BenchmarkDecode1B(b *testing.B) {
	for b.Loop() {
		res, err := Llama(LlamaOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			b.Log(r.String())
		}
	}
}

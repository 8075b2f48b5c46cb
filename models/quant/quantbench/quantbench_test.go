package quantbench

import (
	"os"
	"strconv"
	"testing"
)

// A small layer runs end to end and reports every phase.
func TestRunSmallLayer(t *testing.T) {
	r, err := Run(Options{Shape: Shape{Name: "small", Hidden: 128, Inter: 344, Heads: 4, KVHeads: 2}, Windows: 3, Tokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	if r.Stage1S <= 0 || r.Stage2S <= 0 || r.GFLOPs <= 0 || r.Stage1PeakBytes == 0 || r.Stage2PeakBytes == 0 {
		t.Fatalf("phases not measured: %+v", r)
	}
	if r.Extrapolated == nil || r.Extrapolated["stage2_of_total"] <= 0 {
		t.Fatalf("no extrapolation: %+v", r)
	}
	t.Log(r)
}

// BenchmarkQuantizeTinyLlamaLayer is the cost benchmark of issue 3: one TinyLlama-shaped layer.
// RPIQ_BENCH_WINDOWS (default 8; the full size is 128) windows of 512 tokens; smaller
// runs also print the extrapolation to 128×512.
func BenchmarkQuantizeTinyLlamaLayer(b *testing.B) {
	w := 8
	if s := os.Getenv("RPIQ_BENCH_WINDOWS"); s != "" {
		w, _ = strconv.Atoi(s)
	}
	for i := 0; i < b.N; i++ {
		r, err := Run(Options{Windows: w, Tokens: 512})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.Stage1S, "stage1-s")
		b.ReportMetric(r.Stage2S, "stage2-s")
		b.ReportMetric(float64(r.Stage1PeakBytes)/(1<<20), "stage1-peak-MiB")
		b.ReportMetric(float64(r.Stage2PeakBytes)/(1<<20), "stage2-peak-MiB")
		b.ReportMetric(r.GFLOPs, "hessian-GFLOP/s")
		b.Log(r)
	}
}

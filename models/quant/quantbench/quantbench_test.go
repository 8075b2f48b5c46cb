package quantbench

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// A small model of two layers runs end to end and reports every phase.
func TestRunSmallLayers(t *testing.T) {
	r, err := Run(Options{Shape: Shape{Name: "small", Hidden: 128, Inter: 344, Heads: 4, KVHeads: 2}, Layers: 2, Windows: 3, Tokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	if r.Stage1S <= 0 || r.Stage2S <= 0 || r.GFLOPs <= 0 || r.Stage1PeakBytes == 0 || r.Stage2PeakBytes == 0 {
		t.Fatalf("phases not measured: %+v", r)
	}
	if r.Layers != 2 || !strings.HasPrefix(r.Name, "quantize_2layers_small_") {
		t.Fatalf("layers %d, name %q: want 2 layers named so", r.Layers, r.Name)
	}
	if r.Extrapolated == nil || r.Extrapolated["stage2_of_total"] <= 0 {
		t.Fatalf("no extrapolation: %+v", r)
	}
	t.Log(r)
}

// BenchmarkQuantizeTinyLlamaLayer is the cost benchmark of issue 3: one TinyLlama-shaped layer.
// RPIQ_BENCH_WINDOWS (default 8; the full size is 128) windows of 512 tokens; smaller
// runs also print the extrapolation to 128×512.
func BenchmarkQuantizeTinyLlamaLayer(b *testing.B) { benchLayers(b, 1) }

// BenchmarkQuantizeTinyLlamaLayers quantizes RPIQ_BENCH_LAYERS (default 3) TinyLlama-shaped
// layers in one process, as `rpiq quantize` runs TinyLlama's 22: the rates are over all of
// them and the seconds per layer, so the first layer's fresh pages (BENCHMARKS.md) weigh as
// they would in a model of that many layers.
func BenchmarkQuantizeTinyLlamaLayers(b *testing.B) {
	l := 3
	if s := os.Getenv("RPIQ_BENCH_LAYERS"); s != "" {
		var err error
		if l, err = strconv.Atoi(s); err != nil || l <= 0 {
			b.Fatalf("RPIQ_BENCH_LAYERS=%q: want a positive number", s)
		}
	}
	benchLayers(b, l)
}

func benchLayers(b *testing.B, layers int) {
	w := 8
	if s := os.Getenv("RPIQ_BENCH_WINDOWS"); s != "" {
		var err error
		if w, err = strconv.Atoi(s); err != nil || w <= 0 {
			b.Fatalf("RPIQ_BENCH_WINDOWS=%q: want a positive number", s)
		}
	}
	for i := 0; i < b.N; i++ {
		r, err := Run(Options{Layers: layers, Windows: w, Tokens: 512})
		if err != nil {
			b.Fatal(err)
		}
		l := float64(layers)
		b.ReportMetric(r.Stage1S/l, "stage1-s/layer")
		b.ReportMetric(r.Stage2S/l, "stage2-s/layer")
		b.ReportMetric(float64(r.Stage1PeakBytes)/(1<<20), "stage1-peak-MiB")
		b.ReportMetric(float64(r.Stage2PeakBytes)/(1<<20), "stage2-peak-MiB")
		b.ReportMetric(r.GFLOPs, "hessian-GFLOP/s")
		for _, k := range []string{"gptq_update_of_peak", "stage2_of_peak"} {
			b.ReportMetric(r.Ratios[k], k)
		}
		b.Log(r)
	}
}

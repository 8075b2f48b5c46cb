package bench

import (
	"strings"
	"testing"

	"github.com/rpiq/rpiq/models/cogvlm2"
)

// Bench runs end to end on the tiny model and reports every measurement.
func TestBenchTiny(t *testing.T) {
	rs, err := CogVLM2(CogVLM2Options{Sizes: []CogVLM2Size{{Name: "tiny", Sizes: cogvlm2.TinySizes}}, Threads: 1, DecodeSteps: 3, TextTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 5 {
		t.Fatalf("%d results: %v", len(rs), rs)
	}
	for _, r := range rs[:3] {
		if !(r.Ms > 0) || !(r.GFLOPs > 0) {
			t.Fatalf("result %v", r)
		}
	}
	if !(rs[2].TokS > 0) || !strings.Contains(rs[3].Note, "Orin bound") {
		t.Fatalf("results %v", rs)
	}
	for _, r := range rs {
		t.Log(r)
	}
}

func benchSizeRun(b *testing.B, image int, part string) {
	bs := cogvlm2Size(image)
	for i := 0; i < b.N; i++ {
		rs, err := CogVLM2(CogVLM2Options{Sizes: []CogVLM2Size{bs}, Filter: func(n string) bool { return strings.HasSuffix(n, part) }})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rs {
			b.ReportMetric(r.Ms, "ms/"+part)
			if r.GFLOPs > 0 {
				b.ReportMetric(r.GFLOPs, "GFLOP/s")
			}
			if r.TokS > 0 {
				b.ReportMetric(r.TokS, "tok/s")
			}
		}
	}
}

func BenchmarkCogVLM2Vision224(b *testing.B) { benchSizeRun(b, 224, "_vision") }
func BenchmarkCogVLM2Vision448(b *testing.B) { benchSizeRun(b, 448, "_vision") }
func BenchmarkCogVLM2TTFT224(b *testing.B)   { benchSizeRun(b, 224, "_ttft") }
func BenchmarkCogVLM2TTFT448(b *testing.B)   { benchSizeRun(b, 448, "_ttft") }
func BenchmarkCogVLM2Decode224(b *testing.B) { benchSizeRun(b, 224, "_decode") }

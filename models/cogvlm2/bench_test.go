package cogvlm2

import (
	"strings"
	"testing"
)

// Bench runs end to end on the tiny model and reports every measurement.
func TestBenchTiny(t *testing.T) {
	rs, err := Bench(BenchOptions{Sizes: []BenchSize{{Name: "tiny", Sizes: TinySizes}}, Threads: 1, DecodeSteps: 3, TextTokens: 4})
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
	bs := benchSize(image)
	for i := 0; i < b.N; i++ {
		rs, err := Bench(BenchOptions{Sizes: []BenchSize{bs}, Filter: func(n string) bool { return strings.HasSuffix(n, part) }})
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

func BenchmarkVision224(b *testing.B) { benchSizeRun(b, 224, "_vision") }
func BenchmarkVision448(b *testing.B) { benchSizeRun(b, 448, "_vision") }
func BenchmarkTTFT224(b *testing.B)   { benchSizeRun(b, 224, "_ttft") }
func BenchmarkTTFT448(b *testing.B)   { benchSizeRun(b, 448, "_ttft") }
func BenchmarkDecode224(b *testing.B) { benchSizeRun(b, 224, "_decode") }

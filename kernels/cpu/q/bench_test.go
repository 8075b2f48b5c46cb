package q

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"testing"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// BenchmarkKernels runs Bench (the same cases `rpiq bench` prints) for each variant this machine
// has: go test -run '^$' -bench Kernels ./kernels/cpu/q (RPIQ_BENCH_FILTER narrows the cases).
func BenchmarkKernels(b *testing.B) {
	var filter func(string) bool
	if f := os.Getenv("RPIQ_BENCH_FILTER"); f != "" {
		re := regexp.MustCompile(f)
		filter = re.MatchString
	}
	old := Active()
	defer Use(old)
	for _, k := range Kernels() {
		if k == "generic" && os.Getenv("RPIQ_BENCH_GENERIC") == "" {
			continue
		}
		b.Run(k, func(b *testing.B) {
			if err := Use(k); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				res, err := Bench(BenchOptions{Threads: []int{1, 2}, Filter: filter})
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					b.Log(r)
				}
			}
		})
	}
}

// BenchmarkDecodeLayers multiplies one token through 16 layers of Llama-3.2-1B-shaped 4-bit g128
// matrices (q, k, v, o, gate, up, down: 488 MB), with 1 and 2 workers, and an L2-resident matrix
// (536 KB) over and over, one whole matrix per worker (no split: the compute rate, which tells
// two cores from one core's two threads). docs/BENCHMARKS.md quotes it:
// go test -run X -bench DecodeLayers ./kernels/cpu/q
func BenchmarkDecodeLayers(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][2]int{{2048, 2048}, {2048, 512}, {2048, 512}, {2048, 2048}, {2048, 8192}, {2048, 8192}, {8192, 2048}}
	var ms []*Matrix
	bytes := 0
	for l := 0; l < 16; l++ {
		for _, s := range shapes {
			m, err := randomGPTQ(rng, s[0], s[1], 4, 128, false, true, false).repack()
			if err != nil {
				b.Fatal(err)
			}
			ms, bytes = append(ms, m), bytes+m.Bytes()
		}
	}
	x := map[int][]float32{2048: randInput32(2048), 8192: randInput32(8192)}
	y := map[int][]float32{512: make([]float32, 512), 2048: make([]float32, 2048), 8192: make([]float32, 8192)}
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("layers/threads=%d", th), func(b *testing.B) {
			p := cpu.NewPool(th)
			defer p.Close()
			for i := 0; i < b.N; i++ {
				for _, m := range ms {
					m.MatMulOn(p, y[m.Out], x[m.In], 1)
				}
			}
			b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
	small := ms[1] // 2048 → 512
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("l2resident/threads=%d", th), func(b *testing.B) {
			p := cpu.NewPool(th)
			defer p.Close()
			const reps = 200
			for i := 0; i < b.N; i++ {
				p.Run(th*reps, reps, func(lo, hi int) {
					one, out := cpu.NewPool(1), make([]float32, small.Out)
					defer one.Close()
					for j := lo; j < hi; j++ {
						small.MatMulOn(one, out, x[2048], 1)
					}
				})
			}
			b.ReportMetric(float64(th*reps*small.Bytes())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

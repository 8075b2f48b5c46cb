package quant

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// BenchmarkRPIQ4096: stage 2 with the default reading on a 4096×4096 layer (RPIQ_GPTQ_SHAPE=MxN for
// another, benchShape), as the driver calls it: the Hessian and the cross term of 2048 tokens, that sample as
// the single instance (its full-precision input a perturbed copy), GPTQ's result as the start.
// The matrix work counted is the result's Flops, against the float32 peak.
// go test -run X -bench 'RPIQ4096$' -benchtime 1x ./models/quant
func BenchmarkRPIQ4096(b *testing.B) {
	m, n := benchShape(b)
	rng := rand.New(rand.NewPCG(3, 3))
	const tokens = 2048
	x, xfp := make([]float32, tokens*n), make([]float32, tokens*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		xfp[i] = x[i] + float32(0.1*rng.NormFloat64())
	}
	h, c := NewHessian(n), NewCross(n)
	if err := h.Add(x, tokens); err != nil {
		b.Fatal(err)
	}
	if err := c.Add(xfp, x, tokens); err != nil {
		b.Fatal(err)
	}
	H, C := h.Matrix(), c.Matrix()
	w := make([]float64, m*n)
	for i := range w {
		w[i] = rng.NormFloat64() * 0.02
	}
	g, err := GPTQ(w, m, n, H, Config{Grid: Grid{Bits: 4}, GroupSize: 128, Damp: 0.01, BlockSize: 128})
	if err != nil {
		b.Fatal(err)
	}
	X, Xfp := make([]float64, len(x)), make([]float64, len(x))
	for i := range x {
		X[i], Xfp[i] = float64(x[i]), float64(xfp[i])
	}
	cfg := Stage2Config{Reading: DefaultReading()}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	rounds := 0
	flops := 0.0
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		in := Stage2Inputs{M: m, N: n, W: w, H: H, C: C, X: X, Xfp: Xfp, Tokens: tokens, Seqs: 1}
		t := time.Now()
		r, err := RPIQ(in, g, cfg)
		elapsed += time.Since(t)
		if err != nil {
			b.Fatal(err)
		}
		rounds += r.Rounds
		flops += r.Flops
	}
	b.StopTimer()
	used := cpuSeconds() - cpu0 // before the peak is measured below
	b.ReportMetric(float64(rounds)/float64(b.N), "rounds/op")
	b.ReportMetric(flops/elapsed.Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(flops/elapsed.Seconds()/1e9/cpu.PeakGFLOPs(cpu.Default().Threads()), "of-peak")
	b.ReportMetric(used/float64(b.N), "CPU-s/op")
}

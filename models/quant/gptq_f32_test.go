package quant

import (
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// TestGPTQFloat32Update: the lazy-batch update in float32 (large layers) against the same GPTQ
// with the update in float64. Rounding the product to float32 moves a weight by about 1e-7 of its
// update; a code can change only where the float64 value sat that close to a rounding boundary,
// and then by one step. So: codes equal but for a few in ten thousand, never by more than one
// step, and the same loss to 1e-5.
func TestGPTQFloat32Update(t *testing.T) {
	defer func(v int) { f32UpdateMin = v }(f32UpdateMin)
	for ci, tc := range []struct {
		m, n, gs int
		act      bool
	}{{64, 600, 128, false}, {48, 530, 32, true}, {96, 300, -1, false}} {
		rng := rand.New(rand.NewPCG(uint64(ci), 99))
		w, h, _ := randomLayer(rng, tc.m, tc.n, 2*tc.n)
		cfg := Config{Grid: Grid{Bits: 4}, GroupSize: tc.gs, ActOrder: tc.act, Damp: 0.01, BlockSize: 128}
		f32UpdateMin = math.MaxInt
		q64, err := GPTQ(w, tc.m, tc.n, h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		f32UpdateMin = 0
		q32, err := GPTQ(w, tc.m, tc.n, h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		diff := 0
		for i := range q64.Codes {
			d := int(q64.Codes[i]) - int(q32.Codes[i])
			if d < -1 || d > 1 {
				t.Fatalf("%v: code %d is %d in float32, %d in float64", tc, i, q32.Codes[i], q64.Codes[i])
			}
			if d != 0 {
				diff++
			}
		}
		rel := math.Abs(q32.Loss-q64.Loss) / q64.Loss
		t.Logf("%v: %d of %d codes differ, loss %.9g against %.9g (relative %.2g)", tc, diff, len(q64.Codes), q32.Loss, q64.Loss, rel)
		if diff*10000 > 3*len(q64.Codes) {
			t.Errorf("%v: %d of %d codes differ", tc, diff, len(q64.Codes))
		}
		if rel > 1e-5 {
			t.Errorf("%v: loss %v in float32 against %v", tc, q32.Loss, q64.Loss)
		}
	}
}

// BenchmarkGPTQ4096: GPTQ on a 4096×4096 layer (Llama-3-8B's q_proj shape) with a Hessian of
// 2048 random tokens (RPIQ_GPTQ_N=N for an N×N layer instead). Reports the time of the Cholesky
// inverse (hinvUpperF32, timed again on its own) and of the rest of the call (the updates, the
// group fits and the quantization itself), and the rate of the whole call's matrix work: the
// inverse's n³/3 + n³/3 multiply-adds (a Cholesky and a triangular inverse), the deferred
// updates' m·n²/2 and the within-block ones' m·n·B/2, against the float32 peak of the cores.
// go test -run X -bench 'GPTQ4096$' -benchtime 1x ./models/quant
func BenchmarkGPTQ4096(b *testing.B) {
	m, n := 4096, 4096
	if v, err := strconv.Atoi(os.Getenv("RPIQ_GPTQ_N")); err == nil && v > 0 {
		m, n = v, v
	}
	rng := rand.New(rand.NewPCG(1, 1))
	const tokens = 2048
	x := make([]float32, tokens*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	h := NewHessian(n)
	if err := h.Add(x, tokens); err != nil {
		b.Fatal(err)
	}
	H := h.Matrix()
	w := make([]float64, m*n)
	for i := range w {
		w[i] = rng.NormFloat64() * 0.02
	}
	cfg := Config{Grid: Grid{Bits: 4}, GroupSize: 128, Damp: 0.01, BlockSize: 128}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	var inv time.Duration
	for i := 0; i < b.N; i++ {
		if _, err := GPTQ(w, m, n, H, cfg); err != nil {
			b.Fatal(err)
		}
		// The Cholesky inverse alone, on the same Hessian, to take out of the call's time.
		t := time.Now()
		if _, _, err := hinvUpperF32(H, n, cfg.Damp); err != nil {
			b.Fatal(err)
		}
		inv += time.Since(t)
	}
	b.StopTimer()
	cpuS := cpuSeconds() - cpu0
	gptqTime := b.Elapsed() - inv // the GPTQ calls
	N := float64(b.N)
	fm, fn := float64(m), float64(n)
	invFlops := 2 * (fn*fn*fn/3 + fn*fn*fn/3) * N
	updFlops := (fm*fn*fn + fm*fn*128) * N
	b.ReportMetric((gptqTime-inv).Seconds()/N, "update-s/op")
	b.ReportMetric(inv.Seconds()/N, "hinv-s/op")
	b.ReportMetric(invFlops/inv.Seconds()/1e9, "hinv-GFLOP/s")
	b.ReportMetric(updFlops/(gptqTime-inv).Seconds()/1e9, "update-GFLOP/s")
	b.ReportMetric((invFlops+updFlops)/gptqTime.Seconds()/1e9, "GPTQ-GFLOP/s")
	b.ReportMetric((invFlops+updFlops)/gptqTime.Seconds()/1e9/float32Peak(), "of-peak")
	b.ReportMetric(cpuS/N, "CPU-s/op") // both calls
}

// float32Peak is the machine's float32 peak in GFLOP/s as docs/BENCHMARKS.md counts it: 32
// flop per cycle and core (two 8-lane FMA pipes) at 2.6 GHz, times the pool's threads.
func float32Peak() float64 { return 32 * 2.6 * float64(cpu.Default().Threads()) }

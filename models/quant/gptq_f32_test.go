package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// TestGPTQFloat32Update: GPTQ in float32 (gptq32: the blocked float32 inverse, W and the
// updates in float32, what large layers run) against the float64 path on the same layers.
// float32 keeps about 7 digits and the inverse loses up to the condition number's square root
// of them, so a code can change only where the float64 value sat within about 1e-4 of a step
// of a rounding boundary, and then by one step: codes equal but for a few in ten thousand,
// never by more than one step, and the same loss to 1e-5. The layers cover groups, act-order
// with static groups, per-channel, dead columns and a rank-deficient Hessian (fewer tokens than
// columns: only the damping makes it positive definite).
func TestGPTQFloat32Update(t *testing.T) {
	defer func(v int) { f32UpdateMin = v }(f32UpdateMin)
	for ci, tc := range []struct {
		m, n, gs, tokens, dead int
		act, static            bool
	}{{64, 600, 128, 1200, 0, false, false}, {48, 530, 32, 1060, 0, true, false}, {96, 300, -1, 600, 0, false, false},
		{40, 400, 64, 100, 0, false, false}, {32, 300, 32, 600, 7, true, true}, {32, 260, 64, 520, 5, false, false}} {
		rng := rand.New(rand.NewPCG(uint64(ci), 99))
		w, h, _ := randomLayer(rng, tc.m, tc.n, tc.tokens)
		for d := 0; d < tc.dead; d++ { // an input that is always zero
			c := rng.IntN(tc.n)
			for i := 0; i < tc.n; i++ {
				h[c*tc.n+i], h[i*tc.n+c] = 0, 0
			}
		}
		cfg := Config{Grid: Grid{Bits: 4}, GroupSize: tc.gs, ActOrder: tc.act, StaticGroups: tc.static, Damp: 0.01, BlockSize: 128}
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
		diff, far := 0, 0
		for i := range q64.Codes {
			d := int(q64.Codes[i]) - int(q32.Codes[i])
			if d < -1 || d > 1 {
				far++
			}
			if d != 0 {
				diff++
			}
		}
		rel := math.Abs(q32.Loss-q64.Loss) / q64.Loss
		t.Logf("%v: %d of %d codes differ (%d by more than one step), loss %.9g against %.9g (relative %.2g)", tc, diff, len(q64.Codes), far, q32.Loss, q64.Loss, rel)
		// A rank-deficient Hessian is conditioned near the damping's bound (100·n): there
		// float32 moves more weights across a boundary, and a changed code changes the errors
		// fed to the columns after it, so later codes may move further; the objective is what
		// must stay (measured: 83 of 16000 codes, loss +1.6e-4).
		maxDiff, maxRel := 3*len(q64.Codes)/10000, 1e-5
		if tc.tokens < tc.n {
			maxDiff, maxRel = len(q64.Codes)/50, 1e-3
		} else if far > 0 {
			t.Errorf("%v: %d codes differ by more than one step", tc, far)
		}
		if diff > maxDiff {
			t.Errorf("%v: %d of %d codes differ", tc, diff, len(q64.Codes))
		}
		if rel > maxRel {
			t.Errorf("%v: loss %v in float32 against %v", tc, q32.Loss, q64.Loss)
		}
	}
}

// BenchmarkGPTQ4096: GPTQ on a 4096×4096 layer (Llama-3-8B's q_proj shape) with a Hessian of
// 2048 random tokens (RPIQ_GPTQ_SHAPE=MxN for another, benchShape). Reports the time of the Cholesky
// inverse (the call's own factorisation, Inverse.FactorSec) and of the rest of the call (the updates, the
// group fits and the quantization itself), and the rate of the whole call's matrix work: the
// inverse's n³/6 + n³/6 multiply-adds (a Cholesky and a triangular inverse: hinvFlops) and the
// updates' m·n²/2 (gptqUpdateFlops), against the float32 peak of the cores.
// go test -run X -bench 'GPTQ4096$' -benchtime 1x ./models/quant
func BenchmarkGPTQ4096(b *testing.B) {
	m, n := benchShape(b)
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
	var copyS, columnsS, productS, productFlops float64
	for i := 0; i < b.N; i++ {
		// The call's own factorisation time, from its Inverse, is taken out of the call's.
		v, err := NewInverse(H, n, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.GPTQ(w, m); err != nil {
			b.Fatal(err)
		}
		inv += time.Duration(v.FactorSec * float64(time.Second))
		copyS, columnsS, productS = copyS+v.ConvertSec, columnsS+v.ColumnsSec, productS+v.ProductSec
		productFlops += v.ProductFlops
		v.Close()
	}
	b.StopTimer()
	cpuS := cpuSeconds() - cpu0
	gptqTime := b.Elapsed()
	N := float64(b.N)
	invFlops := hinvFlops(n) * N
	updFlops := gptqUpdateFlops(m, n) * N
	b.ReportMetric((gptqTime-inv).Seconds()/N, "update-s/op")
	b.ReportMetric(inv.Seconds()/N, "hinv-s/op")
	b.ReportMetric(invFlops/inv.Seconds()/1e9, "hinv-GFLOP/s")
	b.ReportMetric(updFlops/(gptqTime-inv).Seconds()/1e9, "update-GFLOP/s")
	b.ReportMetric((invFlops+updFlops)/gptqTime.Seconds()/1e9, "GPTQ-GFLOP/s")
	peak := cpu.PeakGFLOPs(cpu.Default().Threads())
	b.ReportMetric((invFlops+updFlops)/gptqTime.Seconds()/1e9/peak, "of-peak")
	b.ReportMetric(updFlops/(gptqTime-inv).Seconds()/1e9/peak, "update-of-peak")
	b.ReportMetric(cpuS/N, "CPU-s/op")
	if productS > 0 { // the update apart: the copy of Wᵀ, the column loop, the deferred products
		b.ReportMetric(copyS/N, "copy-s/op")
		b.ReportMetric(columnsS/N, "columns-s/op")
		b.ReportMetric(productS/N, "products-s/op")
		b.ReportMetric(productFlops/productS/1e9/peak, "products-of-peak")
	}
}

// benchShape is the layer the GPTQ and stage-2 benchmarks quantize: 4096×4096 (Llama-3-8B's
// q_proj), or RPIQ_GPTQ_SHAPE=MxN (M outputs, N inputs: 14336x4096 is gate_proj, 4096x14336
// down_proj).
func benchShape(b *testing.B) (m, n int) {
	s := os.Getenv("RPIQ_GPTQ_SHAPE")
	if s == "" {
		return 4096, 4096
	}
	if _, err := fmt.Sscanf(s, "%dx%d", &m, &n); err != nil || m <= 0 || n <= 0 {
		b.Fatalf("RPIQ_GPTQ_SHAPE=%q, want MxN", s)
	}
	return m, n
}

// TestDequantizeF32: the float32 of every Value, act-ordered groups included, into a reused
// buffer too (large enough to take the parallel path).
func TestDequantizeF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	m, n := 300, 256
	w, h, _ := randomLayer(rng, m, n, 2*n)
	q, err := GPTQ(w, m, n, h, Config{Grid: Grid{Bits: 3}, GroupSize: 32, ActOrder: true, Damp: 0.01, BlockSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	want := q.Dequantize()
	buf := make([]float32, 7, m*n+5)
	for round := 0; round < 2; round++ {
		got := q.DequantizeF32(buf)
		if len(got) != m*n || &got[0] != &buf[:1][0] {
			t.Fatalf("round %d: %d values, buffer reused %v", round, len(got), &got[0] == &buf[:1][0])
		}
		for i, v := range want {
			if got[i] != float32(v) {
				t.Fatalf("weight %d: %v, want float32(%v)", i, got[i], v)
			}
		}
		clear(got)
	}
	if got := q.DequantizeF32(nil); len(got) != m*n || got[5] != float32(want[5]) {
		t.Fatal("a nil buffer")
	}
}

// TestDequantizeRow: every weight is Value's (Dequant's arithmetic, in float64 and rounded to
// float32), on grids of 2-8 bits, group counts whose table fits the row and ones whose does not,
// per-channel scales, and act-ordered group indices; codes and scales random.
func TestDequantizeRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, c := range []struct{ bits, rows, cols, gs int }{
		{4, 5, 256, 32}, {3, 4, 200, 64}, {2, 3, 96, -1}, {8, 3, 256, 64}, {4, 3, 129 * 8, 8}, {4, 2, 128 * 8, 8}, {4, 3, 50, 16},
	} {
		g := Grid{Bits: c.bits}
		gs := c.gs
		if gs < 0 {
			gs = c.cols
		}
		groups := (c.cols + gs - 1) / gs
		q := &Quantized{Rows: c.rows, Cols: c.cols, Grid: g, GroupSize: c.gs, Codes: make([]uint8, c.rows*c.cols),
			Scales: make([]float64, groups*c.rows), Zeros: make([]int, groups*c.rows), GIdx: make([]int32, c.cols)}
		for i := range q.Codes {
			q.Codes[i] = uint8(rng.IntN(g.MaxQ() + 1))
		}
		for i := range q.Scales {
			q.Scales[i] = rng.ExpFloat64() * 0.01
			q.Zeros[i] = rng.IntN(g.MaxQ() + 1)
		}
		for col := range q.GIdx {
			q.GIdx[col] = int32(col / gs)
		}
		for _, act := range []bool{false, true} {
			if act {
				rng.Shuffle(len(q.GIdx), func(i, j int) { q.GIdx[i], q.GIdx[j] = q.GIdx[j], q.GIdx[i] })
			}
			r64, r32 := make([]float64, c.cols), make([]float32, c.cols)
			var l64 []float64
			var l32 []float32
			for r := 0; r < c.rows; r++ {
				l64 = dequantizeRow(q, r, r64, l64)
				l32 = dequantizeRow(q, r, r32, l32)
				for col := 0; col < c.cols; col++ {
					if v := q.Value(r, col); r64[col] != v || r32[col] != float32(v) {
						t.Fatalf("%+v act-order %v: (%d, %d) = %v / %v, want %v", c, act, r, col, r64[col], r32[col], v)
					}
				}
			}
		}
	}
}

// BenchmarkDequantizeF32 dequantizes TinyLlama's gate_proj (5632 × 2048, 4 bits, group 128)
// into a reused buffer.
func BenchmarkDequantizeF32(b *testing.B) {
	m, n, gs := 5632, 2048, 128
	q := &Quantized{Rows: m, Cols: n, Grid: Grid{Bits: 4}, GroupSize: gs, Codes: make([]uint8, m*n),
		Scales: make([]float64, n/gs*m), Zeros: make([]int, n/gs*m), GIdx: make([]int32, n)}
	for i := range q.Codes {
		q.Codes[i] = uint8(i * 7 % 16)
	}
	for i := range q.Scales {
		q.Scales[i], q.Zeros[i] = 0.01+float64(i%13)*1e-3, i%16
	}
	for c := range q.GIdx {
		q.GIdx[c] = int32(c / gs)
	}
	buf := q.DequantizeF32(nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = q.DequantizeF32(buf)
	}
	b.ReportMetric(float64(m*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
}

// gptqProductFlops counts what the deferred products do: with the feedback inside the blocks
// (cnt·(cnt−1)/2 multiply-adds per row and block), every column's errors reach every later
// column exactly once (n·(n−1)/2 per row), for any block size, ragged last block included.
func TestGPTQProductFlops(t *testing.T) {
	for _, c := range [][3]int{{1, 1, 128}, {7, 300, 128}, {5, 2048, 128}, {3, 1000, 100}, {2, 129, 128}} {
		m, n, B := c[0], c[1], c[2]
		inside := 0
		for i1 := 0; i1 < n; i1 += B {
			cnt := min(i1+B, n) - i1
			inside += cnt * (cnt - 1) / 2
		}
		got := gptqProductFlops(m, n, B) + 2*float64(m*inside)
		if want := float64(m * n * (n - 1)); got != want {
			t.Fatalf("m=%d n=%d B=%d: %v flops in all, want %v", m, n, B, got, want)
		}
	}
}

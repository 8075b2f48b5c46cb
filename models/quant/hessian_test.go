package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
)

func TestHessianMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 64, 172, 300} {
		h := NewHessian(n)
		c := NewCross(n)
		var all, allfp []float64
		seqs := []int{700, 5, 256}
		for _, T := range seqs {
			x := make([]float32, T*n)
			xf := make([]float32, T*n)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				xf[i] = float32(rng.NormFloat64())
				all = append(all, float64(x[i]))
				allfp = append(allfp, float64(xf[i]))
			}
			if err := h.Add(x, T); err != nil {
				t.Fatal(err)
			}
			if err := c.Add(xf, x, T); err != nil {
				t.Fatal(err)
			}
		}
		N := len(all) / n
		got := h.Matrix()
		gotC := c.Matrix()
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				want, wantC, abs, absC := 0.0, 0.0, 0.0, 0.0
				for t := 0; t < N; t++ {
					want += all[t*n+i] * all[t*n+j]
					wantC += allfp[t*n+i] * all[t*n+j]
					abs += math.Abs(all[t*n+i] * all[t*n+j])
					absC += math.Abs(allfp[t*n+i] * all[t*n+j])
				}
				f := 2 / float64(len(seqs))
				want, wantC, abs, absC = want*f, wantC*f, abs*f, absC*f
				// float32 products summed over chunks of 512 tokens: |error| <= 512·2⁻²⁴·Σ|x_i x_j|
				const gamma = 512.0 / (1 << 24)
				if math.Abs(got[i*n+j]-want) > gamma*abs+1e-12 {
					t.Fatalf("n=%d H[%d,%d] = %v, want %v (bound %v)", n, i, j, got[i*n+j], want, gamma*abs)
				}
				if math.Abs(gotC[i*n+j]-wantC) > gamma*absC+1e-12 {
					t.Fatalf("n=%d C[%d,%d] = %v, want %v (bound %v)", n, i, j, gotC[i*n+j], wantC, gamma*absC)
				}
			}
		}
	}
}

// A sequence's shares computed apart (Products, on a one-thread pool) and added later leave the
// same bits in the sums as Add: several chunks of tokens, several 256-row blocks.
func TestProductsSameBitsAsAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{7, 300} {
		h1, h2, h3 := NewHessian(n), NewHessian(n), NewHessian(n)
		c1, c2, c3 := NewCross(n), NewCross(n), NewCross(n)
		p := cpu.NewPool(1)
		var hp, cp, hp3, cp3 Products
		for _, T := range []int{700, 5, 1100} {
			x := make([]float32, T*n)
			xf := make([]float32, T*n)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				xf[i] = float32(rng.NormFloat64())
			}
			if err := h1.Add(x, T); err != nil {
				t.Fatal(err)
			}
			if err := c1.Add(xf, x, T); err != nil {
				t.Fatal(err)
			}
			if err := h2.Products(p, &hp, x, T); err != nil {
				t.Fatal(err)
			}
			if err := c2.Products(p, &cp, xf, x, T); err != nil {
				t.Fatal(err)
			}
			h2.AddProducts(&hp)
			c2.AddProducts(&cp)
			if _, err := h3.pairProducts(p, &hp3, c3, &cp3, xf, x, T); err != nil {
				t.Fatal(err)
			}
			h3.AddProducts(&hp3)
			c3.AddProducts(&cp3)
		}
		a, b, b3 := h1.Matrix(), h2.Matrix(), h3.Matrix()
		ac, bc, bc3 := c1.Matrix(), c2.Matrix(), c3.Matrix()
		for i := range a {
			if math.Float64bits(a[i]) != math.Float64bits(b[i]) || math.Float64bits(ac[i]) != math.Float64bits(bc[i]) {
				t.Fatalf("n=%d element %d: H %v vs %v, C %v vs %v", n, i, a[i], b[i], ac[i], bc[i])
			}
			if math.Float64bits(a[i]) != math.Float64bits(b3[i]) || math.Float64bits(ac[i]) != math.Float64bits(bc3[i]) {
				t.Fatalf("n=%d element %d (pair): H %v vs %v, C %v vs %v", n, i, a[i], b3[i], ac[i], bc3[i])
			}
		}
		if h1.Samples != h2.Samples || h1.Tokens != h2.Tokens || c1.Samples != c2.Samples {
			t.Fatalf("n=%d counts differ", n)
		}
	}
	x := make([]float32, 8)
	x[3] = float32(math.Inf(-1))
	var pr Products
	if err := NewHessian(4).Products(cpu.NewPool(1), &pr, x, 2); err == nil {
		t.Fatal("Products accepted -Inf")
	}
}

func TestHessianRejectsBadInput(t *testing.T) {
	h := NewHessian(4)
	if err := h.Add(make([]float32, 7), 2); err == nil {
		t.Fatal("wrong length accepted")
	}
	x := make([]float32, 8)
	x[5] = float32(math.NaN())
	if err := h.Add(x, 2); err == nil {
		t.Fatal("NaN accepted")
	}
}

// BenchmarkHessian2048 measures the syrk at TinyLlama's hidden size on 512-token windows
// (RPIQ_HESSIAN_N for another size: 5632 is TinyLlama's down_proj, 14336 Llama-3-8B's), in
// GFLOP/s and as a ratio to the measured float32 peak (cpu.PeakGFLOPs); the first window,
// which writes the new sum's pages, is timed apart (first-window-ms).
func BenchmarkHessian2048(b *testing.B) {
	n, T := 2048, 512
	if s := os.Getenv("RPIQ_HESSIAN_N"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
			b.Fatalf("RPIQ_HESSIAN_N=%q, want a size", s)
		}
	}
	x := make([]float32, T*n)
	for i := range x {
		x[i] = float32(i%17) * 0.1
	}
	peak := cpu.PeakGFLOPs(cpu.Default().Threads()) // measured once, outside the timing
	h := NewHessian(n)
	t0 := time.Now()
	h.Add(x, T) // the first window writes the n×n sum's new pages
	first := time.Since(t0)
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		h.Add(x, T)
	}
	flops := float64(T) * float64(n) * float64(n+1) // upper triangle, 2 flops per MAC
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	// per CPU-second of one core: what the kernel does when it has the core (shared machines)
	b.ReportMetric(flops*float64(b.N)/(cpuSeconds()-cpu0)/1e9, "GFLOP/cpu-s")
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9/peak, "of-peak")
	// against ns/op for the later ones; with -benchtime 1x the sum is new memory, with more
	// the last run's sum may reuse what the earlier runs freed
	b.ReportMetric(first.Seconds()*1e3, "first-window-ms")
}

// cpuSeconds is the process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// TestNonFinite checks the word-at-a-time test against the definition (exponent bits all set)
// for every length up to 41 and each position of a NaN, ±Inf or a finite extreme.
func TestNonFinite(t *testing.T) {
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Copysign(0, -1)),
		math.Float32frombits(0x7fc00001), math.Float32frombits(0xff800001), math.Float32frombits(0x7f7fffff)}
	want := func(x []float32) int {
		for i, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return i
			}
		}
		return -1
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 41; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 1e30)
		}
		if got := nonFinite(x); got != -1 {
			t.Fatalf("n=%d finite: got %d", n, got)
		}
		for pos := 0; pos < n; pos++ {
			for _, s := range special {
				y := append([]float32(nil), x...)
				y[pos] = s
				if pos+3 < n {
					y[pos+3] = s // a second one later: the first is reported
				}
				if got, w := nonFinite(y), want(y); got != w {
					t.Fatalf("n=%d, %v at %d: got %d, want %d", n, s, pos, got, w)
				}
				if got, w := nonFinite(y[1:]), want(y[1:]); got != w { // not 8-byte aligned
					t.Fatalf("n=%d from 1, %v at %d: got %d, want %d", n, s, pos, got, w)
				}
			}
		}
	}
}

// TestSymmetrize checks the tiled mirror against its definition, on sizes around the tile and
// on the pool's path (n ≥ 256), with garbage below the diagonal that it must overwrite.
func TestSymmetrize(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 63, 64, 65, 130, 256, 333} {
		a := make([]float64, n*n)
		for i := range a {
			a[i] = rng.NormFloat64()
		}
		want := make([]float64, n*n)
		const f = 0.37
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				want[i*n+j], want[j*n+i] = f*a[i*n+j], f*a[i*n+j]
			}
		}
		symmetrize(a, n, f)
		for i := range a {
			if a[i] != want[i] {
				t.Fatalf("n=%d: element (%d, %d) is %v, want %v", n, i/n, i%n, a[i], want[i])
			}
		}
	}
}

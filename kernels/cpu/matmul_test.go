package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rpiq/rpiq/kernels/half"
)

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// naiveMatMul is the float64 reference: dst[i,j] = Σ_t x[i,t]·w[j,t].
func naiveMatMul(x []float32, w []float64, n, k, m int) []float64 {
	out := make([]float64, n*m)
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			var s float64
			for t := 0; t < k; t++ {
				s += float64(x[i*k+t]) * w[j*k+t]
			}
			out[i*m+j] = s
		}
	}
	return out
}

// closeTo checks |got-want| <= tol·(Σ|x||w| scale) element-wise, the bound a float32 dot obeys.
func checkClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	var scale float64
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	scale = math.Max(scale, 1)
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*scale || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: element %d = %g, want %g (|diff| %g > %g)", what, i, got[i], want[i], d, tol*scale)
		}
	}
}

func TestMatMulAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pools := []*Pool{NewPool(1), NewPool(3)}
	for _, n := range []int{1, 2, 3, 5, 8, 12, 13, 20} {
		for _, k := range []int{1, 7, 31, 32, 33, 100, 257, 4100} {
			for _, m := range []int{1, 3, 4, 5, 13, 16, 67, 160} {
				x := randF32(r, n*k)
				wf := randF32(r, m*k)
				wb := make([]uint16, m*k)
				wh := make([]uint16, m*k)
				w64 := make([]float64, m*k)
				wb64 := make([]float64, m*k)
				wh64 := make([]float64, m*k)
				for i, v := range wf {
					w64[i] = float64(v)
					wb[i] = half.F32ToBF16(v)
					wb64[i] = float64(half.BF16ToF32(wb[i]))
					wh[i] = half.F32ToF16(v)
					wh64[i] = float64(half.F16ToF32(wh[i]))
				}
				tol := 2e-6 * math.Sqrt(float64(k))
				for pi, p := range pools {
					name := fmt.Sprintf("n=%d k=%d m=%d pool=%d", n, k, m, pi)
					dst := make([]float32, n*m)
					p.MatMulF32(dst, x, wf, n, k, m)
					checkClose(t, "F32 "+name, dst, naiveMatMul(x, w64, n, k, m), tol)
					p.MatMulBF16(dst, x, wb, n, k, m)
					checkClose(t, "BF16 "+name, dst, naiveMatMul(x, wb64, n, k, m), tol)
					p.MatMulF16(dst, x, wh, n, k, m)
					checkClose(t, "F16 "+name, dst, naiveMatMul(x, wh64, n, k, m), tol)
				}
			}
		}
	}
}

// The assembly loops and their Go twins must agree (to rounding of a different summation order).
func TestAssemblyMatchesGo(t *testing.T) {
	t.Logf("dense kernels: %s", Accelerated())
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 8, 31, 32, 33, 64, 95, 1000} {
		x, w := randF32(r, n), randF32(r, 4*n+3)
		h := make([]uint16, n)
		for i := range h {
			h[i] = uint16(r.Uint32())&0x7fff | 0x3000 // finite values of both half formats
			h[i] &^= 0x4000
		}
		tol := float32(1e-5 * math.Sqrt(float64(n)) * 4)
		if d := DotF32(x, w) - dotF32Go(x, w); abs32(d) > tol {
			t.Errorf("DotF32 n=%d differs from Go by %g", n, d)
		}
		if d := DotBF16(x, h) - dotBF16Go(x, h); abs32(d) > tol*abs32(dotBF16Go(x, h)+1) {
			t.Errorf("DotBF16 n=%d differs from Go by %g", n, d)
		}
		if d := DotF16(x, h) - dotF16Go(x, h); abs32(d) > tol*abs32(dotF16Go(x, h)+1) {
			t.Errorf("DotF16 n=%d differs from Go by %g", n, d)
		}
		y1, y2 := randF32(r, n), make([]float32, n)
		copy(y2, y1)
		AXPY(y1, 0.37, x)
		axpyGo(y2, 0.37, x)
		for i := range y1 {
			if abs32(y1[i]-y2[i]) > 1e-5 {
				t.Fatalf("AXPY n=%d [%d] = %g, Go twin %g", n, i, y1[i], y2[i])
			}
		}
		var d4a, d4b [4]float32
		Dot1x4F32(x, w, n+1, &d4a)
		dot1x4F32Go(x, w, n+1, &d4b)
		for i := range d4a {
			if abs32(d4a[i]-d4b[i]) > tol {
				t.Errorf("Dot1x4F32 n=%d out[%d] = %g, Go twin %g", n, i, d4a[i], d4b[i])
			}
		}
		x1 := randF32(r, n)
		var a, b [8]float32
		dot2x4F32(x, x1, w, n+1, &a)
		dot2x4F32Go(x, x1, w, n+1, &b)
		for i := range a {
			if abs32(a[i]-b[i]) > tol {
				t.Errorf("dot2x4 n=%d out[%d] = %g, Go twin %g", n, i, a[i], b[i])
			}
		}
	}
}

func abs32(v float32) float32 { return float32(math.Abs(float64(v))) }

func TestOpsAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 3, 64, 97} {
		x, w, b := randF32(r, n), randF32(r, n), randF32(r, n)
		dst := make([]float32, n)
		RMSNorm(dst, x, w, 1e-5)
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		want := make([]float64, n)
		for i := range x {
			want[i] = float64(x[i]) / math.Sqrt(ss/float64(n)+1e-5) * float64(w[i])
		}
		checkClose(t, "RMSNorm", dst, want, 1e-6)

		LayerNorm(dst, x, w, b, 1e-5)
		var mu, va float64
		for _, v := range x {
			mu += float64(v)
		}
		mu /= float64(n)
		for _, v := range x {
			va += (float64(v) - mu) * (float64(v) - mu)
		}
		va /= float64(n)
		for i := range x {
			want[i] = (float64(x[i])-mu)/math.Sqrt(va+1e-5)*float64(w[i]) + float64(b[i])
		}
		checkClose(t, "LayerNorm", dst, want, 1e-6)

		copy(dst, x)
		Softmax(dst)
		var se float64
		for _, v := range x {
			se += math.Exp(float64(v))
		}
		for i := range x {
			want[i] = math.Exp(float64(x[i])) / se
		}
		checkClose(t, "Softmax", dst, want, 1e-6)

		SwiGLU(dst, x, w)
		for i := range x {
			g := float64(x[i])
			want[i] = g / (1 + math.Exp(-g)) * float64(w[i])
		}
		checkClose(t, "SwiGLU", dst, want, 1e-6)

		copy(dst, x)
		GELU(dst)
		for i := range x {
			v := float64(x[i])
			want[i] = 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
		}
		checkClose(t, "GELU", dst, want, 1e-6)
	}
	// RoPE: rotate-half with angle pos·f.
	d := 10
	x := randF32(r, d)
	f := []float32{1, 0.5, 0.25, 0.1, 0.01}
	got := append([]float32(nil), x...)
	RoPE(got, 7, f)
	want := make([]float64, d)
	for i := 0; i < d/2; i++ {
		a := 7 * float64(f[i])
		want[i] = float64(x[i])*math.Cos(a) - float64(x[i+d/2])*math.Sin(a)
		want[i+d/2] = float64(x[i+d/2])*math.Cos(a) + float64(x[i])*math.Sin(a)
	}
	checkClose(t, "RoPE", got, want, 1e-6)
}

func TestReadBandwidthReadsEverything(t *testing.T) {
	buf := make([]uint64, 1<<16+5)
	for i := range buf {
		buf[i] = uint64(i)
	}
	if got, want := sumUint64(buf), uint64(len(buf))*uint64(len(buf)-1)/2; got != want {
		t.Fatalf("sumUint64 = %d, want %d", got, want)
	}
	if bw := ReadBandwidth(NewPool(2), buf, 2); bw <= 0 {
		t.Fatalf("bandwidth %g", bw)
	}
}

// The packed GEMM path (its micro-kernel in assembly or Go, whichever this build has) against
// float64, with a tiny block size so several blocks, panels and leftovers occur.
func TestPackedGEMM(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	defer func(b int, k32 bool) { packBlockBytes, hasGEMM6x32 = b, k32 }(packBlockBytes, hasGEMM6x32)
	for _, c := range kernelChoices() {
		hasGEMM6x32, packBlockBytes = c.k32, c.block
		for _, sz := range [][3]int{{6, 1, 16}, {7, 5, 17}, {13, 40, 33}, {24, 300, 70}, {31, 2100, 48}, {12, 40, 200}, {18, 64, 96}} {
			n, k, m := sz[0], sz[1], sz[2]
			x, w := randF32(r, n*k), randF32(r, m*k)
			w64 := make([]float64, len(w))
			for i, v := range w {
				w64[i] = float64(v)
			}
			for _, p := range []*Pool{NewPool(1), NewPool(2)} {
				dst := make([]float32, n*m)
				p.gemmPacked(dst, x, n, k, m, denseSource{k: k, pack: packF32(w, k),
					dot: func(xi []float32, j int) float32 { return DotF32(xi, w[j*k:(j+1)*k]) }})
				checkClose(t, fmt.Sprintf("packed n=%d k=%d m=%d k32=%v block=%d", n, k, m, c.k32, c.block), dst, naiveMatMul(x, w64, n, k, m), 2e-6*math.Sqrt(float64(k)))
			}
		}
	}
	// The micro-kernel and its Go twin agree.
	k := 77
	a, b := randF32(r, 6*k+5), randF32(r, 16*k)
	c1, c2 := make([]float32, 5*20+16), make([]float32, 5*20+16)
	gemm6x16(a, k+1, b, k, c1, 20)
	gemm6x16Go(a, k+1, b, k, c2, 20, false)
	for i := range c1 {
		if abs32(c1[i]-c2[i]) > 1e-4 {
			t.Fatalf("gemm6x16 [%d] = %g, Go twin %g", i, c1[i], c2[i])
		}
	}
}

// TestPoolAfterIdle: workers that stopped polling (idle longer than spinFor) still take jobs,
// and every item is covered once.
func TestPoolAfterIdle(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	for round := 0; round < 3; round++ {
		seen := make([]int32, 100)
		p.Run(len(seen), 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, v := range seen {
			if v != 1 {
				t.Fatalf("round %d: item %d done %d times", round, i, v)
			}
		}
		time.Sleep(5 * spinFor) // the workers block
	}
}

// BenchmarkPoolRun: the cost of one Run hand-off of trivial work to 2 workers (docs/BENCHMARKS.md
// quotes it): go test -run X -bench PoolRun ./kernels/cpu
func BenchmarkPoolRun(b *testing.B) {
	p := NewPool(2)
	defer p.Close()
	var hits [2]int
	for i := 0; i < b.N; i++ {
		p.Run(2, 1, func(lo, hi int) { hits[lo]++ })
	}
}

// TestPoolShare: every item exactly once, chunk starts on the alignment, for sizes around the
// chunk count, from several goroutines at once on one pool, with a worker that is slow to start
// (the pool has more workers than CPUs here) and after the workers have blocked.
func TestPoolShare(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	check := func(n, align int) {
		seen := make([]int32, n)
		var bad atomic.Int32
		p.Share(n, align, func(lo, hi int) {
			if lo%align != 0 || hi > n || lo >= hi {
				bad.Add(1)
			}
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&seen[i], 1)
			}
		})
		if bad.Load() != 0 {
			t.Errorf("n=%d align=%d: %d chunks out of bounds or off the alignment", n, align, bad.Load())
		}
		for i, v := range seen {
			if v != 1 {
				t.Fatalf("n=%d align=%d: item %d done %d times", n, align, i, v)
			}
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, n := range []int{1, 2, 3, 23, 24, 25, 100, 1000} {
				for _, align := range []int{1, 4, 16} {
					check(n, align)
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(5 * spinFor) // the workers block
	check(1000, 1)
}

// TestPoolShareSlowWorker: a piece that stalls does not hold up the others: the caller takes
// the remaining pieces, and Share still returns only after the stalled piece is finished.
func TestPoolShareSlowWorker(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	var once sync.Once
	var done atomic.Int32
	var calls atomic.Int32
	p.Share(160, 1, func(lo, hi int) {
		calls.Add(1)
		once.Do(func() { time.Sleep(20 * time.Millisecond) })
		done.Add(int32(hi - lo))
	})
	if done.Load() != 160 {
		t.Fatalf("Share returned with %d of 160 items done", done.Load())
	}
	if c := calls.Load(); c != 2*chunksPerThread {
		t.Fatalf("%d pieces, want %d", c, 2*chunksPerThread)
	}
}

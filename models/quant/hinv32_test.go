package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// TestHinvUpperF32: the float32 blocked inverse against its definition, in float64: with U read
// from the result, Uᵀ·U·Hd = I for the damped Hessian Hd, U upper triangular with a positive
// diagonal (which makes it the Cholesky factor), and U close to the float64 path's (hinvUpper,
// gonum). Hessians well conditioned (more tokens than features) and rank deficient (fewer: only
// the damping keeps them positive definite, condition numbers near the 100·n bound), with block
// and panel sizes that leave partial blocks and panels.
func TestHinvUpperF32(t *testing.T) {
	defer func(b, p int) { hinvBlock, hinvPanel = b, p }(hinvBlock, hinvPanel)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ n, tokens, block, panel int }{
		{1, 4, 256, 256}, {5, 20, 2, 3}, {70, 200, 16, 24}, {300, 900, 64, 96}, {300, 60, 64, 64}, {520, 2000, 256, 256}, {520, 100, 128, 200},
	} {
		name := fmt.Sprintf("n=%d tokens=%d block=%d panel=%d", tc.n, tc.tokens, tc.block, tc.panel)
		hinvBlock, hinvPanel = tc.block, tc.panel
		n := tc.n
		_, h, _ := randomLayer(rng, 1, n, tc.tokens)
		diag := make([]float64, n)
		for i := range diag {
			diag[i] = h[i*n+i]
		}
		ut, pd, free, err := hinvUpperF32(h, n, 0.01, identity(n), diag)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer free()
		u64, pd64, err := hinvUpper(append([]float64(nil), h...), n, 0.01)
		if err != nil || pd64 != pd {
			t.Fatalf("%s: float64 path: damping %v, %v (float32: %v)", name, pd64, err, pd)
		}
		mean := 0.0
		for i := 0; i < n; i++ {
			mean += h[i*n+i] / float64(n)
		}
		hd := append([]float64(nil), h...)
		for i := 0; i < n; i++ {
			hd[i*n+i] += pd * mean
		}
		U := make([]float64, n*n)
		for r := 0; r < n; r++ {
			for c := 0; c < n; c++ {
				v := float64(ut[c*n+r])
				if c < r && v != 0 || r < c && ut[r*n+c] != 0 {
					t.Fatalf("%s: Uᵀ is not lower triangular at (%d, %d)", name, r, c)
				}
				U[r*n+c] = v
			}
			if !(U[r*n+r] > 0) {
				t.Fatalf("%s: U[%d][%d] = %v, want > 0", name, r, r, U[r*n+r])
			}
		}
		// ‖Uᵀ·U·Hd − I‖ (max entry), and the difference to the float64 path relative to U's size.
		uh := matMul(U, hd, n, n, n)
		res := 0.0
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				s := 0.0
				for k := 0; k <= i; k++ {
					s += U[k*n+i] * uh[k*n+j]
				}
				if i == j {
					s--
				}
				res = math.Max(res, math.Abs(s))
			}
		}
		diff, size := 0.0, 0.0
		for i := range U {
			diff = math.Max(diff, math.Abs(U[i]-u64[i]))
			size = math.Max(size, math.Abs(u64[i]))
		}
		// float32 keeps about 7 digits; the factorisation loses up to the condition number's
		// square root of them in U (≤ sqrt(100·n+1) ≈ 230 at n = 520) and the residual its size;
		// rounding errors of n-term sums grow as √n in practice (n in the worst case, kept for U).
		cond := 100*float64(n) + 1
		t.Logf("%s: damping %.2f, ‖UᵀUH − I‖max %.2g, max |U − U64| / max |U64| %.2g", name, pd, res, diff/size)
		if lim := math.Sqrt(float64(n)) * 0x1p-24 * cond; res > lim {
			t.Errorf("%s: ‖UᵀUH − I‖max = %.3g > %.3g", name, res, lim)
		}
		if lim := float64(n) * 0x1p-24 * math.Sqrt(cond); diff/size > lim {
			t.Errorf("%s: U differs from the float64 path by %.3g of its size > %.3g", name, diff/size, lim)
		}
	}
}

// antiTransposeLower maps every lower-triangle entry (i, j) to (n−1−j, n−1−i), across the
// parallel split, the whole tiles swapped through copies and the tiles on the diagonals, and
// leaves the strict upper triangle alone.
func TestAntiTransposeLower(t *testing.T) {
	for _, n := range []int{1, 2, 3, 31, 32, 33, 64, 97, 300, 515, 1024} {
		M := make([]float32, n*n)
		for i := range M {
			M[i] = float32(i)
		}
		antiTransposeLower(M, n)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				want := float32(i*n + j)
				if j <= i {
					want = float32((n-1-j)*n + n - 1 - i)
				}
				if M[i*n+j] != want {
					t.Fatalf("n=%d: (%d,%d) = %v, want %v", n, i, j, M[i*n+j], want)
				}
			}
		}
	}
}

// bigF32 hands a released mapping to the next request of a fitting size, cleared, and keeps at
// most bigCacheBytes of them (the largest unmapped first).
func TestBigF32Reuse(t *testing.T) {
	const n = 1 << 20  // 4 MiB
	bigCache.mu.Lock() // start from an empty cache (earlier tests leave mappings in it)
	for _, b := range bigCache.free {
		_ = cpu.Unmap(b)
	}
	bigCache.free, bigCache.bytes = nil, 0
	bigCache.mu.Unlock()
	a, freeA := bigF32(n)
	for i := range a {
		a[i] = 1
	}
	freeA()
	b, freeB := bigF32(n - 1000)
	if &a[0] != &b[0] && runtime.GOOS == "linux" {
		t.Fatal("a released mapping of the right size was not reused")
	}
	for i, v := range b {
		if v != 0 {
			t.Fatalf("reused value %d = %g, want 0", i, v)
		}
	}
	freeB()
	if c, free := bigF32(n / 4); &c[0] == &a[0] { // 4× smaller than the kept mapping: a new one
		t.Fatal("a mapping 4× the request was handed out")
	} else {
		free()
	}
	var c bufCache
	for _, size := range []int{bigCacheBytes / 2, bigCacheBytes / 4, bigCacheBytes / 2} {
		b, err := cpu.MapAnon(size)
		if err != nil {
			t.Skip(err)
		}
		c.put(b)
	}
	if c.bytes > bigCacheBytes || len(c.free) != 2 || c.bytes != bigCacheBytes*3/4 {
		t.Fatalf("kept %d mappings, %d bytes; want 2 and %d", len(c.free), c.bytes, bigCacheBytes*3/4)
	}
	if c.take(bigCacheBytes) != nil || c.take(bigCacheBytes/4) == nil {
		t.Fatal("take: wrong size handed out")
	}
}

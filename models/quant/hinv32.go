package quant

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// Large layers take GPTQ's inverse in float32, as the GPTQ reference does (torch.linalg.cholesky,
// cholesky_inverse and cholesky again, all float32 on the GPU), with the arithmetic in kernels/cpu's
// GEMM. gonum's float64 Potrf, Potri, Potrf ran at about 4 GFLOP/s here and were 23 s of a
// 4096-wide layer's 26. Two ideas cut the work besides the precision:
//
//   - One factorisation instead of three. With J the order-reversing permutation, factor
//     J·H·J = L·Lᵀ (lower); then H = R·Rᵀ with R = J·L·J upper, H⁻¹ = (R⁻¹)ᵀ·R⁻¹, and the upper
//     Cholesky factor of H⁻¹ is U = R⁻¹ = J·L⁻¹·J. So a Cholesky and a triangular inverse
//     (n³/3 + n³/3 flops) give U, where Potrf·Potri·Potrf spend 4n³/3 (Potri is a triangular
//     inverse and a triangular product, n³/3 each).
//   - Blocked, right-looking, with the panels' products on GemmSubF32; only the b×b diagonal
//     blocks are factorized and inverted in float64 (gonum), which is also where a matrix that is
//     not positive definite shows.
//
// The damping (≥ 1% of the mean diagonal, raised while the factorisation fails) bounds the
// condition number by about 100·n, so float32 keeps U to a few decimal digits more than the
// quantization grid needs (TestHinvUpperF32 checks it against the float64 path).

// hinvBlock is the width of the diagonal blocks, hinvPanel the height of the row panels whose
// products skip the zero triangle (variables so a test can use small ones).
var hinvBlock, hinvPanel = 256, 256

// hinvUpperF32 is hinvUpper in float32 for the Hessian Hp = H[perm, perm] whose diagonal is
// diag[perm] (GPTQ's dead columns have 1 there, where H has 0). It returns Uᵀ, the transpose of
// the upper Cholesky factor U of (Hp + damp·mean(diag)·I)⁻¹, as the lower triangle of an n×n
// float32 matrix (the strict upper triangle zero), so that a row of U from the diagonal on is a
// column of the result and U[r0:r1, c0:c1] is a strided block of it that GemmSubF32 reads as is;
// and the function that releases it (bigF32). H (symmetric, both triangles filled) is only read.
func hinvUpperF32(H []float64, n int, percdamp float64, perm []int, diag []float64) ([]float32, float64, func(), error) {
	mean := 0.0
	for _, d := range diag {
		mean += d
	}
	mean /= float64(n)
	M, free := bigF32(n * n)
	for pd := percdamp; pd < 1; pd += 0.01 {
		// M = J·(Hp + pd·mean·I)·J, lower triangle; the strict upper triangle must be zero.
		parallelRows(n, n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				src := H[perm[n-1-i]*n:]
				row := M[i*n : (i+1)*n]
				for j := 0; j < i; j++ {
					row[j] = float32(src[perm[n-1-j]])
				}
				row[i] = float32(diag[perm[n-1-i]] + pd*mean)
				clear(row[i+1:])
			}
		})
		if inv, ok := cholLowerF32(M, n); ok {
			triInvLowerF32(M, n, inv)
			if finite32(M) {
				antiTransposeLower(M, n)
				return M, pd, free, nil
			}
		}
	}
	free()
	return nil, 0, nil, fmt.Errorf("quant: the Hessian is not positive definite even with damping < 1 (n = %d)", n)
}

// bigF32 returns n zero float32 values and the function that releases them: from 1 MiB on an
// anonymous mapping with huge pages where the system allows (cpu.MapAnon), outside the Go heap,
// so that a module's n×n buffers neither fault in 4 KiB at a time nor wait for a collection;
// nothing may keep the slice after the release. Released mappings are kept for the next
// module (bigCache): on these VMs a fresh 4 KiB page costs 11 µs to fault in, and inside the
// quantizer's process huge pages are not always granted (GPTQ's calls faulted 550-1,700 pages
// each), while clearing a warm buffer costs a memset.
func bigF32(n int) ([]float32, func()) {
	if n*4 < 1<<20 {
		return make([]float32, n), func() {}
	}
	b := bigCache.take(n * 4)
	if b == nil {
		var err error
		if b, err = cpu.MapAnon(n * 4); err != nil {
			return make([]float32, n), func() {}
		}
	} else {
		f := cpu.Float32s(b)[:n]
		parallel(n, func(lo, hi int) { clear(f[lo:hi]) })
	}
	return cpu.Float32s(b)[:n], func() { bigCache.put(b) }
}

// bigCache holds released bigF32 mappings, at most bigCacheBytes in all (the largest are
// unmapped first), so that the modules of a layer reuse warm pages.
var bigCache bufCache

const bigCacheBytes = 256 << 20

type bufCache struct {
	mu    sync.Mutex
	free  [][]byte
	bytes int
}

// take removes and returns the smallest kept mapping of at least size bytes and at most twice
// that, or nil.
func (c *bufCache) take(size int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	best := -1
	for i, b := range c.free {
		if len(b) >= size && len(b) <= 2*size && (best < 0 || len(b) < len(c.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b := c.free[best]
	c.free = append(c.free[:best], c.free[best+1:]...)
	c.bytes -= len(b)
	return b
}

// put keeps b, then unmaps the largest kept mappings while the total is over bigCacheBytes.
func (c *bufCache) put(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.free = append(c.free, b)
	c.bytes += len(b)
	for c.bytes > bigCacheBytes {
		big := 0
		for i, x := range c.free {
			if len(x) > len(c.free[big]) {
				big = i
			}
		}
		c.bytes -= len(c.free[big])
		_ = cpu.Unmap(c.free[big])
		c.free = append(c.free[:big], c.free[big+1:]...)
	}
}

// cholLowerF32 factors the lower triangle of M (n×n) in place, M = L·Lᵀ, and reports whether M
// was positive definite. The strict upper triangle is left zero. It also returns the inverses
// of L's diagonal blocks (float64, b×b each, in order), which it needs for the panels and
// which are the diagonal blocks of L⁻¹, so triInvLowerF32 need not invert them again.
func cholLowerF32(M []float32, n int) ([]float64, bool) {
	pool := cpu.Default()
	nb := hinvBlock
	inv := make([]float64, n*nb)
	linv := make([]float32, nb*nb)
	panel := make([]float32, max(n-nb, 0)*nb)
	// factor is the diagonal block at k0 in float64: L11 = chol(A11) into M, and L11⁻¹ into inv.
	factor := func(k0 int) bool {
		b := min(k0+nb, n) - k0
		d := inv[k0*nb : k0*nb+b*b]
		getBlock(d, M, n, k0, b)
		if _, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Lower, N: b, Stride: b, Data: d}); !ok {
			return false
		}
		putBlock(M, n, k0, b, d)
		return lapack64.Trtri(blas64.Triangular{Uplo: blas.Lower, Diag: blas.NonUnit, N: b, Stride: b, Data: d})
	}
	if !factor(0) {
		return nil, false
	}
	for k0 := 0; k0+nb < n; k0 += nb {
		k1 := k0 + nb
		b := nb
		d := inv[k0*nb : k0*nb+b*b]
		for i := 0; i < b; i++ {
			for j := 0; j < b; j++ {
				v := 0.0
				if j <= i {
					v = d[i*b+j]
				}
				linv[i*b+j] = float32(-v)
			}
		}
		// Panel: L21 = A21·L11⁻ᵀ (s×b), kept contiguous for the trailing update.
		s := n - k1
		p := panel[:s*b]
		clear(p)
		pool.GemmSubF32(p, b, M[k1*n+k0:], n, linv[:b*b], b, s, b, b)
		for i := 0; i < s; i++ {
			copy(M[(k1+i)*n+k0:(k1+i)*n+k1], p[i*b:(i+1)*b])
		}
		// Trailing matrix: A22 −= L21·L21ᵀ, lower triangle, by row panels: first the next block
		// column (columns k1..k2), then the rest while the next diagonal block is factored on
		// another goroutine (its float64 work runs on one core; this keeps the other busy).
		k2 := min(k1+nb, n)
		for p0 := k1; p0 < n; p0 += hinvPanel {
			p1 := min(p0+hinvPanel, n)
			pool.GemmSubF32(M[p0*n+k1:], n, p[(p0-k1)*b:], b, p, b, p1-p0, b, min(p1, k2)-k1)
		}
		next := make(chan bool, 1)
		go func() { next <- factor(k1) }()
		for p0 := k1; p0 < n; p0 += hinvPanel {
			if p1 := min(p0+hinvPanel, n); p1 > k2 {
				pool.GemmSubF32(M[p0*n+k2:], n, p[(p0-k1)*b:], b, p[(k2-k1)*b:], b, p1-p0, b, p1-k2)
			}
		}
		ok := <-next
		// The row panels also wrote above the diagonal of their own square: clear it again.
		for i := k1; i < n; i++ {
			clear(M[i*n+i+1 : i*n+min((i-k1)/hinvPanel*hinvPanel+k1+hinvPanel, n)])
		}
		if !ok {
			return nil, false
		}
	}
	return inv, true
}

// triInvLowerF32 replaces the lower triangular L in M by L⁻¹, in place, by column blocks from
// the last: X21 = −X22·L21·X11 with X22 already inverted and X11 = L11⁻¹ from inv
// (cholLowerF32's diagonal-block inverses).
func triInvLowerF32(M []float32, n int, inv []float64) {
	pool := cpu.Default()
	nb := hinvBlock
	xt := make([]float32, nb*nb)
	lt := make([]float32, max(n-nb, 0)*nb)
	t := make([]float32, max(n-nb, 0)*nb)
	for j0 := (n - 1) / nb * nb; j0 >= 0; j0 -= nb {
		j1 := min(j0+nb, n)
		b, s := j1-j0, n-j1
		d := inv[j0*nb : j0*nb+b*b]
		if s > 0 {
			// L21ᵀ (b×s), the right-hand side of T = −X22·L21.
			l := lt[:b*s]
			parallelRows(s, b, func(lo, hi int) { cpu.TransposeF32(l[lo:], s, M[(j1+lo)*n+j0:], n, hi-lo, b) })
			tt := t[:s*b]
			clear(tt)
			for p0 := j1; p0 < n; p0 += hinvPanel {
				p1 := min(p0+hinvPanel, n)
				pool.GemmSubF32(tt[(p0-j1)*b:], b, M[p0*n+j1:], n, l, s, p1-p0, p1-j1, b)
			}
			// X21 = T·X11: GemmSubF32 subtracts, so it is given −X11ᵀ.
			for c := 0; c < b; c++ {
				for k := 0; k < b; k++ {
					v := 0.0
					if c <= k {
						v = d[k*b+c]
					}
					xt[c*b+k] = float32(-v)
				}
			}
			for i := j1; i < n; i++ {
				clear(M[i*n+j0 : i*n+j1])
			}
			pool.GemmSubF32(M[j1*n+j0:], n, tt, b, xt[:b*b], b, s, b, b)
		}
		putBlock(M, n, j0, b, d)
	}
}

// getBlock copies the lower triangle of M's b×b diagonal block at k0 into d (b×b, float64).
func getBlock(d []float64, M []float32, n, k0, b int) {
	d = d[:b*b]
	clear(d)
	for i := 0; i < b; i++ {
		for j, v := range M[(k0+i)*n+k0 : (k0+i)*n+k0+i+1] {
			d[i*b+j] = float64(v)
		}
	}
}

// putBlock writes the lower triangle of d back into M's diagonal block at k0.
func putBlock(M []float32, n, k0, b int, d []float64) {
	for i := 0; i < b; i++ {
		row := M[(k0+i)*n+k0 : (k0+i)*n+k0+i+1]
		for j := range row {
			row[j] = float32(d[i*b+j])
		}
	}
}

// antiTransposeLower reflects the lower triangle of M across the anti-diagonal, in place:
// (i, j) ↔ (n−1−j, n−1−i), which maps the lower triangle onto itself. Applied to X = L⁻¹ it
// gives (J·X·J)ᵀ = Uᵀ. A 32×32 tile wholly below the diagonal and above the anti-diagonal
// swaps with a whole tile on the other side: both are read and written row by row through two
// local copies, the reflection done between them in L1 (element by element, the partner's
// column walk touched a new row, and a new page, at every step). The tiles on either diagonal
// swap element by element.
func antiTransposeLower(M []float32, n int) {
	const tile = 32
	// Each pair is swapped from its element with i+j < n−1 only, so the tile rows can run on
	// different workers without touching the same element twice.
	parallelRows((n+tile-1)/tile, tile*n, func(lo, hi int) {
		var ta, tb [tile][tile]float32
		for i0 := lo * tile; i0 < min(hi*tile, n); i0 += tile {
			for j0 := 0; j0 <= i0; j0 += tile {
				if j0+tile <= i0 && i0+tile <= n && i0+j0+2*tile-2 < n-1 {
					// rows n−j0−32.. and columns n−i0−32.. hold the partners
					r0, c0 := n-j0-tile, n-i0-tile
					for r := range tile {
						ta[r] = [tile]float32(M[(i0+r)*n+j0:])
						tb[r] = [tile]float32(M[(r0+r)*n+c0:])
					}
					for r := range tile {
						ra := (*[tile]float32)(M[(i0+r)*n+j0:])
						rb := (*[tile]float32)(M[(r0+r)*n+c0:])
						for c := range tile {
							ra[c] = tb[tile-1-c][tile-1-r]
							rb[c] = ta[tile-1-c][tile-1-r]
						}
					}
					continue
				}
				for i := i0; i < min(i0+tile, n); i++ {
					// j ≤ i, and i+j < n−1; the partner walks up column n−1−i
					row := M[i*n : i*n+max(min(j0+tile, i+1, n-1-i), j0)]
					b := (n-1-j0)*n + n - 1 - i
					for j := j0; j < len(row); j++ {
						row[j], M[b] = M[b], row[j]
						b -= n
					}
				}
			}
		}
	})
}

func finite32(x []float32) bool {
	var bad atomic.Bool
	parallel(len(x), func(lo, hi int) {
		for _, v := range x[lo:hi] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				bad.Store(true)
				return
			}
		}
	})
	return !bad.Load()
}

//go:build amd64 && !noasm

package cpu

import "golang.org/x/sys/cpu"

//go:noescape
func dotF32AVX2(x, w *float32, n int) float32

//go:noescape
func dotBF16AVX2(x *float32, w *uint16, n int) float32

//go:noescape
func dotF16AVX2(x *float32, w *uint16, n int) float32

//go:noescape
func dot2x4F32AVX2(x0, x1, w *float32, ldw, n int, out *[8]float32)

var (
	hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasF16C    = hasAVX2FMA && cpu.X86.HasF16C
)

// DotF32 returns Σ x[i]·w[i] over len(x) (w at least as long).
func DotF32(x, w []float32) float32 {
	n := len(x)
	_ = w[n-1 : n]
	if !hasAVX2FMA || n < 32 {
		return dotF32Go(x, w[:n])
	}
	n32 := n &^ 31
	s := dotF32AVX2(&x[0], &w[0], n32)
	if n32 < n {
		s += dotF32Go(x[n32:], w[n32:n])
	}
	return s
}

// DotBF16 returns Σ x[i]·bf16(w[i]).
func DotBF16(x []float32, w []uint16) float32 {
	n := len(x)
	_ = w[n-1 : n]
	if !hasAVX2FMA || n < 32 {
		return dotBF16Go(x, w[:n])
	}
	n32 := n &^ 31
	s := dotBF16AVX2(&x[0], &w[0], n32)
	if n32 < n {
		s += dotBF16Go(x[n32:], w[n32:n])
	}
	return s
}

// DotF16 returns Σ x[i]·f16(w[i]).
func DotF16(x []float32, w []uint16) float32 {
	n := len(x)
	_ = w[n-1 : n]
	if !hasF16C || n < 32 {
		return dotF16Go(x, w[:n])
	}
	n32 := n &^ 31
	s := dotF16AVX2(&x[0], &w[0], n32)
	if n32 < n {
		s += dotF16Go(x[n32:], w[n32:n])
	}
	return s
}

// dot2x4F32 computes out[0:4] = x0·w_j and out[4:8] = x1·w_j for the four weight rows
// w[j*ldw : j*ldw+len(x0)], j = 0..3.
func dot2x4F32(x0, x1, w []float32, ldw int, out *[8]float32) {
	n := len(x0)
	_ = x1[n-1]
	_ = w[3*ldw+n-1]
	if !hasAVX2FMA || n < 8 {
		dot2x4F32Go(x0, x1, w, ldw, out)
		return
	}
	n8 := n &^ 7
	dot2x4F32AVX2(&x0[0], &x1[0], &w[0], ldw, n8, out)
	if n8 < n {
		for j := 0; j < 4; j++ {
			row := w[j*ldw+n8 : j*ldw+n]
			out[j] += dotF32Go(x0[n8:], row)
			out[4+j] += dotF32Go(x1[n8:], row)
		}
	}
}

// Accelerated reports which dense kernels run in assembly on this machine.
func Accelerated() string {
	switch {
	case hasF16C:
		return "avx2+fma+f16c"
	case hasAVX2FMA:
		return "avx2+fma"
	}
	return "none (pure Go)"
}

//go:noescape
func gemm6x16AVX2(a *float32, lda int, b *float32, k int, c *float32, ldc int, sub int)

// gemm6x16 sets c[r*ldc : r*ldc+16] = Σ_t a[r*lda+t]·b[t*16 : t*16+16] for r < 6 (see the
// assembly). hasGEMM6x16 says whether it runs in assembly.
func gemm6x16(a []float32, lda int, b []float32, k int, c []float32, ldc int) {
	_ = a[5*lda+k-1]
	_ = b[16*k-1]
	_ = c[5*ldc+15]
	if !hasAVX2FMA {
		gemm6x16Go(a, lda, b, k, c, ldc, false)
		return
	}
	gemm6x16AVX2(&a[0], lda, &b[0], k, &c[0], ldc, 0)
}

// gemm6x16Sub is gemm6x16 subtracting the tile from c instead of storing it.
func gemm6x16Sub(a []float32, lda int, b []float32, k int, c []float32, ldc int) {
	_ = a[5*lda+k-1]
	_ = b[16*k-1]
	_ = c[5*ldc+15]
	if !hasAVX2FMA {
		gemm6x16Go(a, lda, b, k, c, ldc, true)
		return
	}
	gemm6x16AVX2(&a[0], lda, &b[0], k, &c[0], ldc, 1)
}

var hasGEMM6x16 = hasAVX2FMA

//go:noescape
func gemm6x32AVX512(a *float32, lda int, b0, b1 *float32, k int, c *float32, ldc int, sub int)

// hasGEMM6x32 says whether gemm6x32 runs in assembly (AVX-512); where it does, the packed
// GEMMs take two panels at a time with it (a variable so tests can cover both kernels).
var hasGEMM6x32 = hasAVX512

// gemm6x32 is gemm6x16 over two panels at once, b0 for c[r][0:16] and b1 for c[r][16:32],
// subtracting the tile from c when sub is set.
func gemm6x32(a []float32, lda int, b0, b1 []float32, k int, c []float32, ldc int, sub bool) {
	_ = a[5*lda+k-1]
	_ = b0[16*k-1]
	_ = b1[16*k-1]
	_ = c[5*ldc+31]
	if !hasAVX512 {
		gemm6x16Go(a, lda, b0, k, c, ldc, sub)
		gemm6x16Go(a, lda, b1, k, c[16:], ldc, sub)
		return
	}
	s := 0
	if sub {
		s = 1
	}
	gemm6x32AVX512(&a[0], lda, &b0[0], &b1[0], k, &c[0], ldc, s)
}

//go:noescape
func axpyAVX2(y *float32, a float32, x *float32, n int)

// AXPY sets y += a·x.
func AXPY(y []float32, a float32, x []float32) {
	n := len(y)
	if n == 0 {
		return
	}
	_ = x[n-1]
	n16 := n &^ 15
	if hasAVX2FMA && n16 > 0 {
		axpyAVX2(&y[0], a, &x[0], n16)
	}
	if !hasAVX2FMA {
		n16 = 0
	}
	axpyGo(y[n16:], a, x[n16:n])
}

//go:noescape
func gram6x16AVX2(a *float32, b *float32, k int, c *float64, ldc int)

//go:noescape
func gram6x32AVX512(a *float32, b0, b1 *float32, k int, c *float64, ldc int)

// gram6x16 adds the Gram tile Σ_t a[t·6 + r]·b[t·16 + j] (summed in float32) to
// c[r·ldc + j] for r < 6, j < 16.
func gram6x16(a, b []float32, k int, c []float64, ldc int) {
	_ = a[6*k-1]
	_ = b[16*k-1]
	_ = c[5*ldc+15]
	if !hasAVX2FMA {
		gram6x16Go(a, b, k, c, ldc)
		return
	}
	gram6x16AVX2(&a[0], &b[0], k, &c[0], ldc)
}

// gram6x32 is gram6x16 over two panels at once, b0 for columns 0..15 and b1 for 16..31.
func gram6x32(a, b0, b1 []float32, k int, c []float64, ldc int) {
	_ = a[6*k-1]
	_ = b0[16*k-1]
	_ = b1[16*k-1]
	_ = c[5*ldc+31]
	if !hasAVX512 {
		gram6x16(a, b0, k, c, ldc)
		gram6x16(a, b1, k, c[16:], ldc)
		return
	}
	gram6x32AVX512(&a[0], &b0[0], &b1[0], k, &c[0], ldc)
}

//go:noescape
func subOuterAVX2(y *float32, ldy int, a *float32, na int, x *float32, n int)

//go:noescape
func subOuterAVX512(y *float32, ldy int, a *float32, na int, x *float32, n int)

// hasSubOuter512 says whether SubOuterF32 runs on 16-lane registers (toggled by the tests).
var hasSubOuter512 = hasAVX512

// SubOuterF32 sets y[j·ldy + p] −= a[j]·x[p] for j < len(a), p < len(x): bit for bit what
// AXPY(y[j·ldy:], −a[j], x) for every j gives, with x loaded once for all the rows (GPTQ's
// rank-1 error feedback).
func SubOuterF32(y []float32, ldy int, a, x []float32) {
	n, rows := len(x), len(a)
	if n == 0 || rows == 0 {
		return
	}
	_ = y[(rows-1)*ldy+n-1]
	n16 := n &^ 15
	switch {
	case !hasAVX2FMA || n16 == 0:
		n16 = 0
	case hasSubOuter512:
		subOuterAVX512(&y[0], ldy, &a[0], rows, &x[0], n16)
	default:
		subOuterAVX2(&y[0], ldy, &a[0], rows, &x[0], n16)
	}
	if n16 < n {
		for j, v := range a {
			axpyGo(y[j*ldy+n16:j*ldy+n], -v, x[n16:])
		}
	}
}

//go:noescape
func subOuterF64AVX512(y *float64, ldy int, a *float64, na int, x *float64, n int)

// SubOuterF64 sets y[j·ldy + p] −= a[j]·x[p] for j < len(a), p < len(x), the product rounded
// before the subtraction: bit for bit Go's y[...] -= a[j]*x[p] on amd64 (stage 2's feedback of
// a block column's projection errors to the block's later columns, float64), with AVX-512 eight
// values at a time.
func SubOuterF64(y []float64, ldy int, a, x []float64) {
	n, rows := len(x), len(a)
	if n == 0 || rows == 0 {
		return
	}
	_ = y[(rows-1)*ldy+n-1]
	if hasAVX512 {
		subOuterF64AVX512(&y[0], ldy, &a[0], rows, &x[0], n)
		return
	}
	subOuterF64Go(y, ldy, a, x)
}

//go:noescape
func addRowsF64AVX512(y *float64, n int, a *float64, k int, x *float64, ldx int)

// AddRowsF64 sets y[p] += a[l]·x[l·ldx + p] for l = 0, …, len(a)−1 in order and p < len(y),
// skipping a zero a[l] and rounding each product before its addition: bit for bit gonum's Dgemm
// (C += A·B) for one row of C (stage 2's least-squares targets, B + P_S·G⁻¹), with AVX-512 the
// row held in registers over all of a.
func AddRowsF64(y, a, x []float64, ldx int) {
	n, k := len(y), len(a)
	if n == 0 || k == 0 {
		return
	}
	_ = x[(k-1)*ldx+n-1]
	if hasAVX512 {
		addRowsF64AVX512(&y[0], n, &a[0], k, &x[0], ldx)
		return
	}
	addRowsF64Go(y, a, x, ldx)
}

//go:noescape
func subOuter16AVX512(y *float32, ldy int, aT *float32, x *float32, ldx int, cols int, chunks int)

// SubOuter16F32 is SubOuterF32(y, ldy, a_i, x[i·ldx : i·ldx+n]) for i = 0, …, 15 in order, with
// a_i[j] = aT[16j + i] for j < cols: the same fused multiply-adds in the same order, so the same
// bits. With AVX-512 each y value is read and written once for all sixteen (GPTQ's feedback of
// sixteen columns' errors to the later columns of a block; one at a time, it spent a load and a
// store per multiply-add); elsewhere it is those sixteen calls.
func SubOuter16F32(y []float32, ldy int, aT []float32, x []float32, ldx, n, cols int) {
	if n <= 0 || cols <= 0 {
		return
	}
	_, _, _ = y[(cols-1)*ldy+n-1], aT[16*cols-1], x[15*ldx+n-1]
	c8 := 0
	if hasSubOuter512 {
		n16 := n &^ 15
		c8 = cols &^ 7
		if n16 > 0 && c8 > 0 {
			subOuter16AVX512(&y[0], ldy, &aT[0], &x[0], ldx, c8, n16/16)
		}
		// The rows past the last 16 of those columns, as SubOuterF32 takes them (its unfused
		// tail), sixteen times in order.
		if n16 < n {
			for i := 0; i < 16; i++ {
				for j := 0; j < c8; j++ {
					axpyGo(y[j*ldy+n16:j*ldy+n], -aT[16*j+i], x[i*ldx+n16:i*ldx+n])
				}
			}
		}
	}
	subOuter16Rest(y, ldy, aT, x, ldx, n, c8, cols)
}

//go:noescape
func axpyRowsAVX2(y, a, x *float32, rows, ldx, n int)

// AXPYRows sets y[p] = Σ_r a[r]·x[r·ldx + p] for p < len(y), r < len(a): bit for bit what
// clearing y and calling AXPY(y, a[r], x[r·ldx:]) for r = 0, 1, ... gives (small-head
// attention's scores), with y read and written once instead of once per row.
func AXPYRows(y, a, x []float32, ldx int) {
	n, rows := len(y), len(a)
	if n == 0 {
		return
	}
	if rows == 0 {
		clear(y)
		return
	}
	_ = x[(rows-1)*ldx+n-1]
	n16 := n &^ 15
	if !hasAVX2FMA || n16 == 0 {
		clear(y)
		for r, v := range a {
			AXPY(y, v, x[r*ldx:r*ldx+n])
		}
		return
	}
	axpyRowsAVX2(&y[0], &a[0], &x[0], rows, ldx, n16)
	clear(y[n16:])
	for r, v := range a { // the tail as AXPY runs it
		axpyGo(y[n16:], v, x[r*ldx+n16:r*ldx+n])
	}
}

//go:noescape
func dot1x4F32AVX2(x, w *float32, ldw, n int, out *[4]float32)

// Dot1x4F32 sets out[j] = x·w[j*ldw : j*ldw+len(x)] for j < 4.
func Dot1x4F32(x, w []float32, ldw int, out *[4]float32) {
	n := len(x)
	_ = w[3*ldw+n-1]
	if !hasAVX2FMA || n < 8 {
		dot1x4F32Go(x, w, ldw, out)
		return
	}
	n8 := n &^ 7
	dot1x4F32AVX2(&x[0], &w[0], ldw, n8, out)
	if n8 < n {
		for j := 0; j < 4; j++ {
			out[j] += dotF32Go(x[n8:], w[j*ldw+n8:j*ldw+n])
		}
	}
}

//go:noescape
func gridErrAVX2(codes *uint8, e *float32, loss *float64, w *float32, scale, zero *float64, n int, maxq, d float64)

//go:noescape
func gridErrAVX512(codes *uint8, e *float32, loss *float64, w *float32, scale, zero *float64, n int, maxq, d float64)

// hasGridErr512 says whether GridErrF32 takes 8 float64 lanes (a variable so a test can run
// the 4-lane form on a machine that has both).
var hasGridErr512 = hasAVX512

// GridErrF32 rounds a column of weights onto per-row grids and gives the error GPTQ feeds back:
// for each k, q = clamp(roundEven(w/scale) + zero, 0, maxq), codes[k] = q,
// e[k] = (w − scale·(q − zero)) / d and loss[k] += e²/2, in float64 (models/quant's Grid.Code
// and Dequant, operation for operation, so the same bits).
func GridErrF32(codes []uint8, e []float32, loss []float64, w []float32, scale, zero []float64, maxq, d float64) {
	n := len(w)
	if n == 0 {
		return
	}
	_, _, _, _, _ = codes[n-1], e[n-1], loss[n-1], scale[n-1], zero[n-1]
	v := 0
	switch {
	case !hasAVX2FMA:
	case hasGridErr512:
		v = n &^ 7
		if v > 0 {
			gridErrAVX512(&codes[0], &e[0], &loss[0], &w[0], &scale[0], &zero[0], v, maxq, d)
		}
	default:
		v = n &^ 3
		if v > 0 {
			gridErrAVX2(&codes[0], &e[0], &loss[0], &w[0], &scale[0], &zero[0], v, maxq, d)
		}
	}
	gridErrGo(codes[v:n], e[v:n], loss[v:n], w[v:], scale[v:n], zero[v:n], maxq, d)
}

//go:noescape
func gridF64AVX512(codes *uint8, v, e, x, scale, zero *float64, n int, maxq, d float64)

// GridF64 rounds float64 values onto per-row grids: for each k, q = clamp(roundEven(x/scale) +
// zero, 0, maxq), codes[k] = q, v[k] = scale·(q − zero) and e[k] = (x − v[k])/d, each product
// rounded before its use (models/quant's Grid.Code and Dequant and stage 2's error feedback,
// operation for operation: the same bits). Eight lanes with AVX-512.
func GridF64(codes []uint8, v, e, x, scale, zero []float64, maxq, d float64) {
	n := len(x)
	if n == 0 {
		return
	}
	_, _, _, _, _ = codes[n-1], v[n-1], e[n-1], scale[n-1], zero[n-1]
	k := 0
	if hasGridErr512 {
		k = n &^ 7
		if k > 0 {
			gridF64AVX512(&codes[0], &v[0], &e[0], &x[0], &scale[0], &zero[0], k, maxq, d)
		}
	}
	gridF64Go(codes[k:n], v[k:n], e[k:n], x[k:], scale[k:n], zero[k:n], maxq, d)
}

//go:noescape
func transpose8F64AVX(dst *float32, ldd int, src *float64, lds int, blocks int) (bad uint64)

// TransposeF64ToF32 sets dst[c·ldd + r] = float32(src[r·lds + c]) for r < rows, c < cols, and
// reports whether every converted value is finite (false for a non-finite src value, and for
// one beyond float32's range). 8×8 blocks are converted and transposed in registers, the edges
// element by element. GPTQ makes its float32 working copy of Wᵀ with it: one pass over the
// float64 weights.
func TransposeF64ToF32(dst []float32, ldd int, src []float64, lds, rows, cols int) (finite bool) {
	if rows <= 0 || cols <= 0 {
		return true
	}
	_, _ = src[(rows-1)*lds+cols-1], dst[(cols-1)*ldd+rows-1]
	r8, c8 := rows&^7, cols&^7
	if !hasAVX2FMA {
		r8, c8 = 0, 0
	}
	finite = true
	if c8 > 0 {
		for r := 0; r < r8; r += 8 {
			if transpose8F64AVX(&dst[r], ldd, &src[r*lds], lds, c8/8) != 0 {
				finite = false
			}
		}
	}
	if c8 < cols && r8 > 0 {
		finite = transposeF64ToF32Go(dst[c8*ldd:], ldd, src[c8:], lds, r8, cols-c8) && finite
	}
	if r8 < rows {
		finite = transposeF64ToF32Go(dst[r8:], ldd, src[r8*lds:], lds, rows-r8, cols) && finite
	}
	return finite
}

//go:noescape
func transpose8AVX(dst *float32, ldd int, src *float32, lds int, blocks int)

// TransposeF32 sets dst[c·ldd + r] = src[r·lds + c] for r < rows, c < cols: 8×8 blocks in
// registers (eight rows loaded, unpacked, shuffled and recombined into eight columns), the
// edges element by element. The quantizer moves GPTQ's weight tiles in and out of column-major
// order with it.
func TransposeF32(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	_, _ = src[(rows-1)*lds+cols-1], dst[(cols-1)*ldd+rows-1]
	r8, c8 := rows&^7, cols&^7
	if !hasAVX2FMA {
		r8, c8 = 0, 0
	}
	if c8 > 0 {
		for r := 0; r < r8; r += 8 {
			transpose8AVX(&dst[r], ldd, &src[r*lds], lds, c8/8)
		}
	}
	if c8 < cols {
		for r := 0; r < r8; r++ {
			for c := c8; c < cols; c++ {
				dst[c*ldd+r] = src[r*lds+c]
			}
		}
	}
	if r8 < rows {
		transposeGo(dst[r8:], ldd, src[r8*lds:], lds, rows-r8, cols)
	}
}

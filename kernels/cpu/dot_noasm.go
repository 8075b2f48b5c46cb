//go:build !amd64 || noasm

package cpu

// DotF32 returns Σ x[i]·w[i] over len(x) (w at least as long).
func DotF32(x, w []float32) float32 { return dotF32Go(x, w[:len(x)]) }

// DotBF16 returns Σ x[i]·bf16(w[i]).
func DotBF16(x []float32, w []uint16) float32 { return dotBF16Go(x, w[:len(x)]) }

// DotF16 returns Σ x[i]·f16(w[i]).
func DotF16(x []float32, w []uint16) float32 { return dotF16Go(x, w[:len(x)]) }

func dot2x4F32(x0, x1, w []float32, ldw int, out *[8]float32) { dot2x4F32Go(x0, x1, w, ldw, out) }

// Accelerated reports which dense kernels run in assembly on this machine.
func Accelerated() string { return "none (pure Go)" }

func gemm6x16(a []float32, lda int, b []float32, k int, c []float32, ldc int) {
	gemm6x16Go(a, lda, b, k, c, ldc, false)
}

var hasGEMM6x16 = false

var hasGEMM6x32 = false

var hasSubOuter512 = false

func gram6x16(a, b []float32, k int, c []float64, ldc int) { gram6x16Go(a, b, k, c, ldc) }

func gram6x32(a, b0, b1 []float32, k int, c []float64, ldc int) {
	gram6x16Go(a, b0, k, c, ldc)
	gram6x16Go(a, b1, k, c[16:], ldc)
}

func gemm6x32(a []float32, lda int, b0, b1 []float32, k int, c []float32, ldc int, sub bool) {
	gemm6x16Go(a, lda, b0, k, c, ldc, sub)
	gemm6x16Go(a, lda, b1, k, c[16:], ldc, sub)
}

func gemm6x16Sub(a []float32, lda int, b []float32, k int, c []float32, ldc int) {
	gemm6x16Go(a, lda, b, k, c, ldc, true)
}

// AXPY sets y += a·x.
func AXPY(y []float32, a float32, x []float32) { axpyGo(y, a, x) }

// SubOuterF32 sets y[j·ldy + p] −= a[j]·x[p] for j < len(a), p < len(x), as AXPY(y[j·ldy:],
// −a[j], x) for every j does.
func SubOuterF32(y []float32, ldy int, a, x []float32) {
	for j, v := range a {
		AXPY(y[j*ldy:j*ldy+len(x)], -v, x)
	}
}

// Dot1x4F32 sets out[j] = x·w[j*ldw : j*ldw+len(x)] for j < 4.
func Dot1x4F32(x, w []float32, ldw int, out *[4]float32) { dot1x4F32Go(x, w, ldw, out) }

// AXPYRows sets y[p] = Σ_r a[r]·x[r·ldx + p] for p < len(y), r < len(a), as clearing y and
// calling AXPY(y, a[r], x[r·ldx:]) for r = 0, 1, ... does.
func AXPYRows(y, a, x []float32, ldx int) {
	clear(y)
	for r, v := range a {
		AXPY(y, v, x[r*ldx:r*ldx+len(y)])
	}
}

// GridErrF32 rounds a column of weights onto per-row grids and gives the error GPTQ feeds back
// (see the amd64 form).
func GridErrF32(codes []uint8, e []float32, loss []float64, w []float32, scale, zero []float64, maxq, d float64) {
	n := len(w)
	gridErrGo(codes[:n], e[:n], loss[:n], w, scale[:n], zero[:n], maxq, d)
}

var hasGridErr512 = false

// GridF64 rounds float64 values onto per-row grids (see the amd64 form).
func GridF64(codes []uint8, v, e, x, scale, zero []float64, maxq, d float64) {
	n := len(x)
	gridF64Go(codes[:n], v[:n], e[:n], x, scale[:n], zero[:n], maxq, d)
}

// TransposeF32 sets dst[c·ldd + r] = src[r·lds + c] for r < rows, c < cols.
func TransposeF32(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	transposeGo(dst, ldd, src, lds, rows, cols)
}

// TransposeF64ToF32 sets dst[c·ldd + r] = float32(src[r·lds + c]) for r < rows, c < cols, and
// reports whether every converted value is finite.
func TransposeF64ToF32(dst []float32, ldd int, src []float64, lds, rows, cols int) bool {
	if rows <= 0 || cols <= 0 {
		return true
	}
	return transposeF64ToF32Go(dst, ldd, src, lds, rows, cols)
}

// SubOuter16F32 is SubOuterF32(y, ldy, a_i, x[i·ldx : i·ldx+n]) for i = 0, …, 15 in order, with
// a_i[j] = aT[16j + i] for j < cols.
func SubOuter16F32(y []float32, ldy int, aT []float32, x []float32, ldx, n, cols int) {
	if n <= 0 || cols <= 0 {
		return
	}
	subOuter16Rest(y, ldy, aT, x, ldx, n, 0, cols)
}

// SubOuterF64 sets y[j·ldy + p] −= a[j]·x[p] for j < len(a), p < len(x).
func SubOuterF64(y []float64, ldy int, a, x []float64) {
	if len(x) == 0 || len(a) == 0 {
		return
	}
	subOuterF64Go(y, ldy, a, x)
}

// AddRowsF64 sets y[p] += a[l]·x[l·ldx + p] for l in order, skipping a zero a[l].
func AddRowsF64(y, a, x []float64, ldx int) {
	if len(y) == 0 || len(a) == 0 {
		return
	}
	addRowsF64Go(y, a, x, ldx)
}

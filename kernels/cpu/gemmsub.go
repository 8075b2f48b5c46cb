package cpu

// GemmSubF32 subtracts a strided product in place:
//
//	dst[i*ldd+j] -= Σ_{t<k} x[i*ldx+t] · w[j*ldw+t]   for i < n, j < m.
//
// The quantizer's blocked Cholesky, triangular inverse and GPTQ updates work on sub-blocks of
// larger matrices and subtract products from them; here the weight rows are packed as
// MatMulF32's are and the 6×16 micro-kernel subtracts its tile from dst instead of storing it,
// so there is neither a copy of the operands nor a product buffer and a second pass.
// It panics when the slices are too short for the dimensions and strides.
func (p *Pool) GemmSubF32(dst []float32, ldd int, x []float32, ldx int, w []float32, ldw int, n, k, m int) {
	if n == 0 || m == 0 || k == 0 {
		return
	}
	if n < 0 || k < 0 || m < 0 || ldd < m || ldx < k || ldw < k ||
		len(dst) < (n-1)*ldd+m || len(x) < (n-1)*ldx+k || len(w) < (m-1)*ldw+k {
		panic("cpu: GemmSubF32 dimensions do not match the slices")
	}
	p.gemmPackedStrided(dst, ldd, x, ldx, n, k, m, denseSource{k: k, pack: packF32Strided(w, k, ldw),
		dot: func(xi []float32, j int) float32 { return DotF32(xi, w[j*ldw:j*ldw+k]) }}, true)
}

// GemmSubF32T is GemmSubF32 with the second operand stored k-major:
//
//	dst[i*ldd+j] -= Σ_{t<k} x[i*ldx+t] · wT[t*ldw+j]   for i < n, j < m.
//
// GPTQ holds its weights and errors transposed (a column's rows contiguous), so its updates
// take the errors this way; packing them into panels is then a copy of 16 values per t rather
// than a transposition. Each sum is taken in the same order as GemmSubF32's, so the two give
// the same bits on the same values (transposed). It panics when the slices are too short.
func (p *Pool) GemmSubF32T(dst []float32, ldd int, x []float32, ldx int, wT []float32, ldw int, n, k, m int) {
	if n == 0 || m == 0 || k == 0 {
		return
	}
	if n < 0 || k < 0 || m < 0 || ldd < m || ldx < k || ldw < m ||
		len(dst) < (n-1)*ldd+m || len(x) < (n-1)*ldx+k || len(wT) < (k-1)*ldw+m {
		panic("cpu: GemmSubF32T dimensions do not match the slices")
	}
	// The last m mod 16 columns (the only ones outside whole panels: blocks and shares are
	// multiples of 16) go through dots, gathered once here.
	m16 := m &^ 15
	tail := make([]float32, (m-m16)*k)
	for j := m16; j < m; j++ {
		for t := 0; t < k; t++ {
			tail[(j-m16)*k+t] = wT[t*ldw+j]
		}
	}
	p.gemmPackedStrided(dst, ldd, x, ldx, n, k, m, denseSource{k: k, pack: packF32KMajor(wT, k, ldw),
		dot: func(xi []float32, j int) float32 { return DotF32(xi, tail[(j-m16)*k:(j-m16+1)*k]) }}, true)
}

// packF32KMajor packs columns j of a k-major matrix (wT[t*ldw+j]) as panels: panel q's row t
// is the 16 values wT[t*ldw+j0+16q : +16].
func packF32KMajor(wT []float32, k, ldw int) func([]float32, int, int) {
	return func(dst []float32, j0, rows int) {
		for q := 0; q < rows/16; q++ {
			panel := dst[q*16*k : (q+1)*16*k]
			for t := 0; t < k; t++ { // an array assignment: copy's call cost 0.3 of the packing
				*(*[16]float32)(panel[t*16:]) = *(*[16]float32)(wT[t*ldw+j0+q*16:])
			}
		}
	}
}

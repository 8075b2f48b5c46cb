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

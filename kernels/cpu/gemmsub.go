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
	mb := packBlockRows(k)
	p.Run(m, 16, func(lo, hi int) {
		buf := scratch.Get().(*[]float32)
		if cap(*buf) < mb*k {
			*buf = make([]float32, mb*k)
		}
		n6 := n - n%6
		for j0 := lo; j0 < hi; j0 += mb {
			rows := min(mb, hi-j0)
			full := rows &^ 15
			panels := (*buf)[:full*k]
			for q := 0; q < full/16; q++ {
				panel := panels[q*16*k : (q+1)*16*k]
				for c := 0; c < 16; c++ {
					row := w[(j0+q*16+c)*ldw : (j0+q*16+c)*ldw+k]
					for t, v := range row {
						panel[t*16+c] = v
					}
				}
			}
			nq := full / 16
			for i := 0; i < n6 && full > 0; i += 6 {
				q := 0
				if hasGEMM6x32 {
					for ; q+1 < nq; q += 2 {
						gemm6x32(x[i*ldx:], ldx, panels[q*16*k:(q+1)*16*k], panels[(q+1)*16*k:(q+2)*16*k], k, dst[i*ldd+j0+16*q:], ldd, true)
					}
				}
				for ; q < nq; q++ {
					gemm6x16Sub(x[i*ldx:], ldx, panels[q*16*k:(q+1)*16*k], k, dst[i*ldd+j0+16*q:], ldd)
				}
			}
			for i := n6; i < n; i++ { // leftover rows of x
				xi := x[i*ldx : i*ldx+k]
				for j := j0; j < j0+full; j++ {
					dst[i*ldd+j] -= DotF32(xi, w[j*ldw:j*ldw+k])
				}
			}
			for j := j0 + full; j < j0+rows; j++ { // leftover rows of w
				wj := w[j*ldw : j*ldw+k]
				for i := 0; i < n; i++ {
					dst[i*ldd+j] -= DotF32(x[i*ldx:i*ldx+k], wj)
				}
			}
		}
		scratch.Put(buf)
	})
}

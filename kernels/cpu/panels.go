package cpu

// PanelsF32 is the second operand of GemmSubF32 (w[j·ldw + t] for j < m, t < k) packed once
// into the micro-kernel's panels, for many products with it. Stage 2 of the quantizer takes
// each band of weight rows through every super-block of columns against the same columns of
// H: packing them again for every band cost about as much as the products themselves.
type PanelsF32 struct {
	k, m   int
	panels []float32 // the first m &^ 15 columns, sixteen at a time, k-major (packF32Strided's)
	tail   []float32 // the last m mod 16 columns' rows, k values each: they go through dots
}

// PanelsLen is how many values the panels of a k×m operand take.
func PanelsLen(k, m int) int { return (m &^ 15) * k }

// PackPanelsF32 packs w (m rows of k values, ldw apart) into buf when it holds PanelsLen(k, m)
// values, else into a new buffer; w may change afterwards, buf may not. It runs on the default
// pool and panics when w is too short.
func PackPanelsF32(w []float32, ldw, k, m int, buf []float32) *PanelsF32 {
	if k <= 0 || m <= 0 || ldw < k || len(w) < (m-1)*ldw+k {
		panic("cpu: PackPanelsF32 dimensions do not match the slice")
	}
	full := m &^ 15
	if len(buf) < full*k {
		buf = MakeHuge[float32](full * k)
	}
	p := &PanelsF32{k: k, m: m, panels: buf[:full*k], tail: make([]float32, (m-full)*k)}
	pack := packF32Strided(w, k, ldw)
	Default().Run(full/16, 1, func(lo, hi int) { pack(p.panels[lo*16*k:hi*16*k], lo*16, (hi-lo)*16) })
	for j := full; j < m; j++ {
		copy(p.tail[(j-full)*k:(j-full+1)*k], w[j*ldw:j*ldw+k])
	}
	return p
}

// source is the packed operand as gemmPackedStrided takes it.
func (p *PanelsF32) source() denseSource {
	k, full, tail := p.k, p.m&^15, p.tail
	return denseSource{k: k, packed: p.panels,
		dot: func(xi []float32, j int) float32 { return DotF32(xi, tail[(j-full)*k:(j-full+1)*k]) }}
}

// GemmSubPanelsF32 is GemmSubF32(dst, ldd, x, ldx, w, ldw, n, k, m) with w packed: the same
// bits.
func (p *Pool) GemmSubPanelsF32(dst []float32, ldd int, x []float32, ldx int, w *PanelsF32, n int) {
	p.panelsProduct(dst, ldd, x, ldx, w, n, true)
}

// MatMulPanelsF32 stores the product instead: dst[i·ldd + j] = Σ_{t<k} x[i·ldx + t]·w[j·ldw + t],
// each value as GemmSubF32 sums it (and as MatMulF32 does from twelve rows up).
func (p *Pool) MatMulPanelsF32(dst []float32, ldd int, x []float32, ldx int, w *PanelsF32, n int) {
	p.panelsProduct(dst, ldd, x, ldx, w, n, false)
}

func (p *Pool) panelsProduct(dst []float32, ldd int, x []float32, ldx int, w *PanelsF32, n int, sub bool) {
	k, m := w.k, w.m
	if n == 0 {
		return
	}
	if n < 0 || ldd < m || ldx < k || len(dst) < (n-1)*ldd+m || len(x) < (n-1)*ldx+k {
		panic("cpu: panel product dimensions do not match the slices")
	}
	p.gemmPackedStrided(dst, ldd, x, ldx, n, k, m, w.source(), sub)
}

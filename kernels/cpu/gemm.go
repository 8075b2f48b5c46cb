package cpu

import "math"

// Packed GEMM for prompts (n >= packMinRows activation rows): each worker takes a range of
// weight rows, packs a ~512 KiB block of them into panels of sixteen rows stored k-major
// ([k][16], widening BF16/F16 on the way), and runs the 6×16 outer-product micro-kernel over
// every six activation rows against every panel. The packing costs one pass over the block and
// is amortised over all n rows. Leftover rows (n mod 6 activations, m mod 16 weights) use dots.

// packMinRows is the smallest batch for which packing pays for itself.
var packMinRows = 12

type denseSource struct {
	k    int
	pack func(dst []float32, j0, rows int) // rows (a multiple of 16) weight rows from j0, as panels
	dot  func(x []float32, j int) float32  // x · weight row j
	// packed, when set, holds every whole panel already (PanelsF32): pack is not called
	packed []float32
}

// panelsAt returns the panels of the full (a multiple of 16) weight rows from j0: the ones
// packed beforehand, or packed into buf (nil when the operand is packed already).
func (s denseSource) panelsAt(buf []float32, j0, full int) []float32 {
	if s.packed != nil {
		return s.packed[j0*s.k : (j0+full)*s.k]
	}
	buf = buf[:full*s.k]
	if full > 0 {
		s.pack(buf, j0, full)
	}
	return buf
}

// packBlockBytes is the size of one packed block of weight rows (L2-resident while every
// activation row passes by).
var packBlockBytes = 512 << 10

// packUnit is the number of weight rows the widest micro-kernel takes at once: blocks and
// workers' shares are multiples of it, or rows past the last pair of 16 would fall to the
// narrow kernel (every block of a 5632-wide product did, when blocks were 16 rows).
func packUnit() int {
	if hasGEMM6x32 {
		return 32
	}
	return 16
}

func packBlockRows(k int) int {
	u := packUnit()
	mb := packBlockBytes / (4 * k)
	mb -= mb % u
	return max(mb, u)
}

func (p *Pool) gemmPacked(dst, x []float32, n, k, m int, src denseSource) {
	p.gemmPackedStrided(dst, m, x, k, n, k, m, src, false)
}

// gemmPackedStrided is gemmPacked with row strides for dst (ldd) and x (ldx), storing the
// product or, with sub, subtracting it from dst (GemmSubF32).
func (p *Pool) gemmPackedStrided(dst []float32, ldd int, x []float32, ldx, n, k, m int, src denseSource, sub bool) {
	mb := packBlockRows(k)
	put := func(d *float32, v float32) {
		if sub {
			*d -= v
		} else {
			*d = v
		}
	}
	n6 := n - n%6
	// The last n%6 activation rows, zero-padded to six: the micro-kernel takes them too (a dot
	// per output was ten times slower per flop, 8% of a 4096-row GPTQ update's time), with the
	// same sums per value as every other row.
	var xpad []float32
	if n6 < n {
		xb := scratch.Get().(*[]float32)
		defer scratch.Put(xb)
		if cap(*xb) < 6*k {
			*xb = make([]float32, 6*k)
		}
		xpad = (*xb)[:6*k]
		clear(xpad)
		for i := n6; i < n; i++ {
			copy(xpad[(i-n6)*k:(i-n6+1)*k], x[i*ldx:i*ldx+k])
		}
	}
	p.Run(m, packUnit(), func(lo, hi int) {
		var buf []float32 // a packed block, when the operand is not packed already
		if src.packed == nil {
			b := scratch.Get().(*[]float32)
			defer scratch.Put(b)
			if cap(*b) < mb*k {
				*b = make([]float32, mb*k)
			}
			buf = *b
		}
		for j0 := lo; j0 < hi; j0 += mb {
			rows := min(mb, hi-j0)
			full := rows &^ 15
			panels := src.panelsAt(buf, j0, full)
			if full > 0 {
				nq := full / 16
				for i := 0; i < n6; i += 6 {
					q := 0
					if hasGEMM6x32 {
						for ; q+1 < nq; q += 2 {
							gemm6x32(x[i*ldx:], ldx, panels[q*16*k:(q+1)*16*k], panels[(q+1)*16*k:(q+2)*16*k], k, dst[i*ldd+j0+16*q:], ldd, sub)
						}
					}
					for ; q < nq; q++ {
						if sub {
							gemm6x16Sub(x[i*ldx:], ldx, panels[q*16*k:(q+1)*16*k], k, dst[i*ldd+j0+16*q:], ldd)
						} else {
							gemm6x16(x[i*ldx:], ldx, panels[q*16*k:(q+1)*16*k], k, dst[i*ldd+j0+16*q:], ldd)
						}
					}
				}
			}
			if xpad != nil && full > 0 { // the leftover activation rows, through a tile
				var tile [6 * 32]float32
				nq := full / 16
				for q := 0; q < nq; {
					w := 16
					if hasGEMM6x32 && q+1 < nq {
						w = 32
						gemm6x32(xpad, k, panels[q*16*k:(q+1)*16*k], panels[(q+1)*16*k:(q+2)*16*k], k, tile[:], 32, false)
					} else {
						gemm6x16(xpad, k, panels[q*16*k:(q+1)*16*k], k, tile[:], 32)
					}
					for i := n6; i < n; i++ {
						for c, v := range tile[(i-n6)*32 : (i-n6)*32+w] {
							put(&dst[i*ldd+j0+16*q+c], v)
						}
					}
					q += w / 16
				}
			}
			for j := j0 + full; j < j0+rows; j++ { // leftover weight rows
				for i := 0; i < n; i++ {
					put(&dst[i*ldd+j], src.dot(x[i*ldx:i*ldx+k], j))
				}
			}
		}
	})
}

func packF32(w []float32, k int) func([]float32, int, int) { return packF32Strided(w, k, k) }

// packF32Strided packs rows of k values that lie ldw apart: each panel is the transpose of 16
// rows (TransposeF32's 8×8 register blocks; element by element it was a fifth of a deep
// product's time).
func packF32Strided(w []float32, k, ldw int) func([]float32, int, int) {
	return func(dst []float32, j0, rows int) {
		for q := 0; q < rows/16; q++ {
			TransposeF32(dst[q*16*k:(q+1)*16*k], 16, w[(j0+q*16)*ldw:], ldw, 16, k)
		}
	}
}

func packHalf(w []uint16, k int, conv func(uint16) float32) func([]float32, int, int) {
	return func(dst []float32, j0, rows int) {
		for q := 0; q < rows/16; q++ {
			panel := dst[q*16*k : (q+1)*16*k]
			for c := 0; c < 16; c++ {
				row := w[(j0+q*16+c)*k : (j0+q*16+c+1)*k]
				for t, v := range row {
					panel[t*16+c] = conv(v)
				}
			}
		}
	}
}

// packBF16 is packHalf for bfloat16 with the widening inlined (a shift), the common case.
func packBF16(w []uint16, k int) func([]float32, int, int) {
	return func(dst []float32, j0, rows int) {
		for q := 0; q < rows/16; q++ {
			panel := dst[q*16*k : (q+1)*16*k]
			for c := 0; c < 16; c++ {
				row := w[(j0+q*16+c)*k : (j0+q*16+c+1)*k]
				for t, v := range row {
					panel[t*16+c] = math.Float32frombits(uint32(v) << 16)
				}
			}
		}
	}
}

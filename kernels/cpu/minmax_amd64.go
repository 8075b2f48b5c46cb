//go:build amd64 && !noasm

package cpu

//go:noescape
func minMaxColsAVX2(lo, hi, x *float32, n, ldx, cols int)

//go:noescape
func minMaxColsAVX512(lo, hi, x *float32, n, ldx, cols int)

// hasMinMax512 and hasMinMaxAVX2 say which form MinMaxColsF32 runs (16 lanes, 8 lanes, or the
// Go loop); variables so the tests can run every form the CPU has.
var hasMinMax512, hasMinMaxAVX2 = hasAVX512, hasAVX2FMA

// MinMaxColsF32 widens per-row ranges over the columns of a column-major tile: for r < len(lo)
// and c < cols, with v = x[c·ldx + r], lo[r] = v where v < lo[r] and hi[r] = v where v > hi[r],
// bit for bit what that scalar loop gives for finite inputs, signed zeros included (the first
// of equal values is kept: VMINPS/VMAXPS return their second operand on a tie, and that operand
// is the running lo/hi). NaNs are outside the contract. GPTQ fits its groups' ranges with it.
// It panics when len(hi) ≠ len(lo) or x is shorter than (cols−1)·ldx + len(lo).
//
// The AVX-512 form keeps 64 rows in registers (four 16-lane lo and hi) while the columns go by,
// then 16 at a time, then a masked last pass; the AVX2 form takes 32, then 8, and leaves the
// last rows to the Go loop.
func MinMaxColsF32(lo, hi, x []float32, ldx, cols int) {
	if !checkMinMaxCols(lo, hi, x, ldx, cols) {
		return
	}
	n := len(lo)
	switch {
	case hasMinMax512:
		minMaxColsAVX512(&lo[0], &hi[0], &x[0], n, ldx, cols)
	case hasMinMaxAVX2 && n >= 8:
		n8 := n &^ 7
		minMaxColsAVX2(&lo[0], &hi[0], &x[0], n8, ldx, cols)
		if n8 < n {
			minMaxColsGo(lo[n8:], hi[n8:], x[n8:], ldx, cols)
		}
	default:
		minMaxColsGo(lo, hi, x, ldx, cols)
	}
}

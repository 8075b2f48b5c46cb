//go:build !amd64 || noasm

package cpu

var hasMinMax512, hasMinMaxAVX2 = false, false

// MinMaxColsF32 widens per-row ranges over the columns of a column-major tile: for r < len(lo)
// and c < cols, with v = x[c·ldx + r], lo[r] = v where v < lo[r] and hi[r] = v where v > hi[r]
// (see the amd64 form). It panics when len(hi) ≠ len(lo) or x is too short.
func MinMaxColsF32(lo, hi, x []float32, ldx, cols int) {
	if checkMinMaxCols(lo, hi, x, ldx, cols) {
		minMaxColsGo(lo, hi, x, ldx, cols)
	}
}

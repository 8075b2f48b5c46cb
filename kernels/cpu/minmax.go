package cpu

import "fmt"

// checkMinMaxCols panics unless MinMaxColsF32's arguments describe memory that is there, and
// says whether there is anything to do.
func checkMinMaxCols(lo, hi, x []float32, ldx, cols int) bool {
	n := len(lo)
	if len(hi) != n {
		panic(fmt.Sprintf("cpu.MinMaxColsF32: len(hi) = %d, want len(lo) = %d", len(hi), n))
	}
	if cols < 0 || ldx < 0 {
		panic(fmt.Sprintf("cpu.MinMaxColsF32: negative cols %d or ldx %d", cols, ldx))
	}
	if n == 0 || cols == 0 {
		return false
	}
	if len(x) < n || (cols > 1 && ldx > 0 && cols-1 > (len(x)-n)/ldx) {
		panic(fmt.Sprintf("cpu.MinMaxColsF32: len(x) = %d, want at least (cols-1)·ldx + len(lo) = (%d-1)·%d + %d", len(x), cols, ldx, n))
	}
	return true
}

// minMaxColsGo is MinMaxColsF32's definition, the scalar loop itself: the pure-Go twin of the
// assembly (its row tails, other architectures, the noasm tag) and the tests' oracle.
func minMaxColsGo(lo, hi, x []float32, ldx, cols int) {
	n := len(lo)
	hi = hi[:n]
	for c := 0; c < cols; c++ {
		for r, v := range x[c*ldx : c*ldx+n] {
			if v < lo[r] {
				lo[r] = v
			}
			if v > hi[r] {
				hi[r] = v
			}
		}
	}
}

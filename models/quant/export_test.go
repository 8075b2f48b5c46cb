package quant

import "github.com/rpiq/rpiq/runtime/backend"

// WorkCounts exposes the work backend's counters to the tests: attention computed, attention
// reused, ops skipped.
func WorkCounts(be backend.Backend) (run, reused, skipped int) {
	w := be.(*workBackend)
	return w.attnRun, w.attnReused, w.skipped
}

// SetMaxLaneProducts sets the largest share of the sums a lane holds (0: the sums take every
// window in turn on the pool) and returns the old value.
func SetMaxLaneProducts(n int) int {
	old := maxLaneProducts
	maxLaneProducts = n
	return old
}

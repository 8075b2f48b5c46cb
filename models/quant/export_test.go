package quant

import "github.com/rpiq/rpiq/runtime/backend"

// WorkCounts exposes the work backend's counters to the tests: attention computed, attention
// reused, ops skipped.
func WorkCounts(be backend.Backend) (run, reused, skipped int) {
	w := be.(*workBackend)
	return w.attnRun, w.attnReused, w.skipped
}

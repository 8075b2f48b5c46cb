package daemon

import (
	"os"
	"syscall"
	"testing"

	"github.com/rpiq/rpiq/assist/ocr"
)

// TestMain re-executes the test binary with OMP_THREAD_LIMIT=1, as cmd/assist does: OpenCV links
// libgomp, which reads the limit before any test runs, and the latency measured here must be the
// program's.
func TestMain(m *testing.M) {
	_, limit := os.LookupEnv("OMP_THREAD_LIMIT")
	_, num := os.LookupEnv("OMP_NUM_THREADS")
	if !limit && !num {
		if exe, err := os.Executable(); err == nil {
			syscall.Exec(exe, os.Args, append(os.Environ(), ocr.OMPThreadLimitEnv))
		}
	}
	os.Exit(m.Run())
}

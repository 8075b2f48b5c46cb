package main

import (
	"os"
	"syscall"
	"testing"

	"github.com/rpiq/rpiq/assist/ocr"
)

// TestMain re-executes the test binary with OMP_THREAD_LIMIT=1, as main does (tests call run,
// not main): OpenCV links libgomp, which reads the limit before any test runs.
//
// With RPIQ_ASSIST_AS_MAIN=1 the test binary is the program: main runs with the arguments after
// the test binary's name (TestNativeNoiseIsSummarised runs it so).
func TestMain(m *testing.M) {
	if os.Getenv("RPIQ_ASSIST_AS_MAIN") == "1" {
		main()
	}
	_, limit := os.LookupEnv("OMP_THREAD_LIMIT")
	_, num := os.LookupEnv("OMP_NUM_THREADS")
	if !limit && !num {
		if exe, err := os.Executable(); err == nil {
			syscall.Exec(exe, os.Args, append(os.Environ(), ocr.OMPThreadLimitEnv))
		}
	}
	os.Exit(m.Run())
}

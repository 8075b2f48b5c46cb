package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/rpiq/rpiq/internal/tempfiles"
)

// interrupting is set once SIGINT or SIGTERM has stopped a job: main then leaves the exit to
// the signal handler, whatever error the interrupted job returns meanwhile.
var interrupting atomic.Bool

// onInterrupt makes SIGINT and SIGTERM end a long job (quantize, export, convert) cleanly: the
// temporary files of the writes in flight are removed (internal/tempfiles), so the output is
// the old one or nothing; what was kept and how to go on (say) is printed; and the process exits
// with status 1, the job not done. Every output is renamed into place whole, so there is no
// other clean-up to do. stop restores the default handling.
func onInterrupt(stderr io.Writer, cmd string, say func() string) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			interrupting.Store(true)
			tempfiles.Abandon()
			fmt.Fprintf(stderr, "rpiq %s: interrupted (%v): %s\n", cmd, sig, say())
			os.Exit(1)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// sweepStale removes the temporaries that a killed run (SIGKILL, a power cut: no handler ran)
// left for this target, those whose writer is gone (tempfiles.Sweep), and says so in one line.
// base "" takes every temporary in dir (the files of an output folder).
func sweepStale(stderr io.Writer, cmd, dir, base string) {
	removed, err := tempfiles.Sweep(dir, base)
	if msg := tempfiles.Summary(removed); msg != "" {
		fmt.Fprintf(stderr, "rpiq %s: %s\n", cmd, msg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "rpiq %s: warning: could not remove a stale temporary: %v\n", cmd, err)
	}
}

// sweepTarget is sweepStale for the temporaries of target itself (a file, or a folder written
// whole) in its parent folder.
func sweepTarget(stderr io.Writer, cmd, target string) {
	target = filepath.Clean(target)
	sweepStale(stderr, cmd, filepath.Dir(target), filepath.Base(target))
}

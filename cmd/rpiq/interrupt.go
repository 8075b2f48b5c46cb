package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
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

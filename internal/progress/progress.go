// Package progress reports the progress of a long job on stderr: a redrawn bar when stderr is a
// terminal, and when it is not (a log file, a pipe, CI) a plain line every few seconds, because
// a bar's carriage-return redraws turn into thousands of lines in a log. rpiq quantize and rpiq
// eval share it.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Interval is how often a plain (non-terminal) report writes a line at most.
const Interval = 10 * time.Second

// Bar counts work done out of a total. A nil *Bar ignores every call, so callers need no check.
type Bar struct {
	bar *progressbar.ProgressBar // terminal

	// plain lines
	mu       sync.Mutex
	w        io.Writer
	desc     string
	total    int64
	done     int64
	start    time.Time
	last     time.Time
	interval time.Duration
	now      func() time.Time
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// New returns a bar of total units described by desc, written to w (nil w: no output). The
// bar form is used only when w is a terminal.
func New(w io.Writer, total int, desc string) *Bar {
	if w == nil {
		return nil
	}
	if IsTerminal(w) {
		return &Bar{bar: progressbar.NewOptions(total, progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond))}
	}
	return newPlain(w, total, desc, Interval, time.Now)
}

func newPlain(w io.Writer, total int, desc string, every time.Duration, now func() time.Time) *Bar {
	t := now()
	return &Bar{w: w, desc: desc, total: int64(total), start: t, last: t, interval: every, now: now}
}

// Add records n more units done.
func (b *Bar) Add(n int) {
	if b == nil {
		return
	}
	if b.bar != nil {
		b.bar.Add(n)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += int64(n)
	if t := b.now(); t.Sub(b.last) >= b.interval {
		b.last = t
		b.line(t)
	}
}

// Finish ends the bar: a terminal bar is cleared; a plain report writes a last line if the job
// took long enough to have written any.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	if b.bar != nil {
		b.bar.Finish()
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.now(); t.Sub(b.start) >= b.interval {
		b.line(t)
	}
}

func (b *Bar) line(t time.Time) {
	pct := 100.0
	if b.total > 0 {
		pct = 100 * float64(b.done) / float64(b.total)
	}
	fmt.Fprintf(b.w, "%s: %d/%d (%.0f%%), %s\n", b.desc, b.done, b.total, pct, t.Sub(b.start).Round(time.Second))
}

//go:build unix

// Package nativelog keeps the C libraries' chatter off the user's terminal. ALSA prints 17-50
// lines ("ALSA lib confmisc.c:855:(parse_card) cannot find card '0'") every time a sound device
// is looked for on a machine without one, and OpenCV/FFmpeg print warnings for a camera that is
// not there; the program already reports those conditions in words. Capture points file
// descriptor 2 at a pipe for the life of the process (the libraries write to it directly, from
// threads Go does not know about), and gives Go's own output a duplicate of the real stderr.
// The captured lines are counted by library, and Summary says what they were in one line.
package nativelog

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ShowEnv, set to 1, turns the capture off (the libraries' lines go to stderr as they come).
const ShowEnv = "RPIQ_NATIVE_STDERR"

// Capture is the redirected stderr.
type Capture struct {
	real   *os.File // the terminal (or whatever stderr was)
	w      int      // the pipe's write end, now also fd 2
	done   chan struct{}
	mu     sync.Mutex
	counts map[string]int
	first  map[string]string
	lines  []string // the first maxKept lines, for Lines
}

const maxKept = 200

// Start redirects fd 2. It returns the real stderr for the program's own messages; on failure
// (or with RPIQ_NATIVE_STDERR=1) it changes nothing and returns os.Stderr and a nil *Capture,
// whose methods are no-ops.
func Start() (*os.File, *Capture) {
	if os.Getenv(ShowEnv) == "1" {
		return os.Stderr, nil
	}
	realFd, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return os.Stderr, nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		unix.Close(realFd)
		return os.Stderr, nil
	}
	if err := unix.Dup3(p[1], 2, 0); err != nil { // fd 2 stays open across exec for children
		unix.Close(realFd)
		unix.Close(p[0])
		unix.Close(p[1])
		return os.Stderr, nil
	}
	real := os.NewFile(uintptr(realFd), "/dev/stderr")
	c := &Capture{real: real, w: p[1], done: make(chan struct{}), counts: map[string]int{}, first: map[string]string{}}
	os.Stderr = real
	log.SetOutput(real)
	debug.SetCrashOutput(real, debug.CrashOptions{}) // a panic still reaches the terminal
	go c.read(os.NewFile(uintptr(p[0]), "native-stderr"))
	return real, c
}

func (c *Capture) read(r *os.File) {
	defer close(c.done)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		lib := Library(line)
		c.mu.Lock()
		c.counts[lib]++
		if _, ok := c.first[lib]; !ok {
			c.first[lib] = line
		}
		if len(c.lines) < maxKept {
			c.lines = append(c.lines, line)
		}
		c.mu.Unlock()
	}
}

// Library names the library a line of stderr came from, by its usual prefix.
func Library(line string) string {
	switch {
	case strings.HasPrefix(line, "ALSA lib "):
		return "ALSA"
	case strings.HasPrefix(line, "[ WARN:"), strings.HasPrefix(line, "[ERROR:"), strings.HasPrefix(line, "[ INFO:"), strings.Contains(line, "OpenCV"):
		return "OpenCV"
	case strings.HasPrefix(line, "[mjpeg"), strings.HasPrefix(line, "[h264"), strings.HasPrefix(line, "[NULL @"), strings.HasPrefix(line, "[swscaler"):
		return "FFmpeg"
	case strings.Contains(line, "GStreamer"), strings.HasPrefix(line, "(gst-"), strings.HasPrefix(line, "(assist:"):
		return "GStreamer"
	case strings.HasPrefix(line, "Tesseract"), strings.HasPrefix(line, "Warning: Invalid resolution"), strings.Contains(line, "tessdata"):
		return "Tesseract"
	}
	return "other"
}

// Stop restores fd 2 and waits (briefly) for the last captured lines.
func (c *Capture) Stop() {
	if c == nil {
		return
	}
	unix.Dup3(int(c.real.Fd()), 2, 0)
	unix.Close(c.w)
	select {
	case <-c.done:
	case <-time.After(200 * time.Millisecond): // a child process still holds the pipe
	}
}

// Count is how many lines were captured.
func (c *Capture) Count() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.counts {
		n += k
	}
	return n
}

// Lines returns the first captured lines (at most 200).
func (c *Capture) Lines() []string {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// Summary is one line about what was captured ("" when nothing was): how many lines, from
// which libraries, and the first line of the largest group.
func (c *Capture) Summary() string {
	if c == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.counts) == 0 {
		return ""
	}
	libs := make([]string, 0, len(c.counts))
	total := 0
	for l, n := range c.counts {
		libs = append(libs, l)
		total += n
	}
	sort.Slice(libs, func(i, j int) bool {
		if c.counts[libs[i]] != c.counts[libs[j]] {
			return c.counts[libs[i]] > c.counts[libs[j]]
		}
		return libs[i] < libs[j]
	})
	parts := make([]string, len(libs))
	for i, l := range libs {
		parts[i] = fmt.Sprintf("%s %d", l, c.counts[l])
	}
	first := c.first[libs[0]]
	if len(first) > 100 {
		first = first[:100] + "..."
	}
	return fmt.Sprintf("the native libraries wrote %d line(s) to stderr (%s; first: %q); %s=1 shows them", total, strings.Join(parts, ", "), first, ShowEnv)
}

//go:build unix

package nativelog

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// What a C library writes to fd 2 is captured and summarised; Go's stderr still reaches the
// real one.
func TestCaptureAndSummary(t *testing.T) {
	before := os.Stderr
	real, c := Start()
	if c == nil {
		t.Skip("capture off (RPIQ_NATIVE_STDERR=1)")
	}
	defer func() { os.Stderr = before }()
	for i := 0; i < 3; i++ {
		unix.Write(2, []byte("ALSA lib confmisc.c:855:(parse_card) cannot find card '0'\n"))
	}
	unix.Write(2, []byte("[ WARN:0@0.010] global cap_v4l.cpp:982 open VIDEOIO(V4L2:/dev/video0): can't open camera by index\n"))
	fmt.Fprintln(real, "nativelog test: this line goes to the real stderr")
	c.Stop()
	if c.Count() != 4 || len(c.Lines()) != 4 {
		t.Fatalf("captured %d lines: %q", c.Count(), c.Lines())
	}
	s := c.Summary()
	if !strings.Contains(s, "wrote 4 line(s)") || !strings.Contains(s, "ALSA 3, OpenCV 1") || !strings.Contains(s, "cannot find card") {
		t.Errorf("summary %q", s)
	}
	var none *Capture
	if none.Summary() != "" || none.Count() != 0 {
		t.Error("nil capture")
	}
}

package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// Not a terminal: no carriage returns, and a line only when Interval has passed.
func TestPlainWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	if IsTerminal(&buf) {
		t.Fatal("a buffer is not a terminal")
	}
	clock := time.Unix(0, 0)
	b := newPlain(&buf, 20000, "layer 1/5", 10*time.Second, func() time.Time { return clock })
	for i := 0; i < 20000; i++ {
		clock = clock.Add(time.Millisecond) // 20 s in all
		b.Add(1)
	}
	b.Finish()
	out := buf.String()
	if strings.Contains(out, "\r") {
		t.Fatalf("carriage returns written to a non-terminal: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "layer 1/5: 10000/20000 (50%), 10s") || !strings.Contains(lines[2], "20000/20000 (100%), 20s") {
		t.Fatalf("want a line at 10 s, at 20 s and a final one, got %q", out)
	}
}

// A short job on a non-terminal writes nothing at all.
func TestPlainShortJobIsSilent(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := New(f, 1000, "eval")
	for i := 0; i < 1000; i++ {
		b.Add(1)
	}
	b.Finish()
	st, _ := f.Stat()
	if st.Size() != 0 {
		t.Fatalf("a job shorter than %v wrote %d bytes to a file", Interval, st.Size())
	}
	var nilBar *Bar
	nilBar.Add(1) // a nil bar (no writer) ignores calls
	nilBar.Finish()
	if New(nil, 3, "x") != nil {
		t.Fatal("no writer should give a nil bar")
	}
}

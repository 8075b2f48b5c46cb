package cogvlm2

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"
)

// procStatus reads one kB field of Linux's /proc/self/status in MB (-1 elsewhere).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if f := bytes.Fields(line); len(f) >= 2 && string(f[0]) == field+":" {
			if kb, err := strconv.ParseInt(string(f[1]), 10, 64); err == nil {
				return kb >> 10
			}
		}
	}
	return -1
}

// rssSampler records the largest resident set seen every 20 ms, so each block's log line can
// carry its own peak (VmHWM is the whole process's, and resetting it would also reset what
// getrusage and /usr/bin/time report).
type rssSampler struct {
	mu   sync.Mutex
	max  int64
	stop chan struct{}
}

func startRSSSampler() *rssSampler {
	s := &rssSampler{stop: make(chan struct{})}
	if procStatus("VmRSS") < 0 {
		return s
	}
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				v := procStatus("VmRSS")
				s.mu.Lock()
				s.max = max(s.max, v)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// take returns the peak since the last take (MB) and starts a new period.
func (s *rssSampler) take() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := max(s.max, procStatus("VmRSS"))
	s.max = 0
	return v
}

func (s *rssSampler) close() { close(s.stop) }

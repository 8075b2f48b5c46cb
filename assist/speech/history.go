package speech

import "sync"

// History keeps the last answers for "repeat".
type History struct {
	mu    sync.Mutex
	items []string
	max   int
}

// NewHistory keeps up to n answers (at least 1).
func NewHistory(n int) *History { return &History{max: max(1, n)} }

// Add records an answer; empty answers are not kept.
func (h *History) Add(text string) {
	if text == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.items = append(h.items, text)
	if len(h.items) > h.max {
		h.items = append(h.items[:0:0], h.items[len(h.items)-h.max:]...)
	}
}

// Last returns the n-th most recent answer (0 = the last), or "" and false.
func (h *History) Last(n int) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n < 0 || n >= len(h.items) {
		return "", false
	}
	return h.items[len(h.items)-1-n], true
}

// Len is how many answers are kept.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.items)
}

// Resize changes how many answers are kept (the config's history).
func (h *History) Resize(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.max = max(1, n)
	if len(h.items) > h.max {
		h.items = append(h.items[:0:0], h.items[len(h.items)-h.max:]...)
	}
}

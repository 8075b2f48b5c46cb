package config

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
)

// Watcher notices edits of the file. A broken edit keeps the last good configuration and is
// reported once (not on every poll), so the daemon announces it once; a fixed edit takes effect.
//
// It polls (the daemon calls Poll every second or so) instead of using inotify: one stat per
// second costs nothing, works on every file system, and needs no dependency.
type Watcher struct {
	path       string
	good       Config
	lastSum    [32]byte
	reportedOK bool // the last seen content was reported (as good or as broken)
}

// NewWatcher starts from the configuration already loaded from path.
func NewWatcher(path string, loaded Config) *Watcher {
	w := &Watcher{path: path, good: loaded}
	if data, err := os.ReadFile(path); err == nil {
		w.lastSum = sha256.Sum256(data)
		w.reportedOK = true
	}
	return w
}

// Poll reads the file. changed is true when a new good configuration took effect; err is
// non-nil the first time a given broken content (or an unreadable file) is seen.
func (w *Watcher) Poll() (cfg Config, changed bool, err error) {
	data, rerr := os.ReadFile(w.path)
	var sum [32]byte
	if rerr == nil {
		sum = sha256.Sum256(data)
	} else {
		sum = sha256.Sum256([]byte("unreadable: " + rerr.Error()))
	}
	if w.reportedOK && bytes.Equal(sum[:], w.lastSum[:]) {
		return w.good, false, nil
	}
	w.lastSum, w.reportedOK = sum, true
	if rerr != nil {
		return w.good, false, rerr
	}
	c, perr := Parse(w.path, data)
	if perr != nil {
		return w.good, false, perr
	}
	c.resolvePaths(filepath.Dir(w.path))
	w.good = c
	return c, true, nil
}

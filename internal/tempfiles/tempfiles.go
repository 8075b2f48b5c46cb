// Package tempfiles keeps the list of the temporary files and folders that atomic writes have
// in flight, so that a job stopped by SIGINT or SIGTERM can remove them before it exits: an
// interrupted write then leaves the old output or nothing, not a hidden multi-GB ".tmp-" file.
package tempfiles

import (
	"os"
	"sync"
)

var state struct {
	sync.Mutex
	paths     map[string]bool
	abandoned bool
}

// Track records path (a temporary file or folder just created) until release is called, when
// the write has renamed or removed it. After Abandon, Track removes path itself and never
// returns: the process is about to exit and must not start a new write.
func Track(path string) (release func()) {
	state.Lock()
	if state.abandoned {
		state.Unlock()
		os.RemoveAll(path)
		select {}
	}
	if state.paths == nil {
		state.paths = map[string]bool{}
	}
	state.paths[path] = true
	state.Unlock()
	return func() {
		state.Lock()
		delete(state.paths, path)
		state.Unlock()
	}
}

// Abandon removes every tracked path and makes later Track calls block; the caller exits next.
// It returns how many paths it removed.
func Abandon() int {
	state.Lock()
	defer state.Unlock()
	state.abandoned = true
	n := 0
	for p := range state.paths {
		if os.RemoveAll(p) == nil {
			n++
		}
	}
	state.paths = nil
	return n
}

// Package tempfiles keeps the list of the temporary files and folders that atomic writes have
// in flight, so that a job stopped by SIGINT or SIGTERM can remove them before it exits: an
// interrupted write then leaves the old output or nothing, not a hidden multi-GB ".tmp-" file.
//
// The job goes on running while the signal handler cleans up, so every step that changes what
// is on disk for a write — creating the temporary, renaming it into place — runs under a shared
// lock that Abandon takes for good: once Abandon has started, no temporary is created or
// committed any more (those calls block until the process exits), and none is half-created
// while it removes them.
package tempfiles

import (
	"os"
	"sync"
)

var (
	gate      sync.RWMutex // read-held by Create and Commit; Abandon write-locks it and never unlocks
	abandoned bool         // set under gate's write lock

	mu    sync.Mutex
	paths = map[string]bool{}
)

// enter read-locks the gate; after Abandon it blocks forever (the process is exiting).
func enter() {
	gate.RLock()
	if abandoned { // unreachable while Abandon holds the write lock; kept for clarity
		gate.RUnlock()
		select {}
	}
}

// Create runs create, which makes a temporary file or folder and returns its path, and tracks
// that path until release is called (after it was renamed into place or removed).
func Create(create func() (string, error)) (path string, release func(), err error) {
	enter()
	defer gate.RUnlock()
	path, err = create()
	if err != nil {
		return "", func() {}, err
	}
	mu.Lock()
	paths[path] = true
	mu.Unlock()
	return path, func() {
		mu.Lock()
		delete(paths, path)
		mu.Unlock()
	}, nil
}

// Commit runs commit, a step that changes the disk outside the temporaries (the rename that puts
// one into place, a folder made), unless the job is being abandoned (then it never returns).
func Commit(commit func() error) error {
	enter()
	defer gate.RUnlock()
	return commit()
}

// Abandon waits for any Create or Commit in progress, removes every tracked path, and makes
// later Create and Commit calls block: the caller exits next. It returns how many paths it
// removed.
func Abandon() int {
	gate.Lock() // never unlocked
	abandoned = true
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for p := range paths {
		if os.RemoveAll(p) == nil {
			n++
		}
	}
	paths = map[string]bool{}
	return n
}

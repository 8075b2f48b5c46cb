package tempfiles

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Abandon removes what is tracked (a file and a folder) and nothing that was released, and
// afterwards no temporary is created or committed.
func TestAbandonRemovesTracked(t *testing.T) {
	dir := t.TempDir()
	file, folder, done := filepath.Join(dir, ".a.tmp-1"), filepath.Join(dir, ".b.tmp-2"), filepath.Join(dir, "c")
	mk := func(p string, isDir bool) func() (string, error) {
		return func() (string, error) {
			if isDir {
				return p, os.MkdirAll(filepath.Join(p, "sub"), 0o755)
			}
			return p, os.WriteFile(p, []byte("x"), 0o644)
		}
	}
	Create(mk(file, false))
	Create(mk(folder, true))
	_, release, _ := Create(mk(done, false))
	release() // renamed into place
	if n := Abandon(); n != 2 {
		t.Fatalf("removed %d paths, want 2", n)
	}
	for _, p := range []string{file, folder} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there", p)
		}
	}
	if _, err := os.Stat(done); err != nil {
		t.Errorf("released path removed: %v", err)
	}
	late := filepath.Join(dir, "late")
	go Create(mk(late, false))
	committed := make(chan bool, 1)
	go Commit(func() error { committed <- true; return nil })
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(late); !os.IsNotExist(err) {
		t.Error("a temporary was created after Abandon")
	}
	if len(committed) > 0 {
		t.Error("a commit ran after Abandon")
	}
}

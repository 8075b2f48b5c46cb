package tempfiles

import (
	"os"
	"path/filepath"
	"testing"
)

// Abandon removes what is tracked (a file and a folder) and nothing that was released.
func TestAbandonRemovesTracked(t *testing.T) {
	dir := t.TempDir()
	file, folder, done := filepath.Join(dir, ".a.tmp-1"), filepath.Join(dir, ".b.tmp-2"), filepath.Join(dir, "c")
	os.WriteFile(file, []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(folder, "sub"), 0o755)
	os.WriteFile(done, []byte("x"), 0o644)
	Track(file)
	Track(folder)
	Track(done)() // renamed into place: released
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
}

package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 14: an output that cannot be written is bad input, named with what was expected.
func TestCheckOutput(t *testing.T) {
	tmp := t.TempDir()
	aFile := filepath.Join(tmp, "afile")
	os.WriteFile(aFile, []byte("x"), 0o644)
	readOnly := filepath.Join(tmp, "readonly")
	os.MkdirAll(readOnly, 0o555)
	type c struct {
		name string
		err  error
		want string // "" for no error
	}
	cases := []c{
		{"file in a folder", CheckOutputFile(filepath.Join(tmp, "x.gguf")), ""},
		{"file under a file", CheckOutputFile(filepath.Join(aFile, "x.gguf")), aFile + " is a file, expected a folder"},
		{"file that is a folder", CheckOutputFile(tmp), tmp + " is a folder, expected a file"},
		{"file in a missing folder", CheckOutputFile(filepath.Join(tmp, "no", "x.gguf")), "folder " + filepath.Join(tmp, "no") + " does not exist"},
		{"new folder", CheckOutputFolder(filepath.Join(tmp, "a", "b"), true), ""},
		{"existing folder", CheckOutputFolder(tmp, true), ""},
		{"folder that is a file", CheckOutputFolder(aFile, true), aFile + " is a file, expected a folder"},
		{"folder under a file", CheckOutputFolder(filepath.Join(aFile, "a", "b"), true), aFile + " is a file, expected a folder"},
		{"folder renamed into a missing one", CheckOutputFolder(filepath.Join(tmp, "no", "c"), false), "does not exist"},
		{"folder renamed into place", CheckOutputFolder(filepath.Join(tmp, "c"), false), ""},
	}
	if os.Geteuid() != 0 { // root ignores permission bits
		cases = append(cases,
			c{"file in a read-only folder", CheckOutputFile(filepath.Join(readOnly, "x.gguf")), readOnly + " is not writable"},
			c{"read-only folder", CheckOutputFolder(readOnly, true), readOnly + " is not writable"},
			c{"new folder in a read-only one", CheckOutputFolder(filepath.Join(readOnly, "q"), true), readOnly + " is not writable"},
			c{"folder renamed into a read-only one", CheckOutputFolder(filepath.Join(readOnly, "q"), false), readOnly + " is not writable"})
	} else {
		t.Log("running as root: the permission cases are skipped (root writes anyway)")
	}
	for _, c := range cases {
		switch {
		case c.want == "" && c.err != nil:
			t.Errorf("%s: %v", c.name, c.err)
		case c.want != "" && (c.err == nil || !errors.Is(c.err, ErrBadInput) || !strings.Contains(c.err.Error(), c.want)):
			t.Errorf("%s: %v, want bad input saying %q", c.name, c.err, c.want)
		}
	}
	if es, _ := os.ReadDir(tmp); len(es) != 2 {
		t.Errorf("the checks left files or made folders: %v", es)
	}
}

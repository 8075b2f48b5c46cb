package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// The output checks run before any long work: an output path that cannot be written (a file
// where a folder is expected, a folder without write permission) is bad input (exit status 2),
// named with what was expected, not a failure after minutes of work. Outputs are written
// atomically beside their target, so the folder that holds the target must be writable too.
// Writability is tested by creating and removing a hidden probe file, so it says what the write
// will meet (root ignores permission bits; a read-only filesystem stops everyone).

// CheckOutputFile checks that the file path can be written: its folder exists, is a folder and
// is writable, and path itself is not a folder.
func CheckOutputFile(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%w: output %s is a folder, expected a file", ErrBadInput, path)
	}
	return checkHolder(path, false)
}

// CheckOutputFolder checks that the folder path can be written into: if it exists, it is a
// folder and writable. If not, create says whether the command makes it (then the nearest
// folder above it that exists must be writable) or only renames a finished folder into place
// (then the folder that will hold it must exist and be writable).
func CheckOutputFolder(path string, create bool) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && !st.IsDir():
		return fmt.Errorf("%w: output %s is a file, expected a folder", ErrBadInput, path)
	case err == nil && create:
		return probe(path, path)
	case err != nil && !missing(err):
		return notUsable(path, path, err)
	}
	return checkHolder(path, create)
}

// checkHolder checks the folder that holds path (with create: the nearest one that exists).
func checkHolder(path string, create bool) error {
	dir := filepath.Dir(filepath.Clean(path))
	for {
		st, err := os.Stat(dir)
		switch {
		case err == nil && !st.IsDir():
			return fmt.Errorf("%w: output %s: %s is a file, expected a folder", ErrBadInput, path, dir)
		case err == nil:
			return probe(path, dir)
		case !missing(err):
			return notUsable(path, dir, err)
		case !create:
			return fmt.Errorf("%w: output %s: folder %s does not exist", ErrBadInput, path, dir)
		}
		up := filepath.Dir(dir)
		if up == dir {
			return notUsable(path, dir, err)
		}
		dir = up
	}
}

// missing: nothing is there, or a file stands where a folder above it should be (ENOTDIR; the
// walk up finds that file and names it).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// probe creates and removes a hidden file in dir.
func probe(path, dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return notUsable(path, dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

func notUsable(path, dir string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	what := "is not writable"
	if errors.Is(err, fs.ErrNotExist) {
		what = "does not exist"
	}
	if dir == path {
		return fmt.Errorf("%w: output folder %s %s (%v), expected a writable folder", ErrBadInput, path, what, err)
	}
	return fmt.Errorf("%w: output %s: folder %s %s (%v), expected a writable folder", ErrBadInput, path, dir, what, err)
}

package tempfiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/rpiq/rpiq/internal/units"
)

// A temporary is named after its target and the process writing it:
// "." + base(target) + ".tmp-" + pid + "-" + random. A job killed with SIGKILL (or a power cut)
// cannot remove its temporaries; the next run for the same target finds them by that name and
// removes those whose writer is gone (Sweep). A live writer's temporary is never touched: its
// pid is alive, and a file's writer also holds an flock on it while it is open.

// Pattern is the os.CreateTemp / os.MkdirTemp pattern of a temporary for target (its base name).
func Pattern(target string) string {
	return "." + filepath.Base(target) + ".tmp-" + strconv.Itoa(os.Getpid()) + "-*"
}

// File creates and tracks (Create) a temporary file beside target, named by Pattern, with an
// exclusive flock held until the file is closed.
func File(target string) (f *os.File, release func(), err error) {
	_, release, err = Create(func() (string, error) {
		t, err := os.CreateTemp(filepath.Dir(filepath.Clean(target)), Pattern(target))
		if err != nil {
			return "", err
		}
		syscall.Flock(int(t.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) // best effort: the pid is the main sign of life
		f = t
		return t.Name(), nil
	})
	return f, release, err
}

// Dir creates and tracks (Create) a temporary folder beside target, named by Pattern.
func Dir(target string) (dir string, release func(), err error) {
	return Create(func() (string, error) {
		return os.MkdirTemp(filepath.Dir(filepath.Clean(target)), Pattern(target))
	})
}

// Stale is a temporary that Sweep removed.
type Stale struct {
	Path  string
	Bytes int64 // its size (a folder's: the files in it)
	PID   int   // the writer that is gone
}

// Sweep removes the temporaries of target (in target's folder, named by Pattern for that base
// name) whose writer is gone: no process has the pid in the name, and no one holds a lock on
// it. With base "", every such temporary in dir is a candidate, whatever its target (the files
// of an output folder). Temporaries of this process and of live processes stay; so do names
// without a pid (older versions: their writer cannot be told).
func Sweep(dir, base string) ([]Stale, error) {
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil // nothing was written there
	}
	if err != nil {
		return nil, err
	}
	var out []Stale
	for _, e := range es {
		pid, ok := writerPID(e.Name(), base)
		if !ok || pid == os.Getpid() || alive(pid) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if locked(p) {
			continue
		}
		n := size(p)
		if err := os.RemoveAll(p); err != nil {
			return out, err
		}
		out = append(out, Stale{Path: p, Bytes: n, PID: pid})
	}
	return out, nil
}

// writerPID parses ".BASE.tmp-PID-RANDOM" (any BASE when base is "").
func writerPID(name, base string) (int, bool) {
	if !strings.HasPrefix(name, ".") {
		return 0, false
	}
	var rest string
	if base != "" {
		r, ok := strings.CutPrefix(name, "."+base+".tmp-")
		if !ok {
			return 0, false
		}
		rest = r
	} else {
		i := strings.LastIndex(name, ".tmp-")
		if i < 2 {
			return 0, false
		}
		rest = name[i+len(".tmp-"):]
	}
	pidStr, random, ok := strings.Cut(rest, "-")
	if !ok || random == "" || !digits(random) || !digits(pidStr) {
		return 0, false
	}
	pid, err := strconv.Atoi(pidStr)
	return pid, err == nil && pid > 0
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// alive reports whether a process with this pid exists (EPERM: it exists, someone else's).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// locked reports whether someone holds an flock on p (a writer in another pid namespace).
func locked(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

func size(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// Summary says in one line what Sweep removed ("" for nothing), for the user.
func Summary(removed []Stale) string {
	if len(removed) == 0 {
		return ""
	}
	var parts []string
	for _, s := range removed {
		parts = append(parts, fmt.Sprintf("%s (%s, pid %d)", s.Path, units.Bytes(s.Bytes), s.PID))
	}
	what := "temporary"
	if len(removed) > 1 {
		what = strconv.Itoa(len(removed)) + " temporaries"
	}
	return fmt.Sprintf("removed %s left by an earlier run that was killed: %s", what, strings.Join(parts, ", "))
}

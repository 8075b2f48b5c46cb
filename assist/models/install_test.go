package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rpiq/rpiq/internal/shareddata"
)

// The face detector graph and its MANIFEST checksum (shared/data/MANIFEST.md).
const (
	faceFile = "opencv_face_detector_uint8.pb"
	faceSum  = "5c71d752ef2cbf2f457ac82fdd580fcb2522fd04c5efdaed18eb6d9e2843fbed"
)

func shared(tb testing.TB, name string) string {
	return shareddata.Path(tb, filepath.Join("vision", name))
}

// listDir names the files in dir, hidden ones included.
func listDir(tb testing.TB, dir string) []string {
	tb.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func sumOf(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestInstallLocalFile(t *testing.T) {
	src := shared(t, faceFile)
	dir := filepath.Join(t.TempDir(), "models")
	var last int64
	res, err := Install(context.Background(), Options{Source: src, SHA256: strings.ToUpper(faceSum), Dir: dir, Progress: func(d, _ int64) { last = d }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != filepath.Join(dir, faceFile) || res.Bytes != 2727750 || last != 2727750 {
		t.Errorf("%+v, progress %d", res, last)
	}
	if got, _ := fileSHA256(res.Path); got != faceSum {
		t.Errorf("installed file sums to %s", got)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v", names)
	}
	// Again: nothing to do.
	if res, err := Install(context.Background(), Options{Source: src, SHA256: faceSum, Dir: dir}); err != nil || !res.Unchanged {
		t.Errorf("second install: %+v %v", res, err)
	}
	// A wrong checksum installs nothing and keeps the old file.
	other := filepath.Join(t.TempDir(), faceFile)
	os.WriteFile(other, []byte("not the model"), 0o644)
	_, err = Install(context.Background(), Options{Source: other, SHA256: sumOf([]byte("the model")), Dir: dir})
	if !errors.Is(err, ErrChecksum) {
		t.Errorf("wrong file: %v", err)
	}
	if got, _ := fileSHA256(res.Path); got != faceSum {
		t.Error("the old file was damaged by a failed install")
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v after a failed install", names)
	}
}

func TestInstallBadInput(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "m.onnx")
	os.WriteFile(src, []byte("x"), 0o644)
	cases := map[string]Options{
		"short sum":   {Source: src, SHA256: "abc", Dir: dir},
		"not hex":     {Source: src, SHA256: strings.Repeat("g", 64), Dir: dir},
		"missing":     {Source: filepath.Join(dir, "none.onnx"), SHA256: faceSum, Dir: dir},
		"folder":      {Source: dir, SHA256: faceSum, Dir: dir},
		"ftp":         {Source: "ftp://example/m.onnx", SHA256: faceSum, Dir: dir},
		"hidden name": {Source: src, SHA256: faceSum, Dir: dir, Name: ".m"},
		"path name":   {Source: src, SHA256: faceSum, Dir: dir, Name: "../m.onnx"},
		"no name":     {Source: "http://127.0.0.1:1/", SHA256: faceSum, Dir: dir},
	}
	for what, o := range cases {
		if _, err := Install(context.Background(), o); !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: %v", what, err)
		}
	}
}

// server serves the shared vision files with http.ServeContent (Range requests included);
// cut > 0 makes the next n requests stop after cut bytes (a dropped connection).
type server struct {
	mu       sync.Mutex
	data     map[string][]byte
	cutAfter int64
	cuts     int
	noRange  bool
	ranges   []string
	slow     time.Duration // pause per 64 KiB
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.data[strings.TrimPrefix(r.URL.Path, "/")]
	cut := int64(0)
	if s.cuts > 0 {
		s.cuts--
		cut = s.cutAfter
	}
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	noRange, slow := s.noRange, s.slow
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if noRange {
		r.Header.Del("Range")
	}
	if cut > 0 || slow > 0 {
		// Write the headers of a whole response, then part of the body, then drop the connection.
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		end := int64(len(b))
		if cut > 0 {
			end = cut
		}
		for off := int64(0); off < end; off += 64 << 10 {
			w.Write(b[off:min(off+64<<10, end)])
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			if slow > 0 {
				select {
				case <-time.After(slow):
				case <-r.Context().Done():
					return
				}
			}
		}
		if cut > 0 {
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
			}
		}
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

func newServer(tb testing.TB) (*server, *httptest.Server) {
	b, err := os.ReadFile(shared(tb, faceFile))
	if err != nil {
		tb.Fatal(err)
	}
	s := &server{data: map[string][]byte{faceFile: b}}
	ts := httptest.NewServer(s)
	tb.Cleanup(ts.Close)
	return s, ts
}

func TestDownload(t *testing.T) {
	_, ts := newServer(t)
	dir := t.TempDir()
	res, err := Install(context.Background(), Options{Source: ts.URL + "/" + faceFile, SHA256: faceSum, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fileSHA256(res.Path); got != faceSum || res.Resumed != 0 {
		t.Errorf("%+v", res)
	}
	if _, err := Install(context.Background(), Options{Source: ts.URL + "/nothing.pb", SHA256: faceSum, Dir: dir}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing on the server: %v", err)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v", names)
	}
}

// TestDownloadResumes: a dropped connection keeps the bytes received; the next run asks for the
// rest with a Range request and installs the whole, checked file.
func TestDownloadResumes(t *testing.T) {
	s, ts := newServer(t)
	s.cutAfter, s.cuts = 1<<20, 1
	dir := t.TempDir()
	old := filepath.Join(dir, faceFile)
	os.WriteFile(old, []byte("the old model"), 0o644)
	o := Options{Source: ts.URL + "/" + faceFile, SHA256: faceSum, Dir: dir}
	_, err := Install(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("cut download: %v", err)
	}
	if b, _ := os.ReadFile(old); string(b) != "the old model" {
		t.Error("the old file changed")
	}
	res, err := Install(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 1<<20 || !res.Replaced {
		t.Errorf("%+v", res)
	}
	if got, _ := fileSHA256(old); got != faceSum {
		t.Error("resumed file is wrong")
	}
	if s.ranges[len(s.ranges)-1] != "bytes=1048576-" {
		t.Errorf("requests' ranges: %q", s.ranges)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v", names)
	}
	// A server that ignores Range: the download starts over and still installs.
	os.Remove(old)
	s.cuts, s.noRange = 1, true
	if _, err := Install(context.Background(), o); err == nil {
		t.Fatal("cut download succeeded")
	}
	s.ranges = nil
	if res, err := Install(context.Background(), o); err != nil || res.Resumed != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if got, _ := fileSHA256(old); got != faceSum {
		t.Error("restarted file is wrong")
	}
}

// TestDownloadInterrupted: cancelling (what SIGINT does in the command) keeps the old file and
// the bytes so far; a wrong checksum after a download leaves nothing.
func TestDownloadInterrupted(t *testing.T) {
	s, ts := newServer(t)
	s.slow = 20 * time.Millisecond
	dir := t.TempDir()
	o := Options{Source: ts.URL + "/" + faceFile, SHA256: faceSum, Dir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	o.Progress = func(done, _ int64) {
		if done > 512<<10 {
			cancel()
		}
	}
	_, err := Install(ctx, o)
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.Kept == 0 {
		t.Fatalf("%v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, faceFile)); !os.IsNotExist(err) {
		t.Error("an interrupted download installed a file")
	}
	s.slow = 0
	o.Progress = nil
	res, err := Install(context.Background(), o)
	if err != nil || res.Resumed != ie.Kept {
		t.Fatalf("%+v %v (kept %d)", res, err, ie.Kept)
	}
	// A checksum that does not match the download.
	bad := o
	bad.SHA256 = sumOf([]byte("something else"))
	bad.Name = "other.pb"
	if _, err := Install(context.Background(), bad); !errors.Is(err, ErrChecksum) {
		t.Errorf("wrong checksum: %v", err)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v", names)
	}
}

// FuzzRangeStart: any Content-Range header parses without panicking, and a parsed start is the
// number written after "bytes ".
func FuzzRangeStart(f *testing.F) {
	for _, s := range []string{"bytes 100-199/200", "bytes 0-0/1", "bytes */200", "bytes -5/9", "", "bytes 99999999999999999999-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := rangeStart(s)
		if ok && (v < 0 || !strings.HasPrefix(s, "bytes ") || strings.ContainsAny(s[6:strings.IndexByte(s, '-')], "+- ")) {
			t.Errorf("%q parsed as %d", s, v)
		}
	})
}

// Issue 14: a copy killed with SIGKILL leaves its hidden temporary (".NAME.tmp-PID-N"); the next
// install of that file removes it and reports it, and leaves a live writer's alone.
func TestInstallRemovesStaleTemporaries(t *testing.T) {
	src := shared(t, faceFile)
	dir := t.TempDir()
	writer := func() *exec.Cmd { // stands in for an install in another process
		c := exec.Command("sleep", "60")
		if err := c.Start(); err != nil {
			t.Skip(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	killed, live := writer(), writer()
	killed.Process.Signal(syscall.SIGKILL)
	killed.Wait()
	name := func(c *exec.Cmd) string {
		return filepath.Join(dir, "."+faceFile+".tmp-"+strconv.Itoa(c.Process.Pid)+"-1234")
	}
	os.WriteFile(name(killed), make([]byte, 1<<20), 0o644)
	os.WriteFile(name(live), []byte("in flight"), 0o644)
	res, err := Install(context.Background(), Options{Source: src, SHA256: faceSum, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Swept) != 1 || res.Swept[0].Path != name(killed) || res.Swept[0].Bytes != 1<<20 {
		t.Errorf("swept %+v, want %s", res.Swept, name(killed))
	}
	if _, err := os.Stat(name(killed)); !os.IsNotExist(err) {
		t.Error("the killed writer's temporary is still there")
	}
	if _, err := os.Stat(name(live)); err != nil {
		t.Errorf("the live writer's temporary was removed: %v", err)
	}
}

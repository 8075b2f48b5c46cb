package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rpiq/rpiq/internal/shareddata"

	"github.com/rpiq/rpiq/assist/textrec/textrectest"
)

const (
	faceFile = "opencv_face_detector_uint8.pb"
	faceSum  = "5c71d752ef2cbf2f457ac82fdd580fcb2522fd04c5efdaed18eb6d9e2843fbed"
)

func sharedVision(t *testing.T, name string) string {
	return shareddata.Path(t, filepath.Join("vision", name))
}

func TestModelsInstallUsage(t *testing.T) {
	src := sharedVision(t, faceFile)
	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"models"}, 2, ""},
		{[]string{"models", "fetch"}, 2, "unknown action"},
		{[]string{"models", "install", src}, 2, ""},
		{[]string{"models", "install", src, "--sha256", "12ab", "--dir", dir}, 2, "64 hexadecimal"},
		{[]string{"models", "install", filepath.Join(dir, "none.pb"), "--sha256", faceSum, "--dir", dir}, 2, "none.pb"},
		{[]string{"models", "install", src, "--sha256", strings.Repeat("0", 64), "--dir", dir}, 1, "checksum mismatch"},
		{[]string{"models", "install", src, "--sha256", faceSum, "--dir", dir}, 0, "checksum verified"},
		{[]string{"models", "install", "--dir", dir, "--sha256", faceSum, src}, 0, "already installed"},
		{[]string{"models", "install", "--dir", dir, "--sha256", "5397808362fc6fb7c4044484848e297b22449d913a267fa7f8bd9d86dce29144", sharedVision(t, "opencv_face_detector.pbtxt")}, 0, "checksum verified"},
	}
	for _, c := range cases {
		code, o, e := runCmd(c.args...)
		if code != c.code || !strings.Contains(o+e, c.msg) {
			t.Errorf("%q: exit %d (want %d)\n%s%s", c.args, code, c.code, o, e)
		}
	}
	if code, o, _ := runCmd("models", "list", "--config", writeModelsConfig(t, dir)); code != 0 || !strings.Contains(o, "OK   faces") || !strings.Contains(o, "--   objects") {
		t.Errorf("list: %d\n%s", code, o)
	}
}

func writeModelsConfig(t *testing.T, dir string) string {
	p := filepath.Join(t.TempDir(), "m.toml")
	if err := os.WriteFile(p, []byte("[models]\ndir = \""+dir+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// slowServer serves one file at about 1 MB/s, honouring Range requests, so a child can be
// stopped in the middle.
func slowServer(t *testing.T, data []byte, slow *atomic.Bool) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := 0
		if rg := r.Header.Get("Range"); rg != "" {
			var n int
			if _, err := fmtSscanf(rg, &n); err == nil && n < len(data) {
				start = n
				w.Header().Set("Content-Range", "bytes "+itoa(n)+"-"+itoa(len(data)-1)+"/"+itoa(len(data)))
				w.Header().Set("Content-Length", itoa(len(data)-n))
				w.WriteHeader(http.StatusPartialContent)
			}
		}
		if start == 0 {
			w.Header().Set("Content-Length", itoa(len(data)))
			w.WriteHeader(http.StatusOK)
		}
		for off := start; off < len(data); off += 32 << 10 {
			if _, err := w.Write(data[off:min(off+32<<10, len(data))]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			if slow.Load() {
				time.Sleep(30 * time.Millisecond)
			}
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

// TestModelsInstallKilled stops `assist models install` (a child process) with SIGINT, SIGTERM
// and SIGKILL at random points of a download: only the old file or nothing is left under the
// model's name, and running the same command again finishes with the right file.
func TestModelsInstallKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	data, err := os.ReadFile(sharedVision(t, faceFile))
	if err != nil {
		t.Fatal(err)
	}
	var slow atomic.Bool
	ts := slowServer(t, data, &slow)
	url := ts.URL + "/" + faceFile
	rng := rand.New(rand.NewPCG(11, uint64(time.Now().UnixNano())))
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL, syscall.SIGINT} {
		dir := t.TempDir()
		dst := filepath.Join(dir, faceFile)
		withOld := i%2 == 1
		if withOld {
			os.WriteFile(dst, []byte("the old model"), 0o644)
		}
		slow.Store(true)
		cmd := exec.Command(os.Args[0], "models", "install", url, "--sha256", faceSum, "--dir", dir)
		cmd.Env = append(os.Environ(), "RPIQ_ASSIST_AS_MAIN=1")
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for a random amount of the file to arrive, then stop the child.
		want := int64(64<<10 + rng.IntN(len(data)/2))
		deadline := time.Now().Add(20 * time.Second)
		for partialSize(dir) < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("%v: the child did not fail: %v\n%s%s", sig, err, o.String(), e.String())
		}
		if sig != syscall.SIGKILL && (exit.ExitCode() != 1 || !strings.Contains(e.String(), "run the same command again to resume")) {
			t.Errorf("%v: exit %d\n%s", sig, exit.ExitCode(), e.String())
		}
		b, err := os.ReadFile(dst)
		switch {
		case withOld && string(b) != "the old model":
			t.Errorf("%v: the old file changed (%d bytes, %v)", sig, len(b), err)
		case !withOld && !os.IsNotExist(err):
			t.Errorf("%v: a file appeared under the model's name (%d bytes)", sig, len(b))
		}
		kept := partialSize(dir)
		// The same command again finishes the job.
		slow.Store(false)
		code, out, errOut := runCmd("models", "install", url, "--sha256", faceSum, "--dir", dir)
		if code != 0 || !strings.Contains(out, "checksum verified") {
			t.Fatalf("%v: rerun: %d %s%s", sig, code, out, errOut)
		}
		if kept > 0 && !strings.Contains(out, "resumed after") {
			t.Errorf("%v: %d bytes were kept but the rerun did not resume: %s", sig, kept, out)
		}
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
			t.Errorf("%v: installed file differs", sig)
		}
		if es, _ := os.ReadDir(dir); len(es) != 1 {
			t.Errorf("%v: folder holds %d entries", sig, len(es))
		}
		t.Logf("%v after %d bytes: kept %d, rerun: %s", sig, want, kept, strings.TrimSpace(out))
	}
}

// partialSize is the size of the hidden download in dir (0 when none).
func partialSize(dir string) int64 {
	ms, _ := filepath.Glob(filepath.Join(dir, ".*.partial"))
	if len(ms) == 0 {
		return 0
	}
	st, err := os.Stat(ms[0])
	if err != nil {
		return 0
	}
	return st.Size()
}

func itoa(n int) string { return strconv.Itoa(n) }

func fmtSscanf(rg string, n *int) (int, error) { return fmt.Sscanf(rg, "bytes=%d-", n) }

// TestCheckNamesModelFiles: a model folder without the detector files, and a damaged one, are
// named by assist check (the damaged one by --deep, which loads it) and by assist doctor.
func TestCheckNamesModelFiles(t *testing.T) {
	// Models not installed yet in the default folder: OK, with a note.
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	if code, o, _ := runCmd("check", "--config", "../../examples/assist.toml"); code != 0 || !strings.Contains(o, "note: object recognition is off until yolox_nano.onnx and coco.names are installed in") {
		t.Errorf("defaults not installed: %d\n%s", code, o)
	}
	dir := t.TempDir()
	cfg := writeModelsConfig(t, dir)
	code, o, _ := runCmd("check", "--config", cfg)
	if code != 2 || !strings.Contains(o, "m.toml:1: models.objects: the model file "+filepath.Join(dir, "yolox_nano.onnx")+" does not exist, so object recognition is off") {
		t.Errorf("missing: %d\n%s", code, o)
	}
	for _, f := range []string{"yolox_nano.onnx", "coco.names", "opencv_face_detector.pbtxt"} {
		b, err := os.ReadFile(sharedVision(t, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, faceFile), []byte("damaged"), 0o644)
	code, o, _ = runCmd("check", "--deep", "--config", cfg)
	if code != 2 || !strings.Contains(o, "models.faces: face detection is off: model file "+filepath.Join(dir, faceFile)) || strings.Contains(o, "models.objects") {
		t.Errorf("damaged: %d\n%s", code, o)
	}
	_, o, _ = runCmd("doctor", "--config", cfg)
	if !strings.Contains(o, "OK   objects") || !strings.Contains(o, "FAIL faces       face detection is off: model file "+filepath.Join(dir, faceFile)) {
		t.Errorf("doctor:\n%s", o)
	}
}

// TestTextRecognizerCheck: doctor and check --deep say whether the text-recognition network
// loads, naming the damaged file (the tiny network of textrectest stands in for PP-OCRv4's).
func TestTextRecognizerCheck(t *testing.T) {
	dir := t.TempDir()
	model, dict, err := textrectest.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "ch_PP-OCRv4_rec_infer.onnx")
	os.Rename(model, rec)
	os.Rename(dict, filepath.Join(dir, "ppocr_keys_v1.txt"))
	cfg := writeModelsConfig(t, dir)
	if _, o, _ := runCmd("doctor", "--config", cfg); !strings.Contains(o, "OK   text") {
		t.Errorf("installed:\n%s", o)
	}
	if _, o, _ := runCmd("check", "--deep", "--config", cfg); strings.Contains(o, "text_recognizer") || strings.Contains(o, "text_dictionary") {
		t.Errorf("installed, check --deep:\n%s", o)
	}
	os.WriteFile(rec, []byte("damaged"), 0o644)
	if _, o, _ := runCmd("doctor", "--config", cfg); !strings.Contains(o, "the text-recognition network is off: textrec: "+rec) {
		t.Errorf("damaged:\n%s", o)
	}
	if _, o, _ := runCmd("check", "--deep", "--config", cfg); !strings.Contains(o, "m.toml:1: models.text_recognizer: the text-recognition network is off: textrec: "+rec) {
		t.Errorf("damaged, check --deep:\n%s", o)
	}
}

// TestTextDetectorCheck: doctor and check --deep say whether the text-detection network loads,
// naming the missing or damaged file; it is never needed (a model-free check answers without it).
// Any one-input, one-output network loads (the tiny recogniser stands in for the file).
func TestTextDetectorCheck(t *testing.T) {
	dir := t.TempDir()
	det := filepath.Join(dir, "ch_PP-OCRv4_det_infer.onnx")
	cfg := writeModelsConfig(t, dir)
	if _, o, _ := runCmd("check", "--deep", "--config", cfg); !strings.Contains(o, "models.text_detector: the model file "+det+" does not exist") {
		t.Errorf("missing, check --deep:\n%s", o)
	}
	os.WriteFile(det, textrectest.Model(), 0o644)
	if _, o, _ := runCmd("doctor", "--config", cfg); !strings.Contains(o, "OK   textdet") || !strings.Contains(o, det+": answers \"is there text here\"") {
		t.Errorf("installed:\n%s", o)
	}
	if _, o, _ := runCmd("check", "--deep", "--config", cfg); strings.Contains(o, "text_detector") {
		t.Errorf("installed, check --deep:\n%s", o)
	}
	os.WriteFile(det, []byte("damaged"), 0o644)
	if _, o, _ := runCmd("doctor", "--config", cfg); !strings.Contains(o, "the text-detection network is off: model file: textdet: "+det) {
		t.Errorf("damaged:\n%s", o)
	}
	if _, o, _ := runCmd("check", "--deep", "--config", cfg); !strings.Contains(o, "m.toml:1: models.text_detector: the text-detection network is off: model file: textdet: "+det) {
		t.Errorf("damaged, check --deep:\n%s", o)
	}
}

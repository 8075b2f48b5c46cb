package scene

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorruptModels: a missing, truncated or foreign model file is an error naming the file,
// never a crash (OpenCV throws C++ exceptions that would abort the process).
func TestCorruptModels(t *testing.T) {
	dir := t.TempDir()
	onnx, err := os.ReadFile(visionFile(t, "yolox_nano.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	names := visionFile(t, "coco.names")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]string{
		"missing":   filepath.Join(dir, "nothing.onnx"),
		"truncated": write("truncated.onnx", onnx[:len(onnx)/2]),
		"garbage":   write("garbage.onnx", []byte(strings.Repeat("not a network\n", 100))),
		"empty":     write("empty.onnx", nil),
		"faces":     visionFile(t, "opencv_face_detector_uint8.pb"),
		"folder":    dir,
	}
	for what, path := range cases {
		_, err := OpenObjects(path, names)
		if err == nil {
			t.Errorf("%s: loaded", what)
			continue
		}
		if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v does not name %s", what, err, path)
		}
		t.Logf("%s: %v", what, err)
	}
	if _, err := OpenObjects(visionFile(t, "yolox_nano.onnx"), write("no-names.txt", nil)); err == nil {
		t.Error("empty class list accepted")
	}
	pb := visionFile(t, "opencv_face_detector_uint8.pb")
	if _, err := OpenFaces(pb, write("bad.pbtxt", []byte("node { name: "))); err == nil || !errors.Is(err, ErrModel) {
		t.Errorf("bad pbtxt: %v", err)
	}
	if _, err := OpenFaces(write("trunc.pb", onnx[:1000]), visionFile(t, "opencv_face_detector.pbtxt")); err == nil {
		t.Error("truncated graph loaded")
	}
	if n := LiveMats(); n != 0 {
		t.Errorf("%d Mats left open", n)
	}
}

func writeFile(tb testing.TB, p string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

package scene

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode: any network output (NaN, infinities, huge values) decodes and is spoken without a
// panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x7f}, 1.0)
	f.Add([]byte{0, 0, 0xc0, 0x7f, 1, 2, 3, 4}, 0.5)
	d := &ObjectDetector{classes: []string{"person", "dog"}, Threshold: 0.3, NMS: 0.45}
	rows := 3549
	f.Fuzz(func(t *testing.T, seed []byte, scale float64) {
		data := make([]float32, rows*7)
		for i := range data {
			if len(seed) >= 4 {
				o := (i * 4) % (len(seed) - 3)
				data[i] = math.Float32frombits(binary.LittleEndian.Uint32(seed[o:]))
			}
		}
		ds, err := d.decode(data, scale)
		if err != nil {
			t.Fatal(err)
		}
		fd := Findings{Width: 416, Height: 416, Objects: ds, Faces: ds}
		for _, v := range []string{"brief", "normal", "detailed"} {
			fd.Describe(v)
		}
		fd.PeopleSentence()
	})
}

// FuzzReadNames: any class-name file is read or refused with an error, never a panic.
func FuzzReadNames(f *testing.F) {
	f.Add([]byte("person\nbicycle\n"))
	f.Add([]byte(""))
	f.Add([]byte("\x00\xff\n\n  \n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "n.names")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		names, err := readNames(p)
		if err == nil && len(names) == 0 {
			t.Error("no names and no error")
		}
	})
}

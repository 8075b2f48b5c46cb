package main

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/assist/textimage"
)

// TestAskBadPicturesTrueReason: each bad picture gets its true spoken reason — a text file is
// "not a picture", a corrupt picture "damaged", and a valid 8000x8000 photo is read (scaled),
// not called damaged.
func TestAskBadPicturesTrueReason(t *testing.T) {
	needSpeech(t)
	dir := t.TempDir()
	txt := filepath.Join(dir, "notes.txt")
	os.WriteFile(txt, []byte("milk, eggs, bread\n"), 0o644)
	code, o, e := runCmd("ask", "--image", txt, "--wav", filepath.Join(dir, "a.wav"))
	if code != 2 || !strings.Contains(o, "not a picture") || strings.Contains(o, "damaged") || !strings.Contains(e, "notes.txt") {
		t.Errorf("text file: %d %q %q", code, o, e)
	}
	// 8000x8000, grey, the word EXIT in letters about 1200 px high.
	small, err := textimage.Render([]string{"EXIT"}, textimage.Options{Width: 400, Height: 400, Size: 120, Top: 240, Left: 60})
	if err != nil {
		t.Fatal(err)
	}
	big := image.NewGray(image.Rect(0, 0, 8000, 8000))
	for y := 0; y < 8000; y++ {
		row := big.Pix[y*big.Stride : y*big.Stride+8000]
		if y%20 != 0 {
			copy(row, big.Pix[(y-1)*big.Stride:])
			continue
		}
		for x := range row {
			row[x] = small.Pix[(y/20)*small.Stride+4*(x/20)]
		}
	}
	p := filepath.Join(dir, "big.png")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(f, big); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, o, e = runCmd("ask", "--image", p, "--wav", filepath.Join(dir, "b.wav"))
	if code != 0 || strings.TrimSpace(o) != "EXIT" {
		t.Errorf("8000x8000 photo: %d %q %q", code, o, e)
	}
}

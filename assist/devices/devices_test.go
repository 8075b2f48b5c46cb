package devices

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/speech"
)

func spoken(err error) string {
	var sp assist.Spoken
	if errors.As(err, &sp) {
		return sp.Spoken()
	}
	return ""
}

func TestCameraFaultsAreSpoken(t *testing.T) {
	dir := t.TempDir()
	// Unplugged: a device that is not there (opened lazily, so the daemon starts anyway).
	cam, err := OpenCamera("/dev/video63", 640, 480, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cam.Capture(context.Background())
	cam.Close()
	if !strings.Contains(spoken(err), "camera is not connected") {
		t.Errorf("unplugged camera: %v (said %q)", err, spoken(err))
	}
	// A corrupt still image.
	bad := filepath.Join(dir, "bad.png")
	os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\ngarbage"), 0o644)
	cam, _ = OpenCamera(bad, 0, 0, 1)
	_, err = cam.Capture(context.Background())
	cam.Close()
	if !strings.Contains(spoken(err), "image file is damaged") {
		t.Errorf("corrupt image: %v (said %q)", err, spoken(err))
	}
	// A dark picture.
	dark := image.NewGray(image.Rect(0, 0, 320, 240))
	for i := range dark.Pix {
		dark.Pix[i] = uint8(5 + i%7)
	}
	p := filepath.Join(dir, "dark.png")
	f, _ := os.Create(p)
	png.Encode(f, dark)
	f.Close()
	cam, _ = OpenCamera(p, 0, 0, 1)
	_, err = cam.Capture(context.Background())
	cam.Close()
	if got := spoken(err); !strings.HasPrefix(got, "The picture is too dark.") || !strings.Contains(got, "light") {
		t.Errorf("dark picture: said %q", got)
	}
	// A good picture comes back as grey, with stage times.
	good := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := 0; y < 240; y++ {
		for x := 0; x < 320; x++ {
			v := uint8(255)
			if (x/8+y/8)%2 == 0 {
				v = 20
			}
			good.Set(x, y, color.RGBA{v, v, v, 255})
		}
	}
	p = filepath.Join(dir, "good.png")
	f, _ = os.Create(p)
	png.Encode(f, good)
	f.Close()
	cam, _ = OpenCamera(p, 0, 0, 1)
	defer cam.Close()
	img, err := cam.Capture(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// In colour (the scene engine names colours), with its grey at hand for OCR.
	if _, ok := img.(interface{ Gray() *image.Gray }); !ok || img.Bounds().Dx() != 320 {
		t.Errorf("frame %T %v", img, img.Bounds())
	}
	if c, _ := cam.LastStages(); c <= 0 {
		t.Error("no capture time")
	}
}

// silentSynth makes no sound.
type silentSynth struct{}

func (silentSynth) SampleRate() int { return 16000 }
func (silentSynth) Synthesize(ctx context.Context, text string, v speech.Voice, chunk func([]int16) bool) error {
	chunk(make([]int16, 160))
	return nil
}

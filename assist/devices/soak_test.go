package devices

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/trigger"
	"github.com/rpiq/rpiq/device/camera"
)

// lineOCR stands in for Tesseract (the soak is about the loop and the camera, not OCR speed).
type lineOCR struct{}

func (lineOCR) Name() string { return "ocr" }
func (lineOCR) Answer(ctx context.Context, frame image.Image, q string, emit func(assist.Piece) error) error {
	if frame == nil || frame.Bounds().Dx() != 640 {
		return errors.New("no 640x480 frame")
	}
	return emit(assist.Piece{Text: "Line one.\n", Confidence: 0.9})
}

// TestSoakWithTheRealCamera: 200 triggers through OpenCV captures of a video, with the camera
// unplugged (a vanished file) and a corrupt picture swapped in along the way: every fault is
// said, every other trigger answered, and no OpenCV Mat, goroutine or memory is left behind.
func TestSoakWithTheRealCamera(t *testing.T) {
	dir := t.TempDir()
	card, err := camera.TextCard(640, 480, "SOAK TEST")
	if err != nil {
		t.Fatal(err)
	}
	video := filepath.Join(dir, "v.avi")
	if err := camera.WriteVideo(video, 10, card, card, card); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.png")
	os.WriteFile(corrupt, []byte("\x89PNG\r\n\x1a\nbroken"), 0o644)
	gone := filepath.Join(dir, "unplugged.png")

	good, err := OpenCamera(video, 640, 480, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	bad, _ := OpenCamera(corrupt, 0, 0, 1)
	defer bad.Close()
	missing, _ := OpenCamera(gone, 0, 0, 1)
	defer missing.Close()

	res := make(chan assist.Result, 1)
	cfg := config.Default()
	a, err := assist.New(assist.Options{
		Config: cfg, Frames: good, Synth: silentSynth{}, Sink: &speech.Recorder{}, Log: quiet(), Results: res,
		Router: assist.NewRouterWith(map[assist.Intent]string{assist.Read: "ocr"}, map[string]assist.Engine{"ocr": lineOCR{}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	baseG := runtime.NumGoroutine()
	var before runtime.MemStats
	answered, faults := 0, 0
	for i := 0; i < 200; i++ {
		switch {
		case i%10 == 3:
			a.SetFrames(missing)
		case i%10 == 7:
			a.SetFrames(bad)
		default:
			a.SetFrames(good)
		}
		a.Handle(context.Background(), trigger.Event{Command: trigger.ReadThis})
		r := <-res
		switch {
		case r.Err == nil && r.Text == "Line one.":
			answered++
		case r.Err != nil && (strings.Contains(r.Text, "not connected") || strings.Contains(r.Text, "damaged")):
			faults++
		default:
			t.Fatalf("trigger %d: %+v", i, r)
		}
		if i == 49 {
			runtime.GC()
			runtime.ReadMemStats(&before)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	time.Sleep(50 * time.Millisecond)
	if answered != 160 || faults != 40 {
		t.Errorf("answered %d, faults %d; want 160 and 40", answered, faults)
	}
	if n := camera.LiveMats(); n != 0 {
		t.Errorf("%d OpenCV Mats left open", n)
	}
	if g := runtime.NumGoroutine(); g > baseG+2 {
		t.Errorf("goroutines %d -> %d", baseG, g)
	}
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if growth > 8<<20 {
		t.Errorf("heap grew %d bytes over 150 triggers", growth)
	}
	t.Logf("soak with OpenCV: %d answered, %d faults said; heap %+d bytes after warm-up; goroutines %d -> %d; live Mats %d",
		answered, faults, growth, baseG, runtime.NumGoroutine(), camera.LiveMats())
}

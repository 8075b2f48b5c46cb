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
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/textimage"
	"github.com/rpiq/rpiq/assist/trigger"
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
	if _, ok := img.(*image.Gray); !ok || img.Bounds().Dx() != 320 {
		t.Errorf("frame %T %v", img, img.Bounds())
	}
	if c, _ := cam.LastStages(); c <= 0 {
		t.Error("no capture time")
	}
}

func TestKeyMapAndPhrasesFromConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Trigger.Keys = []string{"f5"}
	cfg.Trigger.Phrases["read"] = []string{"read this", "read it"}
	km := KeyMap(cfg)
	if km[trigger.NormalizeKey("f5")] != trigger.ReadThis || km["s"] != trigger.Stop {
		t.Errorf("key map %v", km)
	}
	var readThis, readIt bool
	for _, p := range Phrases(cfg) {
		switch p.Text {
		case "read this":
			readThis = p.Command == trigger.ReadThis && p.Exponent == -10 // the tuned threshold is kept
		case "read it":
			readIt = p.Command == trigger.ReadThis
		}
	}
	if !readThis || !readIt {
		t.Errorf("phrases %+v", Phrases(cfg))
	}
}

// TestReloadSwapsTheCamera: a configuration edit naming another camera source takes effect at
// the next request (the daemon's reload hook).
func TestReloadSwapsTheCamera(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		img, err := textimage.Render([]string{text}, textimage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		f, _ := os.Create(p)
		png.Encode(f, img)
		f.Close()
		return p
	}
	a1, a2 := write("a.png", "FIRST CAMERA"), write("b.png", "SECOND CAMERA")
	cfg := config.Default()
	cfg.Camera.Source = a1
	cfg.Trigger.Voice = false
	cam, err := OpenCamera(a1, 0, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{ctx: context.Background(), log: quiet(), events: make(chan trigger.Event), cam: cam}
	defer d.closeCamera()
	res := make(chan assist.Result, 2)
	r := assist.NewRouter(cfg)
	if _, ok := r.Engines()["ocr"]; !ok {
		t.Skip(r.Missing()["ocr"])
	}
	a, err := assist.New(assist.Options{Config: cfg, Frames: cam, Router: r, Synth: silentSynth{}, Sink: &speech.Recorder{}, Log: quiet(), Results: res, OnReload: d.reload})
	if err != nil {
		t.Fatal(err)
	}
	d.a = a
	read := func() string {
		a.Handle(context.Background(), trigger.Event{Command: trigger.ReadThis})
		return (<-res).Text
	}
	if got := read(); got != "FIRST CAMERA" {
		t.Fatalf("first: %q", got)
	}
	next := cfg
	next.Camera.Source = a2
	d.reload(cfg, next)
	if got := read(); got != "SECOND CAMERA" {
		t.Errorf("after reload: %q", got)
	}
	d.stopTriggers()
}

// silentSynth makes no sound.
type silentSynth struct{}

func (silentSynth) SampleRate() int { return 16000 }
func (silentSynth) Synthesize(ctx context.Context, text string, v speech.Voice, chunk func([]int16) bool) error {
	chunk(make([]int16, 160))
	return nil
}

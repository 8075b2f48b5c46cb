package camera

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// naiveStats computes brightness, contrast and the variance of the 3x3 Laplacian
// ([0 1 0; 1 -4 1; 0 1 0], reflected borders as OpenCV's BORDER_REFLECT_101) in float64.
func naiveStats(g *image.Gray) (mean, std, lapVar float64) {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	at := func(x, y int) float64 {
		if x < 0 {
			x = -x
		}
		if y < 0 {
			y = -y
		}
		if x >= w {
			x = 2*w - 2 - x
		}
		if y >= h {
			y = 2*h - 2 - y
		}
		return float64(g.Pix[y*g.Stride+x])
	}
	n := float64(w * h)
	var s, s2, l, l2 float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := at(x, y)
			s += v
			s2 += v * v
			lap := at(x-1, y) + at(x+1, y) + at(x, y-1) + at(x, y+1) - 4*v
			l += lap
			l2 += lap * lap
		}
	}
	mean = s / n
	std = math.Sqrt(s2/n - mean*mean)
	lm := l / n
	return mean, std, l2/n - lm*lm
}

func randomFrame(rng *rand.Rand, w, h int) *Frame {
	f := &Frame{Width: w, Height: h, Pix: make([]byte, 3*w*h)}
	for i := range f.Pix {
		f.Pix[i] = byte(rng.Intn(256))
	}
	return f
}

func TestMeasureMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, size := range [][2]int{{64, 48}, {320, 240}, {33, 17}} {
		f := randomFrame(rng, size[0], size[1])
		if err := Measure(f); err != nil {
			t.Fatal(err)
		}
		mean, std, lv := naiveStats(f.Gray())
		if math.Abs(f.Brightness-mean) > 0.51 || math.Abs(f.Contrast-std) > 0.51 {
			t.Errorf("%v: brightness %.2f/%.2f contrast %.2f/%.2f", size, f.Brightness, mean, f.Contrast, std)
		}
		if math.Abs(f.Sharpness-lv)/lv > 0.01 {
			t.Errorf("%v: sharpness %.1f, reference %.1f", size, f.Sharpness, lv)
		}
	}
	if LiveMats() != 0 {
		t.Errorf("%d Mats left open", LiveMats())
	}
}

func TestJudge(t *testing.T) {
	card, err := TextCard(640, 480, "EXIT 12 MAIN STREET")
	if err != nil {
		t.Fatal(err)
	}
	if p := Judge(card, Limits{}); p != Fine {
		t.Fatalf("a sharp text card is judged %q (brightness %.0f contrast %.1f sharpness %.0f)", p, card.Brightness, card.Contrast, card.Sharpness)
	}
	blurred, err := Blur(card, 6)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sharp %.0f, blurred %.1f", card.Sharpness, blurred.Sharpness)
	if p := Judge(blurred, Limits{}); p != TooBlurred {
		t.Errorf("a blurred card is judged %q (sharpness %.1f)", p, blurred.Sharpness)
	}
	// A single short word on a plain card has little Laplacian energy but is sharp: Focus
	// normalises by contrast, so it is fine, while the same card slightly out of focus is not.
	word, _ := TextCard(640, 480, "OK")
	if p := Judge(word, Limits{}); p != Fine {
		t.Errorf("a sharp one-word card is judged %q (sharpness %.0f, focus %.3f)", p, word.Sharpness, word.Focus())
	}
	soft, _ := Blur(word, 2.5)
	if p := Judge(soft, Limits{}); p != TooBlurred {
		t.Errorf("a one-word card blurred 2.5 px is judged %q (focus %.4f)", p, soft.Focus())
	}
	t.Logf("one word: sharpness %.0f focus %.3f; blurred: sharpness %.1f focus %.4f", word.Sharpness, word.Focus(), soft.Sharpness, soft.Focus())
	dark := scaled(card, 0.1)
	if p := Judge(dark, Limits{}); p != TooDark {
		t.Errorf("a dark card is judged %q (brightness %.1f)", p, dark.Brightness)
	}
	flat := uniform(640, 480, 128)
	if p := Judge(flat, Limits{}); p != Empty {
		t.Errorf("a uniform grey picture is judged %q", p)
	}
	white := uniform(640, 480, 255)
	if p := Judge(white, Limits{}); p != TooBright {
		t.Errorf("a white picture is judged %q", p)
	}
	err = Assess(dark, Limits{})
	var qe *QualityError
	if !errors.As(err, &qe) || !errors.Is(err, ErrTooDark) || err.Error() != "the picture is too dark" || qe.Frame != dark {
		t.Errorf("Assess(dark) = %v", err)
	}
	if Sharpest([]*Frame{blurred, card, dark}) != card {
		t.Error("Sharpest did not pick the sharp card")
	}
	if LiveMats() != 0 {
		t.Errorf("%d Mats left open", LiveMats())
	}
}

func scaled(f *Frame, k float64) *Frame {
	g := &Frame{Width: f.Width, Height: f.Height, Pix: make([]byte, len(f.Pix))}
	for i, v := range f.Pix {
		g.Pix[i] = byte(float64(v) * k)
	}
	Measure(g)
	return g
}

func uniform(w, h int, v byte) *Frame {
	f := &Frame{Width: w, Height: h, Pix: make([]byte, 3*w*h)}
	for i := range f.Pix {
		f.Pix[i] = v
	}
	Measure(f)
	return f
}

// A video written by OpenCV is read back; the burst keeps the sharpest frame, and the file is
// rewound at its end so captures never run dry.
func TestVideoBurstPicksSharpest(t *testing.T) {
	card, err := TextCard(640, 480, "BEST BEFORE 05 2026")
	if err != nil {
		t.Fatal(err)
	}
	var frames []*Frame
	for i := 0; i < 6; i++ {
		f := card
		if i != 3 {
			if f, err = Blur(card, 2.5); err != nil {
				t.Fatal(err)
			}
		}
		frames = append(frames, f)
	}
	path := filepath.Join(t.TempDir(), "clip.avi")
	if err := WriteVideo(path, 10, frames...); err != nil {
		t.Fatal(err)
	}
	cam, err := Open(Options{Source: path, Burst: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	for round := 0; round < 3; round++ { // 18 frames from a 6-frame file
		best, err := cam.Capture(context.Background())
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if best.Width != 640 || best.Height != 480 {
			t.Fatalf("frame %dx%d", best.Width, best.Height)
		}
		if best.Index != 3 {
			t.Errorf("round %d: picked frame %d (sharpness %.0f), want the sharp frame 3", round, best.Index, best.Sharpness)
		}
		// The frame is the card: dark text pixels on a light background.
		mean, _, _ := naiveStats(best.Gray())
		if mean < 180 || mean > 250 {
			t.Errorf("frame mean luma %.0f, want a light card", mean)
		}
	}
	if LiveMats() != 0 {
		t.Errorf("%d Mats left open", LiveMats())
	}
}

func TestStillImage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "card.png")
	card, _ := TextCard(320, 240, "HELLO")
	writePNG(t, path, card.RGBA())
	cam, err := Open(Options{Source: path})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	f, err := cam.Capture(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Pix {
		if f.Pix[i] != card.Pix[i] {
			t.Fatalf("pixel byte %d is %d, want %d: PNG round trip changed the picture", i, f.Pix[i], card.Pix[i])
		}
	}
	// A dark picture is reported in words, with the frame.
	writePNG(t, path, scaled(card, 0.05).RGBA())
	f, err = cam.Capture(context.Background())
	if !errors.Is(err, ErrTooDark) || f == nil {
		t.Errorf("dark still: %v", err)
	}
	// A corrupt file is an error, not a crash.
	os.WriteFile(path, []byte("\x89PNG\r\n\x1a\nthis is not a png"), 0o644)
	if _, err := cam.Capture(context.Background()); !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), "card.png") {
		t.Errorf("corrupt still: %v", err)
	}
	// A missing file reads as a camera that is not there.
	os.Remove(path)
	if _, err := cam.Capture(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("missing still: %v", err)
	}
	if LiveMats() != 0 {
		t.Errorf("%d Mats left open", LiveMats())
	}
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestDecodeImageRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, []byte("GIF89a"), make([]byte, 1000)} {
		if _, err := DecodeImage("x", b); !errors.Is(err, ErrBadImage) {
			t.Errorf("%q: %v", b[:min(len(b), 8)], err)
		}
	}
	if LiveMats() != 0 {
		t.Errorf("%d Mats left open", LiveMats())
	}
}

func FuzzDecodeImage(f *testing.F) {
	card, _ := TextCard(32, 24, "A")
	var buf strings.Builder
	png.Encode(&buf, card.RGBA())
	f.Add([]byte(buf.String()))
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF"))
	f.Add([]byte("BM"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeImage("fuzz", b)
		if err == nil && (fr.Width <= 0 || len(fr.Pix) != 3*fr.Width*fr.Height) {
			t.Fatalf("bad frame %dx%d with %d bytes", fr.Width, fr.Height, len(fr.Pix))
		}
		if LiveMats() != 0 {
			t.Fatalf("%d Mats left open", LiveMats())
		}
	})
}

func TestParseSource(t *testing.T) {
	cases := map[string]Source{
		"0":                                {Kind: Device, Index: 0},
		" 2 ":                              {Kind: Device, Index: 2},
		"/dev/video1":                      {Kind: Device, Path: "/dev/video1"},
		"rtsp://cam.local/live":            {Kind: Stream, Path: "rtsp://cam.local/live"},
		"HTTP://x/y.mjpg":                  {Kind: Stream, Path: "HTTP://x/y.mjpg"},
		"photo.JPG":                        {Kind: Still, Path: "photo.JPG"},
		"clip.avi":                         {Kind: Video, Path: "clip.avi"},
		"file:///tmp/a.png":                {Kind: Still, Path: "/tmp/a.png"},
		"v4l2src ! videoconvert ! appsink": {Kind: Pipeline, Path: "v4l2src ! videoconvert ! appsink"},
	}
	for in, want := range cases {
		got, err := ParseSource(in)
		if err != nil || got != want {
			t.Errorf("ParseSource(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "  ", "-1", "99", "ftp://x/y"} {
		if _, err := ParseSource(bad); !errors.Is(err, ErrBadSource) {
			t.Errorf("ParseSource(%q): %v, want ErrBadSource", bad, err)
		}
	}
}

// No camera on this machine: opening device 0 fails with ErrUnavailable, quickly; Lazy opens
// and the capture then reports the camera missing after the reconnect timeout.
func TestMissingCamera(t *testing.T) {
	if _, err := os.Stat("/dev/video0"); err == nil {
		t.Skip("this machine has a camera")
	}
	start := time.Now()
	_, err := Open(Options{Source: "0"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open(0): %v", err)
	}
	cam, err := Open(Options{Source: "/dev/video0", Lazy: true, ReconnectTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("lazy open: %v", err)
	}
	_, err = cam.Capture(context.Background())
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("capture without camera: %v", err)
	}
	cam.Close()
	if _, err := cam.Capture(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("capture after close: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v", el)
	}
	if _, err := Probe("0"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Probe: %v", err)
	}
}

// A video file that vanishes and comes back: the camera reports it missing, then reconnects.
func TestReconnect(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cam.avi")
	card, _ := TextCard(160, 120, "HI")
	if err := WriteVideo(path, 10, card, card); err != nil {
		t.Fatal(err)
	}
	cam, err := Open(Options{Source: path, Burst: 2, Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	if _, err := cam.Burst(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	// Force the reopen path: the file goes away while closed.
	cam.mu.Lock()
	cam.disconnect()
	cam.mu.Unlock()
	os.Rename(path, path+".away")
	cam.opts.ReconnectTimeout = 250 * time.Millisecond
	if _, err := cam.Burst(context.Background(), 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("vanished video: %v", err)
	}
	os.Rename(path+".away", path)
	if _, err := cam.Burst(context.Background(), 1); err != nil {
		t.Fatalf("after it came back: %v", err)
	}
	if cam.Reconnects() != 1 {
		t.Errorf("%d reconnects, want 1", cam.Reconnects())
	}
	if LiveMats() != 0 {
		t.Errorf("%d Mats left open", LiveMats())
	}
}

func TestFrameImage(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.RGBA{10, 20, 30, 255})
	f := FrameFromImage(img)
	if c := f.At(1, 1).(color.RGBA); c != (color.RGBA{10, 20, 30, 255}) {
		t.Errorf("At = %v", c)
	}
	if g := f.Gray().GrayAt(1, 1).Y; g != luma(10, 20, 30) {
		t.Errorf("gray %d", g)
	}
	if back := f.RGBA(); back.RGBAAt(1, 1) != img.RGBAAt(1, 1) {
		t.Error("RGBA round trip")
	}
}

func BenchmarkCapture640x480(b *testing.B) {
	card, _ := TextCard(640, 480, "BENCH")
	path := filepath.Join(b.TempDir(), "b.avi")
	WriteVideo(path, 30, card, card, card, card, card)
	cam, err := Open(Options{Source: path, Burst: 5})
	if err != nil {
		b.Fatal(err)
	}
	defer cam.Close()
	for b.Loop() {
		if _, err := cam.Capture(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeImageRejectsHugeHeader(t *testing.T) {
	// A valid PNG header claiming 100000 x 100000 pixels, with no data behind it.
	var buf strings.Builder
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1)))
	b := []byte(buf.String())
	binary.BigEndian.PutUint32(b[16:], 100000) // IHDR width
	binary.BigEndian.PutUint32(b[20:], 100000) // IHDR height
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	_, err := DecodeImage("bomb.png", b)
	if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), "100000x100000") {
		t.Fatalf("huge header: %v", err)
	}
}

func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"0", "/dev/video0", "rtsp://x", "a.png", "b.avi", "x ! appsink", "file://", "://", "-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		src, err := ParseSource(s)
		if err != nil {
			if !errors.Is(err, ErrBadSource) {
				t.Fatalf("%q: error %v does not wrap ErrBadSource", s, err)
			}
			return
		}
		if src.Kind < Device || src.Kind > Still || (src.Kind != Device && src.Path == "") && src.Kind != Video {
			t.Fatalf("%q: %+v", s, src)
		}
	})
}

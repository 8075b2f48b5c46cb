package scene_test

import (
	"context"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/draw"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/devices"
	"github.com/rpiq/rpiq/assist/scene"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/trigger"
	"github.com/rpiq/rpiq/device/camera"
	"github.com/rpiq/rpiq/internal/shareddata"
)

func vision(tb testing.TB, name string) string {
	return shareddata.Path(tb, filepath.Join("vision", name))
}

// photoVideo writes a video of the photo at w x h (the camera's frames) and returns its path.
func photoVideo(tb testing.TB, photo string, w, h, frames int) string {
	tb.Helper()
	b, err := os.ReadFile(vision(tb, photo))
	if err != nil {
		tb.Fatal(err)
	}
	src, err := camera.DecodeImage(photo, b)
	if err != nil {
		tb.Fatal(err)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.BiLinear.Scale(dst, dst.Rect, src, src.Bounds(), draw.Src, nil)
	f := &camera.Frame{Width: w, Height: h, Pix: make([]byte, 3*w*h)}
	for i := 0; i < w*h; i++ {
		copy(f.Pix[3*i:3*i+3], dst.Pix[4*i:4*i+3])
	}
	fs := make([]*camera.Frame, frames)
	for i := range fs {
		fs[i] = f
	}
	path := filepath.Join(tb.TempDir(), "v.avi")
	if err := camera.WriteVideo(path, 30, fs...); err != nil {
		tb.Fatal(err)
	}
	return path
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openEngine(tb testing.TB) *scene.Engine {
	tb.Helper()
	e := scene.New(scene.Options{
		Objects: vision(tb, "yolox_nano.onnx"), Classes: vision(tb, "coco.names"),
		Faces: vision(tb, "opencv_face_detector_uint8.pb"), FacesConfig: vision(tb, "opencv_face_detector.pbtxt"),
		Verbosity: "normal", Log: quiet(),
	})
	for _, c := range e.Capabilities() {
		if c.Err != nil && c.Name != "textdet" { // the text-detection network is optional
			tb.Fatal(c.Err)
		}
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

// rig is the daemon's loop with the real camera (a 640x480 video of dog.jpg through OpenCV),
// the scene engine and eSpeak NG; only the sound card is replaced by a recorder. It is the
// reading path's latency rig (assist/devices) with "what is in front of me".
type rig struct {
	a       *assist.Assistant
	results chan assist.Result
}

func newRig(tb testing.TB, synth speech.Synthesizer, w, h int) *rig {
	tb.Helper()
	video := photoVideo(tb, "dog.jpg", w, h, 6)
	cfg := config.Default()
	cam, err := devices.OpenCamera(video, w, h, cfg.Camera.Burst)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cam.Close() })
	router := assist.NewRouterWith(map[assist.Intent]string{assist.Describe: "scene"}, map[string]assist.Engine{"scene": openEngine(tb)})
	res := make(chan assist.Result, 4)
	a, err := assist.New(assist.Options{Config: cfg, Frames: cam, Router: router, Synth: synth, Sink: &speech.Recorder{}, Log: quiet(), Results: res})
	if err != nil {
		tb.Fatal(err)
	}
	return &rig{a: a, results: res}
}

func (r *rig) describe(tb testing.TB) assist.Result {
	r.a.Handle(context.Background(), trigger.Event{Command: trigger.Describe, Origin: trigger.FromVoice, Time: time.Now()})
	select {
	case res := <-r.results:
		if res.Err != nil {
			tb.Fatal(res.Err)
		}
		return res
	case <-time.After(30 * time.Second):
		tb.Fatal("no answer")
	}
	return assist.Result{}
}

func espeak(tb testing.TB) speech.Synthesizer {
	e, err := speech.OpenESpeak()
	if err != nil {
		if os.Getenv("RPIQ_REQUIRE_DEPS") == "1" {
			tb.Fatal(err)
		}
		tb.Skip(err)
	}
	return e
}

// TestDescribeLatency prints the stage times of "what is in front of me" on a 640x480 frame and
// holds the goal of 1.5 s from the trigger to the first sample of speech loosely (it fails
// above 4.5 s: a shared CI machine is slow; BenchmarkDescribeLatency gives the figure).
func TestDescribeLatency(t *testing.T) {
	r := newRig(t, espeak(t), 640, 480)
	r.describe(t) // warm-up: OpenCV sets up its layers on the first pass
	var worst time.Duration
	for i := 0; i < 2; i++ {
		res := r.describe(t)
		if !strings.Contains(res.Text, "dog") || !strings.Contains(res.Text, "bicycle") {
			t.Errorf("said %q", res.Text)
		}
		t.Logf("what is in front of me, 640x480: %s", res.Trace)
		worst = max(worst, res.Trace.FirstSample)
	}
	if worst > 1500*time.Millisecond {
		t.Logf("trigger to first audio %v: above the 1.5 s goal (machine load?)", worst)
	}
	if worst > 4500*time.Millisecond {
		t.Errorf("trigger to first audio %v", worst)
	}
}

func BenchmarkDescribeLatency(b *testing.B) {
	r := newRig(b, espeak(b), 640, 480)
	r.describe(b)
	var sum assist.Trace
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := r.describe(b)
		sum.Capture += res.Trace.Capture
		sum.Choose += res.Trace.Choose
		sum.Engine += res.Trace.Engine
		sum.Synthesis += res.Trace.Synthesis
		sum.FirstSample += res.Trace.FirstSample
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 / n }
	b.ReportMetric(ms(sum.FirstSample), "ms-first-audio")
	b.ReportMetric(ms(sum.Capture), "ms-capture")
	b.ReportMetric(ms(sum.Choose), "ms-choose")
	b.ReportMetric(ms(sum.Engine), "ms-detect")
	b.ReportMetric(ms(sum.Synthesis), "ms-tts")
	b.ReportMetric(ms(sum.FirstSample)/1500, "x-goal")
}

// silent makes no sound (the soak is about the loop, the camera and the detectors).
type silent struct{}

func (silent) SampleRate() int { return 16000 }
func (silent) Synthesize(ctx context.Context, text string, v speech.Voice, chunk func([]int16) bool) error {
	chunk(make([]int16, 160))
	return nil
}

// TestDescribeSoak: "what is in front of me" requests through the real camera and the real
// detectors leave no OpenCV Mat, goroutine or heap growth behind. Each request runs both
// networks (about 0.5 s here), so the suite makes 12; RPIQ_SOAK=1 makes the goal's 200.
func TestDescribeSoak(t *testing.T) {
	n := 12
	if os.Getenv("RPIQ_SOAK") == "1" {
		n = 200
	}
	r := newRig(t, silent{}, 320, 240)
	runtime.GC()
	baseG := runtime.NumGoroutine()
	var before runtime.MemStats
	for i := 0; i < n; i++ {
		res := r.describe(t)
		if !strings.Contains(res.Text, "dog") {
			t.Fatalf("request %d: %q", i, res.Text)
		}
		if i == n/4 {
			runtime.GC()
			runtime.ReadMemStats(&before)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	time.Sleep(50 * time.Millisecond)
	if m := scene.LiveMats() + camera.LiveMats(); m != 0 {
		t.Errorf("%d OpenCV Mats left open", m)
	}
	if g := runtime.NumGoroutine(); g > baseG+2 {
		t.Errorf("goroutines %d -> %d", baseG, g)
	}
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if k := int64(n - n/4); growth > 1<<20+k*(16<<10) {
		t.Errorf("heap grew %d bytes over %d requests", growth, k)
	}
	t.Logf("describe soak: %d requests; heap %+d bytes after warm-up; goroutines %d -> %d; live Mats %d", n, growth, baseG, runtime.NumGoroutine(), scene.LiveMats()+camera.LiveMats())
}

package devices

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/trigger"
	"github.com/rpiq/rpiq/device/camera"
)

// latencyRig is the daemon's loop with the real camera (a 640x480 video file through OpenCV),
// Tesseract and eSpeak NG; only the sound card is replaced by a recorder.
type latencyRig struct {
	a       *assist.Assistant
	results chan assist.Result
	sink    *speech.Recorder
	cam     *Camera
}

func newLatencyRig(tb testing.TB, paced bool) *latencyRig {
	tb.Helper()
	e, err := speech.OpenESpeak()
	if err != nil {
		tb.Skip(err)
	}
	dir := tb.TempDir()
	card, err := camera.TextCard(640, 480, "EXIT 12 MAIN STREET", "TAKE 2 TABLETS DAILY")
	if err != nil {
		tb.Fatal(err)
	}
	blurred, err := camera.Blur(card, 3)
	if err != nil {
		tb.Fatal(err)
	}
	video := filepath.Join(dir, "v.avi")
	if err := camera.WriteVideo(video, 30, blurred, card, blurred, card, card, blurred); err != nil {
		tb.Fatal(err)
	}
	cfg := config.Default()
	cfg.Camera.Source = video
	cam, err := OpenCamera(video, 640, 480, cfg.Camera.Burst)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cam.Close() })
	r := assist.NewRouter(cfg)
	if _, ok := r.Engines()["ocr"]; !ok {
		tb.Skip(r.Missing()["ocr"])
	}
	sink := &speech.Recorder{Paced: paced}
	res := make(chan assist.Result, 4)
	a, err := assist.New(assist.Options{Config: cfg, Frames: cam, Router: r, Synth: e, Sink: sink, Log: quiet(), Results: res})
	if err != nil {
		tb.Fatal(err)
	}
	return &latencyRig{a: a, results: res, sink: sink, cam: cam}
}

func (lr *latencyRig) readThis(tb testing.TB) assist.Result {
	lr.a.Handle(context.Background(), trigger.Event{Command: trigger.ReadThis, Origin: trigger.FromKey, Time: time.Now()})
	select {
	case r := <-lr.results:
		if r.Err != nil {
			tb.Fatal(r.Err)
		}
		return r
	case <-time.After(20 * time.Second):
		tb.Fatal("no answer")
	}
	return assist.Result{}
}

// TestReadThisLatency prints the stage times of "read this" on a 640x480 frame and holds the
// goal of under 1 s from the trigger to the first sample of speech (generous on a loaded CI
// machine: it fails above 3 s).
func TestReadThisLatency(t *testing.T) {
	lr := newLatencyRig(t, false)
	lr.readThis(t) // warm-up: Tesseract and eSpeak load their data on first use
	var worst time.Duration
	for i := 0; i < 3; i++ {
		r := lr.readThis(t)
		if !strings.Contains(r.Text, "EXIT 12 MAIN STREET") {
			t.Errorf("read %q", r.Text)
		}
		t.Logf("read this, 640x480: %s", r.Trace)
		worst = max(worst, r.Trace.FirstSample)
	}
	if worst > time.Second {
		t.Logf("trigger to first audio %v: above the 1 s goal (machine load?)", worst)
	}
	if worst > 3*time.Second {
		t.Errorf("trigger to first audio %v", worst)
	}
}

// TestBargeInLatency: "stop" while an answer is spoken silences it within 100 ms.
func TestBargeInLatency(t *testing.T) {
	lr := newLatencyRig(t, true)
	lr.a.Speaker().SetVoice(speech.Voice{Name: "en", RateWPM: 80, Pitch: 50, Volume: 100}) // slow: long speech
	go lr.a.Handle(context.Background(), trigger.Event{Command: trigger.ReadThis, Time: time.Now()})
	deadline := time.Now().Add(10 * time.Second)
	for len(lr.sink.PCM().Samples) < 22050/2 {
		if time.Now().After(deadline) {
			t.Fatal("never spoke")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop := time.Now()
	lr.a.Handle(context.Background(), trigger.Event{Command: trigger.Stop, Time: stop})
	time.Sleep(200 * time.Millisecond)
	gap := lr.sink.LastSample().Sub(stop)
	t.Logf("barge-in: last sample %v after stop (+ the speaker's 40 ms buffer on a real card)", gap)
	if gap > 100*time.Millisecond {
		t.Errorf("speech went on %v after stop", gap)
	}
}

func BenchmarkReadThisLatency(b *testing.B) {
	lr := newLatencyRig(b, false)
	lr.readThis(b)
	var sum assist.Trace
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := lr.readThis(b)
		sum.Capture += r.Trace.Capture
		sum.Choose += r.Trace.Choose
		sum.Engine += r.Trace.Engine
		sum.Synthesis += r.Trace.Synthesis
		sum.FirstSample += r.Trace.FirstSample
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 / n }
	b.ReportMetric(ms(sum.FirstSample), "ms-first-audio")
	b.ReportMetric(ms(sum.Capture), "ms-capture")
	b.ReportMetric(ms(sum.Choose), "ms-choose")
	b.ReportMetric(ms(sum.Engine), "ms-ocr")
	b.ReportMetric(ms(sum.Synthesis), "ms-tts")
}

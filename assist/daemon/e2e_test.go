package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/ocr"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/device/audio"
	"github.com/rpiq/rpiq/device/audio/alsatest"
	"github.com/rpiq/rpiq/device/camera"
	"github.com/rpiq/rpiq/internal/shareddata"

	_ "github.com/rpiq/rpiq/assist/scene" // the scene engine, registered as in cmd/assist
)

// The end-to-end tests run the daemon in a child process (ALSA reads ~/.asoundrc once per
// process, and oto allows one output per process) whose $HOME holds a fake sound card: the
// microphone plays a WAV of eSpeak NG saying a sentence, the speaker writes to a file.

const childEnv = "RPIQ_ASSIST_E2E_CHILD"

// knownLine is the text on the video's frames.
const knownLine = "PLATFORM 4 TO OXFORD"

type childReport struct {
	Command string  `json:"command"`
	Text    string  `json:"text"`
	Err     string  `json:"err"`
	TraceMS float64 `json:"first_sample_ms"`
	Trace   string  `json:"trace"`
}

func requireDeps(t *testing.T) (*speech.ESpeak, string) {
	t.Helper()
	skip := func(err error) {
		if os.Getenv("RPIQ_REQUIRE_DEPS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	e, err := speech.OpenESpeak()
	if err != nil {
		skip(err)
	}
	if _, err := ocr.Version(); err != nil {
		skip(err)
	}
	if _, err := os.Stat("/usr/share/pocketsphinx/model/en-us/en-us"); err != nil {
		skip(fmt.Errorf("PocketSphinx en-us model missing (apt-get install pocketsphinx-en-us): %v", err))
	}
	return e, t.TempDir()
}

// speak returns eSpeak NG's PCM for text with half a second of silence before it.
func speak(t *testing.T, e *speech.ESpeak, text string) *audio.PCM {
	p, err := speech.SynthesizeAll(context.Background(), e, text, speech.DefaultVoice)
	if err != nil {
		t.Fatal(err)
	}
	lead := make([]int16, p.Rate/2)
	return &audio.PCM{Rate: p.Rate, Channels: 1, Samples: append(lead, p.Samples...)}
}

// scene writes the video the camera plays: the known line, sharp and blurred frames.
func scene(t *testing.T, dir string) string {
	card, err := camera.TextCard(640, 480, knownLine)
	if err != nil {
		t.Fatal(err)
	}
	blurred, err := camera.Blur(card, 4)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "scene.avi")
	if err := camera.WriteVideo(path, 10, blurred, blurred, card, card, blurred, card, blurred, card, card, card); err != nil {
		t.Fatal(err)
	}
	return path
}

// runChild runs the daemon against the fake card for at most d and returns its results.
func runChild(t *testing.T, fake *alsatest.Fake, cfgPath string, d time.Duration) []childReport {
	cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonChild$", "-test.v", "-test.count=1")
	cmd.Env = append(fake.Env(), childEnv+"="+cfgPath, "RPIQ_E2E_SECONDS="+fmt.Sprint(d.Seconds()))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var reports []childReport
	var log strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			var r childReport
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatalf("bad child line %q: %v", line, err)
			}
			reports = append(reports, r)
		} else {
			log.WriteString(line + "\n")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child failed: %v\n%s\n%s", err, log.String(), stderr.String())
	}
	if testing.Verbose() {
		t.Logf("child log:\n%s", lastLines(log.String()+stderr.String(), 30))
	}
	return reports
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// writeConfig writes the daemon's settings: the video as the camera, voice commands on, and,
// when the shared data is there, its detectors as the installed models, so the daemon loads
// (warms) the scene engine beside the reader as `assist run` does on a wearable.
func writeConfig(t *testing.T, dir, video string) string {
	path := filepath.Join(dir, "assist.toml")
	src := fmt.Sprintf("[camera]\nsource = %q\nburst = 5\n[trigger]\nvoice = true\nkeys = []\n", video)
	if root := shareddata.Root(); root != "" {
		src += fmt.Sprintf("[models]\ndir = %q\n", filepath.Join(root, "vision"))
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEndToEndReadThis: "read this" spoken into the microphone makes the daemon read the video's
// text aloud; the speech it writes to the sound card matches the known line.
func TestEndToEndReadThis(t *testing.T) {
	e, dir := requireDeps(t)
	video := scene(t, dir)
	fake, err := alsatest.Write(dir, alsatest.Options{Mic: speak(t, e, "read this")})
	if err != nil {
		t.Fatal(err)
	}
	reports := runChild(t, fake, writeConfig(t, dir, video), 20*time.Second)
	if len(reports) != 1 {
		t.Fatalf("want exactly one command, got %+v", reports)
	}
	r := reports[0]
	if r.Command != "read" || r.Err != "" {
		t.Fatalf("result %+v", r)
	}
	if ocr.CER(r.Text, knownLine) > 0.1 {
		t.Errorf("read %q, want %q", r.Text, knownLine)
	}
	// What reached the speaker: the speech of the text handed to the TTS (plus the earcons).
	played, err := fake.Played(e.SampleRate(), 1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := speech.SynthesizeAll(context.Background(), e, r.Text, speech.DefaultVoice)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("RPIQ_E2E_DEBUG") != "" {
		segs := segments(played, 300)
		t.Logf("segments: %v", segs)
	}
	// The file device is not paced, so silence of any length lies between the sounds: compare the
	// time during which there is sound.
	sound := activeTime(played, 300)
	speechD := activeTime(&audio.PCM{Rate: want.Rate, Channels: 1, Samples: want.Samples}, 300)
	t.Logf("read %q; %v of sound played for %v of speech; trigger to first sample %s", r.Text, sound.Round(time.Millisecond), speechD.Round(time.Millisecond), r.Trace)
	if sound < speechD*9/10 || sound > speechD+500*time.Millisecond { // + the listening tone and a tick or two
		t.Errorf("played %v of sound; the speech of %q lasts %v", sound, r.Text, speechD)
	}
	if played.Peak() < 5000 {
		t.Errorf("played audio peaks at %d: silent", played.Peak())
	}
}

// TestEndToEndUnrelatedSpeechTriggersNothing: ordinary speech near the device starts nothing.
func TestEndToEndUnrelatedSpeechTriggersNothing(t *testing.T) {
	e, dir := requireDeps(t)
	video := scene(t, dir)
	fake, err := alsatest.Write(dir, alsatest.Options{Mic: speak(t, e, "the weather is nice today, we could go for a walk")})
	if err != nil {
		t.Fatal(err)
	}
	reports := runChild(t, fake, writeConfig(t, dir, video), 6*time.Second)
	if len(reports) != 0 {
		t.Errorf("unrelated speech triggered %+v", reports)
	}
	played, err := fake.Played(e.SampleRate(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := activeTime(played, 300); d > 0 {
		t.Errorf("%v of sound played though nothing was asked", d)
	}
}

// TestDaemonChild is the daemon side of the end-to-end tests (it runs only as their child).
func TestDaemonChild(t *testing.T) {
	cfgPath := os.Getenv(childEnv)
	if cfgPath == "" {
		t.Skip("runs as the child of the end-to-end tests")
	}
	limit, err := time.ParseDuration(os.Getenv("RPIQ_E2E_SECONDS") + "s")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan assist.Result, 4)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	go func() {
		done <- RunDaemon(ctx, DaemonOptions{Config: cfg, ConfigPath: cfgPath, Log: log, Results: results})
	}()
	for {
		select {
		case r := <-results:
			rep := childReport{Command: r.Event.Command.String(), Text: r.Text, Trace: r.Trace.String(), TraceMS: float64(r.Trace.FirstSample) / 1e6}
			if r.Err != nil {
				rep.Err = r.Err.Error()
			}
			b, _ := json.Marshal(rep)
			fmt.Printf("RESULT %s\n", b)
			// One answer is what the test asks for: let the speech drain, then stop.
			time.Sleep(500 * time.Millisecond)
			cancel()
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// segments lists the stretches of sound louder than threshold (gaps under 50 ms joined).
func segments(p *audio.PCM, threshold int) []string {
	var out []string
	start, last := -1, -1
	gap := p.Rate / 20
	for i, s := range p.Samples {
		v := int(s)
		if v < 0 {
			v = -v
		}
		if v > threshold {
			if start < 0 || i-last > gap {
				if start >= 0 {
					out = append(out, fmt.Sprintf("%.2f-%.2fs", float64(start)/float64(p.Rate), float64(last)/float64(p.Rate)))
				}
				start = i
			}
			last = i
		}
	}
	if start >= 0 {
		out = append(out, fmt.Sprintf("%.2f-%.2fs", float64(start)/float64(p.Rate), float64(last)/float64(p.Rate)))
	}
	if len(out) > 40 {
		out = append(out[:20], fmt.Sprintf("... %d more ...", len(out)-40))
	}
	return out
}

// activeTime is how long p has sound: the 10 ms windows whose peak is above threshold.
func activeTime(p *audio.PCM, threshold int) time.Duration {
	w := p.Rate / 100
	n := 0
	for i := 0; i+w <= len(p.Samples); i += w {
		for _, s := range p.Samples[i : i+w] {
			if int(s) > threshold || int(s) < -threshold {
				n++
				break
			}
		}
	}
	return time.Duration(n) * 10 * time.Millisecond
}

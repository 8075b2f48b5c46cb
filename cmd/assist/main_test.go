package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/device/audio"
	"github.com/rpiq/rpiq/device/audio/alsatest"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func needSpeech(t *testing.T) {
	if _, err := speech.OpenESpeak(); err != nil {
		if os.Getenv("RPIQ_REQUIRE_DEPS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

func TestUsage(t *testing.T) {
	if code, _, _ := runCmd(); code != 2 {
		t.Errorf("no command: %d", code)
	}
	if code, _, e := runCmd("nope"); code != 2 || !strings.Contains(e, "unknown command") {
		t.Errorf("unknown command: %d %q", code, e)
	}
	if code, _, _ := runCmd("ask", "--config", "../../examples/assist.toml"); code != 2 {
		t.Errorf("ask without --image: %d", code)
	}
	if code, _, _ := runCmd("run"); code != 2 {
		t.Errorf("run without --config: %d", code)
	}
}

func TestCheck(t *testing.T) {
	if code, o, _ := runCmd("check", "--config", "../../examples/assist.toml"); code != 0 || !strings.Contains(o, "OK") {
		t.Errorf("example: %d %q", code, o)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[speech]\nrate_wpm = 9000\nvoise = \"en\"\n"), 0o644)
	code, o, _ := runCmd("check", "--config", bad)
	if code != 2 || !strings.Contains(o, "bad.toml:2: speech.rate_wpm:") || !strings.Contains(o, `bad.toml:3: speech.voise: unknown setting; did you mean "voice"?`) {
		t.Errorf("bad config: %d\n%s", code, o)
	}
	if code, _, e := runCmd("check", "--config", filepath.Join(t.TempDir(), "missing.toml")); code != 2 || !strings.Contains(e, "missing.toml") {
		t.Errorf("missing file: %d %q", code, e)
	}
}

func TestAskReadsTheSampleIntoAWAV(t *testing.T) {
	needSpeech(t)
	wav := filepath.Join(t.TempDir(), "answer.wav")
	code, o, e := runCmd("ask", "--config", "../../examples/assist.toml", "--image", "../../examples/sample.png", "--wav", wav)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, o, e)
	}
	want := "OAT MILK 1 litre\nBest before 12 May 2027.\nKeep refrigerated after opening.\n"
	if o != want {
		t.Errorf("stdout %q, want %q", o, want)
	}
	p, err := audio.ReadWAVFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Duration(); d < 3*time.Second || d > 10*time.Second || p.Peak() < 5000 {
		t.Errorf("WAV lasts %v, peak %d", d, p.Peak())
	}
}

func TestAskWithTheSpeechProgram(t *testing.T) {
	needSpeech(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "program.toml")
	os.WriteFile(cfg, []byte("[speech]\nengine = \"program\"\nrate_wpm = 300\n"), 0o644)
	wav := filepath.Join(dir, "p.wav")
	if code, o, e := runCmd("ask", "--config", cfg, "--image", "../../examples/sample.png", "--wav", wav); code != 0 || !strings.HasPrefix(o, "OAT MILK") {
		t.Fatalf("exit %d %q %q", code, o, e)
	}
	p, err := audio.ReadWAVFile(wav)
	if err != nil || p.Duration() < 2*time.Second || p.Peak() < 5000 {
		t.Errorf("WAV: %v", err)
	}
}

func TestAskFaults(t *testing.T) {
	needSpeech(t)
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.png")
	os.WriteFile(corrupt, []byte("\x89PNG\r\n\x1a\nthis is not really a png"), 0o644)
	wav := filepath.Join(dir, "err.wav")
	code, o, e := runCmd("ask", "--image", corrupt, "--wav", wav)
	if code != 2 || !strings.Contains(o, "image file is damaged") || !strings.Contains(e, "corrupt.png") {
		t.Errorf("corrupt image: %d %q %q", code, o, e)
	}
	if p, err := audio.ReadWAVFile(wav); err != nil || p.Duration() < time.Second {
		t.Errorf("the error was not spoken into the WAV: %v", err)
	}
	// Detector models missing from the model folder: the scene engine says which capability is
	// off and why, and still answers what needs no model.
	cfg := filepath.Join(dir, "missing-model.toml")
	os.WriteFile(cfg, []byte("[models]\ndir = \"empty-models\"\nvlm = \"no-such-model\"\ntessdata = \"no-such-tessdata\"\n"), 0o644)
	code, o, _ = runCmd("ask", "--config", cfg, "--image", "../../examples/sample.png", "--question", "what is in front of me", "--wav", wav)
	if code != 0 || !strings.Contains(o, "I can't recognise objects: the model file yolox_nano.onnx is missing.") || !strings.Contains(o, "It is ") {
		t.Errorf("describe without models: %d %q", code, o)
	}
	// Only the vision-language model answers open questions; the one configured is missing.
	code, o, _ = runCmd("ask", "--config", cfg, "--image", "../../examples/sample.png", "--question", "who made this", "--wav", wav)
	if code != 1 || !strings.Contains(o, "the vision-language model is missing") {
		t.Errorf("missing model: %d %q", code, o)
	}
	code, o, _ = runCmd("ask", "--config", cfg, "--image", "../../examples/sample.png", "--wav", wav)
	if code != 1 || !strings.Contains(o, "text reader does not start") {
		t.Errorf("missing tessdata: %d %q", code, o)
	}
	code, o, _ = runCmd("ask", "--image", filepath.Join(dir, "none.png"), "--wav", wav)
	if code != 2 || !strings.Contains(o, "cannot be opened") {
		t.Errorf("missing image: %d %q", code, o)
	}
}

// TestNoSoundCard: ask still prints the answer and speaks it into assist-answer.wav in the
// working folder; the daemon runs without a card and stops cleanly on SIGINT. (The only test of
// this process that opens the sound card.)
func TestNoSoundCard(t *testing.T) {
	needSpeech(t)
	alsatest.Setup(t, alsatest.Options{NoCard: true})
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	t.Chdir(work)
	code, o, e := runCmd("ask", "--config", filepath.Join(examples, "assist.toml"), "--image", filepath.Join(examples, "sample.png"))
	if code != 0 || !strings.HasPrefix(o, "OAT MILK") || !strings.Contains(e, "no sound card") {
		t.Errorf("ask with no sound card: %d %q %q", code, o, e)
	}
	if st, err := os.Stat(filepath.Join(work, fallbackWAV)); err != nil || st.Size() < 44+22050 {
		t.Errorf("no spoken answer in %s: %v", fallbackWAV, err)
	}
	// Bad input is an error on stderr, with no answer file left behind.
	os.Remove(filepath.Join(work, fallbackWAV))
	if code, _, _ := runCmd("ask", "--image", filepath.Join(work, "none.png")); code != 2 {
		t.Errorf("ask with a missing picture and no sound card: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(work, fallbackWAV)); err == nil {
		t.Errorf("%s written for bad input", fallbackWAV)
	}
	t.Chdir(filepath.Join(examples, "..", "cmd", "assist"))
	done := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() {
		done <- run([]string{"run", "--config", "../../examples/assist.toml", "--keys=false"}, &out, &errOut)
	}()
	time.Sleep(1500 * time.Millisecond)
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exited %d\n%s", code, errOut.String())
		}
		if !strings.Contains(errOut.String(), "no speaker") || !strings.Contains(errOut.String(), "assistant stopped") {
			t.Errorf("log:\n%s", errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop on SIGINT")
	}
}

func TestDoctorReports(t *testing.T) {
	code, o, _ := runCmd("doctor", "--config", "../../examples/assist.toml")
	for _, name := range []string{"config", "camera", "microphone", "speaker", "gpu", "speech", "ocr", "voice", "vlm"} {
		if !strings.Contains(o, " "+name+" ") {
			t.Errorf("doctor does not report %s:\n%s", name, o)
		}
	}
	if strings.Contains(o, "FAIL") != (code == 1) {
		t.Errorf("exit %d does not match the report:\n%s", code, o)
	}
}

// A --wav path whose folder does not exist is a named error before any work: exit 2, and no
// "wrote" line (issue 14).
func TestAskWAVToAMissingFolder(t *testing.T) {
	code, o, e := runCmd("ask", "--image", "../../examples/sample.png", "--wav", "/nonexistent/dir/x.wav")
	if code != 2 || strings.Contains(e, "wrote") || o != "" || !strings.Contains(e, "/nonexistent/dir") {
		t.Errorf("exit %d\nstdout %q\nstderr %q", code, o, e)
	}
}

// ask is the daemon's answer path: an open question goes to the engine with its own words, and
// a fault is printed, spoken into the WAV and gives the exit status of its kind.
func TestAskUsesTheAssistant(t *testing.T) {
	needSpeech(t)
	wav := filepath.Join(t.TempDir(), "q.wav")
	code, o, e := runCmd("ask", "--image", "../../examples/sample.png", "--question", "how old is the milk?", "--wav", wav)
	if code != 1 || !strings.Contains(o, "I can't answer questions about the picture") || !strings.Contains(e, "wrote") {
		t.Errorf("open question without a model: %d %q %q", code, o, e)
	}
}

// assist check checks what the settings mean, each problem named by line (issue 14): a camera
// file and a model folder that do not exist, a voice that is not one for the language, a
// language Tesseract cannot read, a phrase another command already has.
func TestCheckMeaning(t *testing.T) {
	needSpeech(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "meaning.toml")
	os.WriteFile(cfg, []byte(`language = "xx"

[camera]
source = "no-such-video.avi"

[trigger.phrases]
read = ["stop"]

[speech]
voice = "klingon"

[models]
vlm = "no-such-model"
`), 0o644)
	code, o, _ := runCmd("check", "--config", cfg)
	for _, want := range []string{
		"meaning.toml:1: language: the text reader (Tesseract) has no language \"xx\"",
		"meaning.toml:4: camera.source: the file " + filepath.Join(dir, "no-such-video.avi") + " does not exist",
		"meaning.toml:7: trigger.phrases.read: \"stop\" is also a phrase of the stop command",
		"meaning.toml:10: speech.voice: \"klingon\" is eSpeak NG's Klingon voice",
		"meaning.toml:13: models.vlm: the folder " + filepath.Join(dir, "no-such-model") + " does not exist",
		"5 problems",
	} {
		if !strings.Contains(o, want) {
			t.Errorf("missing %q", want)
		}
	}
	if code != 2 {
		t.Errorf("exit %d", code)
	}
	if t.Failed() {
		t.Logf("output:\n%s", o)
	}
	// A voice eSpeak NG does not have at all, on an otherwise good file.
	os.WriteFile(cfg, []byte("[speech]\nvoice = \"zz-nothing\"\n"), 0o644)
	if code, o, _ := runCmd("check", "--config", cfg); code != 2 || !strings.Contains(o, `meaning.toml:2: speech.voice: eSpeak NG has no voice "zz-nothing"`) {
		t.Errorf("unknown voice: %d %q", code, o)
	}
	// --deep loads the OCR data, the recogniser and the voice of the example.
	if code, o, _ := runCmd("check", "--deep", "--config", "../../examples/assist.toml"); code != 0 || !strings.Contains(o, "OK (models") {
		t.Errorf("deep check of the example: %d %q", code, o)
	}
	// --deep names a model folder that exists but holds no model.
	os.WriteFile(cfg, []byte("[models]\nvlm = \".\"\n"), 0o644)
	if code, o, _ := runCmd("check", "--deep", "--config", cfg); code != 2 || !strings.Contains(o, "meaning.toml:2: models.vlm: the vlm engine does not load") {
		t.Errorf("deep check of an empty model folder: %d %q", code, o)
	}
}

// The doctor fails the Klingon voice for English and never says to install PocketSphinx
// because of a phrase clash (issue 14).
func TestDoctorJudgesTheSettings(t *testing.T) {
	needSpeech(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "k.toml")
	abs, _ := filepath.Abs("../../examples/sample.png")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[camera]\nsource = %q\n[speech]\nvoice = \"klingon\"\n", abs)), 0o644)
	code, o, _ := runCmd("doctor", "--config", cfg)
	if code != 1 || !regexp.MustCompile(`FAIL speech .*klingon`).MatchString(o) {
		t.Errorf("klingon: %d\n%s", code, o)
	}
	// A phrase clash makes the file not load: bad input, exit 2 (the checks are still printed).
	os.WriteFile(cfg, []byte("[trigger.phrases]\nread = [\"stop\"]\n"), 0o644)
	code, o, _ = runCmd("doctor", "--config", cfg)
	if code != 2 || strings.Contains(o, "install pocketsphinx") || !strings.Contains(o, "run assist check") {
		t.Errorf("phrase clash: %d\n%s", code, o)
	}
}

// The C libraries' stderr chatter (ALSA's "cannot find card '0'", OpenCV's warnings) is captured
// and said in one summary line, and only because the command failed (issue 14). The doctor on
// this machine finds no sound card, which makes ALSA talk.
func TestNativeNoiseIsSummarised(t *testing.T) {
	alsatest.Setup(t, alsatest.Options{NoCard: true})
	cmd := exec.Command(os.Args[0], "doctor", "--config", "../../examples/assist.toml")
	cmd.Env = append(os.Environ(), "RPIQ_ASSIST_AS_MAIN=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("doctor without a sound card: %v\n%s\n%s", err, o.String(), e.String())
	}
	if !strings.Contains(o.String(), "FAIL speaker") {
		t.Fatalf("the doctor found a speaker:\n%s", o.String())
	}
	lines := strings.Split(strings.TrimSpace(e.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "assist: the native libraries wrote") || !strings.Contains(lines[0], "ALSA") {
		t.Errorf("stderr has %d lines, want one summary:\n%s", len(lines), e.String())
	}
	// A command that succeeds says nothing about it.
	cmd = exec.Command(os.Args[0], "check", "--config", "../../examples/assist.toml")
	cmd.Env = append(os.Environ(), "RPIQ_ASSIST_AS_MAIN=1")
	e.Reset()
	cmd.Stderr = &e
	if err := cmd.Run(); err != nil || e.Len() != 0 {
		t.Errorf("check: %v, stderr %q", err, e.String())
	}
}

// listen runs the configured spotter on a recording: unrelated speech, then "read this" (eSpeak
// NG): one command, at the end of the phrase, with its score at or above its threshold.
func TestListen(t *testing.T) {
	needSpeech(t)
	e, _ := speech.OpenESpeak()
	v := speech.Voice{Name: "en-us", RateWPM: 160, Pitch: 50, Volume: 100}
	a, err := speech.SynthesizeAll(context.Background(), e, "I would like a cup of tea with milk.", v)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := speech.SynthesizeAll(context.Background(), e, "read this", v)
	gap := make([]int16, a.Rate)
	pcm := &audio.PCM{Rate: a.Rate, Channels: 1, Samples: append(append(append(a.Samples, gap...), b.Samples...), gap...)}
	wav := filepath.Join(t.TempDir(), "rec.wav")
	if err := audio.WriteWAVFile(wav, pcm); err != nil {
		t.Fatal(err)
	}
	code, o, e2 := runCmd("listen", "--config", "../../examples/assist.toml", "--wav", wav, "--json")
	if code == 1 && strings.Contains(e2, "PocketSphinx") && os.Getenv("RPIQ_REQUIRE_DEPS") != "1" {
		t.Skip(e2)
	}
	var res struct {
		Duration float64 `json:"duration_s"`
		Commands []heard `json:"commands"`
	}
	if err := json.Unmarshal([]byte(o), &res); code != 0 || err != nil {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, o, e2)
	}
	phraseAt := (a.Duration() + time.Second).Seconds()
	if len(res.Commands) != 1 || res.Commands[0].Command != "read" || res.Commands[0].Score < res.Commands[0].Threshold ||
		res.Commands[0].Time < phraseAt || res.Commands[0].Time > phraseAt+b.Duration().Seconds()+0.5 ||
		res.Commands[0].Start > res.Commands[0].Time {
		t.Errorf("phrase spoken at %.2f s; heard %+v", phraseAt, res.Commands)
	}
	code, o, _ = runCmd("listen", "--wav", wav)
	if code != 0 || !strings.Contains(o, `read     "read this"`) || !strings.Contains(o, "1 command(s) heard") {
		t.Errorf("text output: %d\n%s", code, o)
	}
	// A caregiver's recording of the command alone, starting with it (eSpeak's output has no
	// lead-in): heard too.
	alone := filepath.Join(t.TempDir(), "alone.wav")
	if err := audio.WriteWAVFile(alone, &audio.PCM{Rate: b.Rate, Channels: 1, Samples: b.Samples}); err != nil {
		t.Fatal(err)
	}
	if code, o, _ := runCmd("listen", "--wav", alone); code != 0 || !strings.Contains(o, "1 command(s) heard") {
		t.Errorf("\"read this\" alone: %d\n%s", code, o)
	}
	if code, _, e := runCmd("listen", "--wav", filepath.Join(t.TempDir(), "none.wav")); code != 2 || !strings.Contains(e, "none.wav") {
		t.Errorf("missing WAV: %d %q", code, e)
	}
	if code, _, _ := runCmd("listen", "--wav", wav, "--sensitivity", "2"); code != 2 {
		t.Errorf("sensitivity 2: %d", code)
	}
}

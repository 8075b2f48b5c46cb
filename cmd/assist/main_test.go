package main

import (
	"bytes"
	"os"
	"path/filepath"
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
	code, o, _ = runCmd("ask", "--image", "../../examples/sample.png", "--question", "what is in front of me", "--wav", wav)
	if code != 1 || !strings.Contains(o, "no vision-language model is installed") {
		t.Errorf("describe without a model: %d %q", code, o)
	}
	// A configured model that is missing: said plainly, and "read this" still works.
	cfg := filepath.Join(dir, "missing-model.toml")
	os.WriteFile(cfg, []byte("[models]\nvlm = \"no-such-model\"\ntessdata = \"no-such-tessdata\"\n"), 0o644)
	code, o, _ = runCmd("ask", "--config", cfg, "--image", "../../examples/sample.png", "--question", "describe", "--wav", wav)
	if code != 1 || !strings.Contains(o, "no vision-language model is installed") {
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

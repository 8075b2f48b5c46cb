package audio

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A device that stops taking audio mid-sound (oto then reports IsPlaying forever) makes Play
// fail after the sound's length plus 2 s instead of hanging. The stall is made by suspending
// oto's context behind the Speaker's back. Runs in a child process (one oto context per process).
func TestPlayDetectsStalledDevice(t *testing.T) {
	if os.Getenv("RPIQ_AUDIO_STALL_CHILD") == "1" {
		s, err := OpenSpeaker(SpeakerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tone := Tone(22050, 440, 200*time.Millisecond, 0.5)
		s.resume = func() error { return nil } // the context stays suspended: nothing is taken
		start := time.Now()
		errc := make(chan error, 1)
		go func() { errc <- s.Play(context.Background(), tone) }()
		select {
		case err := <-errc:
			el := time.Since(start)
			var de *DeviceError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), "stopped taking audio") {
				t.Fatalf("Play on a stalled device: %v", err)
			}
			if el < 2*time.Second || el > 4*time.Second {
				t.Errorf("gave up after %v, want about 2.2 s", el)
			}
			t.Log(err)
		case <-time.After(10 * time.Second):
			t.Fatal("Play hung on a stalled device")
		}
		return
	}
	dir := t.TempDir()
	conf := "pcm.!default { type null }\nctl.!default { type hw; card 31 }\n"
	if err := os.WriteFile(filepath.Join(dir, ".asoundrc"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPlayDetectsStalledDevice$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "HOME="+dir, "RPIQ_AUDIO_STALL_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

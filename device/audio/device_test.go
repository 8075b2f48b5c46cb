package audio_test

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/device/audio"
	"github.com/rpiq/rpiq/device/audio/alsatest"
)

// ALSA reads ~/.asoundrc once per process and oto allows one output context per process, so each
// device scenario runs in a child process of the test binary with its own $HOME.

const childEnv = "RPIQ_AUDIO_CHILD"

// runChild runs TestChild in a new process with scenario and the fake card's environment.
func runChild(t *testing.T, scenario string, fake *alsatest.Fake) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v", "-test.count=1")
	cmd.Env = append(fake.Env(), childEnv+"="+scenario)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestChild") {
		t.Fatalf("child %s failed: %v\n%s", scenario, err, out)
	}
	return string(out)
}

// TestChild is the body of the device scenarios; it does nothing unless started by runChild.
func TestChild(t *testing.T) {
	scenario := os.Getenv(childEnv)
	if scenario == "" {
		t.Skip("only runs as a child process of the device tests")
	}
	switch scenario {
	case "mic-file":
		childMicFile(t)
	case "speaker-file":
		childSpeakerFile(t)
	case "barge-in":
		childBargeIn(t)
	case "no-card":
		childNoCard(t)
	case "duplex":
		childDuplex(t)
	default:
		t.Fatalf("unknown scenario %q", scenario)
	}
}

// The microphone hears a 440 Hz tone injected through the ALSA file device, paced in real time.
func TestMicrophoneFromALSAFile(t *testing.T) {
	tone := audio.Tone(16000, 440, 600*time.Millisecond, 0.5)
	lead := audio.Silence(16000, 1, 200*time.Millisecond)
	mic, _ := audio.Concat(lead, tone)
	fake, err := alsatest.Write(t.TempDir(), alsatest.Options{Mic: mic})
	if err != nil {
		t.Fatal(err)
	}
	runChild(t, "mic-file", fake)
}

func childMicFile(t *testing.T) {
	start := time.Now()
	m, err := audio.OpenMicrophone(audio.MicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := readFor(t, m, 1200*time.Millisecond)
	elapsed := time.Since(start)
	if elapsed < 900*time.Millisecond {
		t.Errorf("1.2 s of audio arrived in %v: capture is not paced", elapsed)
	}
	// Find the tone: about 0.6 s of samples with a 440 Hz zero-crossing rate and amplitude 16383.
	loud := (&audio.PCM{Rate: 16000, Channels: 1, Samples: got}).Trim(2000)
	if d := loud.Duration(); d < 550*time.Millisecond || d > 650*time.Millisecond {
		t.Fatalf("heard %v of tone, want 600 ms (peak %d)", d, loud.Peak())
	}
	crossings := 0
	for i := 1; i < len(loud.Samples); i++ {
		if (loud.Samples[i-1] < 0) != (loud.Samples[i] < 0) {
			crossings++
		}
	}
	if f := float64(crossings) / 2 / loud.Duration().Seconds(); math.Abs(f-440) > 15 {
		t.Errorf("tone frequency %.0f Hz, want 440", f)
	}
	if p := loud.Peak(); p < 16000 || p > 16400 {
		t.Errorf("tone peak %d, want 16383", p)
	}
}

func readFor(t *testing.T, m *audio.Microphone, d time.Duration) []int16 {
	want := int(d.Seconds() * float64(m.SampleRate()))
	var got []int16
	buf := make([]int16, 512)
	for len(got) < want {
		n, err := m.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	return got[:want]
}

// miniaudio's own null backend works without ALSA at all, paced, giving silence.
func TestMicrophoneNullBackend(t *testing.T) {
	start := time.Now()
	m, err := audio.OpenMicrophone(audio.MicOptions{Backend: audio.BackendNull})
	if err != nil {
		t.Fatal(err)
	}
	got := readFor(t, m, 300*time.Millisecond)
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("300 ms of null capture took %v", el)
	}
	for _, s := range got {
		if s != 0 {
			t.Fatalf("null backend gave a non-zero sample %d", s)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Read(make([]int16, 10)); err == nil {
		// buffered samples may remain; drain until EOF
		for err == nil {
			_, err = m.Read(make([]int16, 100000))
		}
	}
}

// What the speaker plays lands in the ALSA file device, and output stops when idle.
func TestSpeakerToALSAFile(t *testing.T) {
	fake, err := alsatest.Write(t.TempDir(), alsatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runChild(t, "speaker-file", fake)
}

func childSpeakerFile(t *testing.T) {
	fake := &alsatest.Fake{SpeakerFile: os.Getenv("HOME") + "/speaker.raw"}
	s, err := audio.OpenSpeaker(audio.SpeakerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := audio.OpenSpeaker(audio.SpeakerOptions{}); err != nil || s2 != s {
		t.Errorf("second OpenSpeaker: %v, same=%v", err, s2 == s)
	}
	if _, err := audio.OpenSpeaker(audio.SpeakerOptions{SampleRate: 48000}); err == nil {
		t.Error("opened a second speaker at another rate")
	}
	// A 16 kHz tone is resampled to the device's 22050 Hz.
	tone := audio.Tone(16000, 1000, 300*time.Millisecond, 0.5)
	if err := s.Play(context.Background(), tone); err != nil {
		t.Fatal(err)
	}
	played, err := fake.Played(22050, 1)
	if err != nil {
		t.Fatal(err)
	}
	heard := played.Trim(1000)
	if d := heard.Duration(); d < 280*time.Millisecond || d > 320*time.Millisecond {
		t.Errorf("the file holds %v of tone, want 300 ms", d)
	}
	if p := heard.Peak(); p < 15800 || p > 16800 {
		t.Errorf("peak %d, want about 16383", p)
	}
	// Idle: the context is suspended, so the unpaced file device stops growing.
	st1, _ := os.Stat(fake.SpeakerFile)
	time.Sleep(200 * time.Millisecond)
	st2, _ := os.Stat(fake.SpeakerFile)
	if st2.Size() != st1.Size() {
		t.Errorf("speaker file grew from %d to %d bytes while idle", st1.Size(), st2.Size())
	}
	// Volume scales the output.
	s.SetVolume(0.25)
	before := played.Frames()
	if err := s.Play(context.Background(), tone); err != nil {
		t.Fatal(err)
	}
	played, _ = fake.Played(22050, 1)
	second := (&audio.PCM{Rate: 22050, Channels: 1, Samples: played.Samples[before:]}).Trim(500)
	if p := second.Peak(); p < 3900 || p > 4300 {
		t.Errorf("peak at volume 0.25 is %d, want about 4096", p)
	}
}

// Stop interrupts a long sound at once; nothing more reaches the device afterwards.
func TestSpeakerBargeIn(t *testing.T) {
	fake, err := alsatest.Write(t.TempDir(), alsatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := runChild(t, "barge-in", fake)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "stop to return") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

func childBargeIn(t *testing.T) {
	fake := &alsatest.Fake{SpeakerFile: os.Getenv("HOME") + "/speaker.raw"}
	s, err := audio.OpenSpeaker(audio.SpeakerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The file device takes audio ~100x faster than real time, so a 5-minute tone is still
	// playing when Stop comes.
	long := audio.Tone(22050, 500, 5*time.Minute, 0.5)
	done := make(chan error, 1)
	var stopped time.Time
	go func() { done <- s.Play(context.Background(), long) }()
	for wait := time.Now(); !s.Playing(); time.Sleep(time.Millisecond) {
		if time.Since(wait) > 10*time.Second {
			t.Fatal("not playing after 10 s")
		}
	}
	time.Sleep(50 * time.Millisecond)
	stopped = time.Now()
	s.Stop()
	select {
	case err := <-done:
		lat := time.Since(stopped)
		t.Logf("stop to return: %v (device buffer %v)", lat, s.Latency())
		if !errors.Is(err, audio.ErrInterrupted) {
			t.Fatalf("Play returned %v, want ErrInterrupted", err)
		}
		if lat > 100*time.Millisecond {
			t.Errorf("Play took %v to return after Stop", lat)
		}
	case <-time.After(time.Second):
		t.Fatal("Play did not return within 1 s of Stop")
	}
	p1, _ := fake.Played(22050, 1)
	time.Sleep(150 * time.Millisecond)
	p2, _ := fake.Played(22050, 1)
	if len(p2.Samples) != len(p1.Samples) {
		t.Errorf("%d more samples reached the device after Stop", len(p2.Samples)-len(p1.Samples))
	}
	if d := p1.Trim(1000).Duration(); d >= 5*time.Minute {
		t.Errorf("the whole tone was played (%v)", d)
	}
	// A cancelled context interrupts too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Play(ctx, long); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Play with an expiring context returned %v", err)
	}
}

// With no sound card both devices fail fast with ErrNoSoundCard, and oto's silent failure is
// caught instead of hanging in IsPlaying.
func TestNoSoundCard(t *testing.T) {
	fake, err := alsatest.Write(t.TempDir(), alsatest.Options{NoCard: true})
	if err != nil {
		t.Fatal(err)
	}
	runChild(t, "no-card", fake)
}

func childNoCard(t *testing.T) {
	start := time.Now()
	_, err := audio.OpenSpeaker(audio.SpeakerOptions{})
	if !errors.Is(err, audio.ErrNoSoundCard) {
		t.Fatalf("OpenSpeaker: %v, want ErrNoSoundCard", err)
	}
	t.Logf("speaker: %v", err)
	if _, err2 := audio.OpenSpeaker(audio.SpeakerOptions{}); !errors.Is(err2, audio.ErrNoSoundCard) {
		t.Errorf("second OpenSpeaker: %v", err2)
	}
	_, err = audio.OpenMicrophone(audio.MicOptions{})
	if !errors.Is(err, audio.ErrNoSoundCard) {
		t.Fatalf("OpenMicrophone: %v, want ErrNoSoundCard", err)
	}
	t.Logf("microphone: %v", err)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("detecting the missing card took %v", el)
	}
	if _, err := audio.CheckMicrophone(100 * time.Millisecond); !errors.Is(err, audio.ErrNoSoundCard) {
		t.Errorf("CheckMicrophone: %v", err)
	}
}

// Both at once, as the daemon runs: the microphone hears the injected WAV while the speaker
// plays into its file, and neither leaks into the other.
func TestDuplexFakeCard(t *testing.T) {
	mic, _ := audio.Concat(audio.Silence(16000, 1, 300*time.Millisecond), audio.Tone(16000, 300, 500*time.Millisecond, 0.25))
	fake, err := alsatest.Write(t.TempDir(), alsatest.Options{Mic: mic})
	if err != nil {
		t.Fatal(err)
	}
	runChild(t, "duplex", fake)
}

func childDuplex(t *testing.T) {
	fake := &alsatest.Fake{SpeakerFile: os.Getenv("HOME") + "/speaker.raw"}
	m, err := audio.OpenMicrophone(audio.MicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := audio.OpenSpeaker(audio.SpeakerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	played := make(chan error, 1)
	go func() { played <- s.Play(context.Background(), audio.Tone(22050, 1000, 200*time.Millisecond, 0.5)) }()
	heard := (&audio.PCM{Rate: 16000, Channels: 1, Samples: readFor(t, m, time.Second)}).Trim(2000)
	if err := <-played; err != nil {
		t.Fatal(err)
	}
	if d := heard.Duration(); d < 450*time.Millisecond || d > 550*time.Millisecond || heard.Peak() > 8300 {
		t.Errorf("microphone heard %v at peak %d, want the 500 ms tone at 8191", d, heard.Peak())
	}
	out, err := fake.Played(22050, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := out.Trim(1000).Duration(); d < 190*time.Millisecond || d > 210*time.Millisecond || out.Peak() > 16800 {
		t.Errorf("speaker file holds %v at peak %d, want the 200 ms tone at 16383", d, out.Peak())
	}
}

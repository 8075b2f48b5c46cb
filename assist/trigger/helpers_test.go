package trigger

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/device/audio"
)

// need skips the test when a system tool or library is missing, unless RPIQ_REQUIRE_DATA=1 (CI),
// where a missing package is a failure.
func need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("RPIQ_REQUIRE_DATA") == "1" {
		t.Fatalf("%s is required (RPIQ_REQUIRE_DATA=1): %v", what, err)
	}
	t.Skipf("%s not available: %v", what, err)
}

// rejected checks that NewSpotter refuses each of opts (skipping when PocketSphinx is not
// installed, which is the only other way it can fail).
func rejected(t *testing.T, opts ...SpotterOptions) {
	t.Helper()
	for _, o := range opts {
		s, err := NewSpotter(o)
		if err == nil {
			s.Close()
			t.Errorf("%+v: no error", o)
		} else if strings.Contains(err.Error(), "not installed") {
			need(t, "PocketSphinx with the en-us model", err)
		}
	}
}

// speak synthesises text with espeak-ng and returns it at 16 kHz mono, with half a second of
// silence before and after.
func speak(t testing.TB, voice string, wpm int, text string) *audio.PCM {
	t.Helper()
	_, err := exec.LookPath("espeak-ng")
	need(t, "espeak-ng", err)
	path := filepath.Join(t.TempDir(), "say.wav")
	cmd := exec.Command("espeak-ng", "-v", voice, "-s", itoa(wpm), "-w", path, text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	p, err := audio.ReadWAVFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err = audio.Resample(p.Mono(), SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	pad := audio.Silence(SampleRate, 1, 500e6)
	out, _ := audio.Concat(pad, p, pad)
	return out
}

func itoa(n int) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func newTestSpotter(t testing.TB, opts SpotterOptions) *Spotter {
	t.Helper()
	s, err := NewSpotter(opts)
	need(t, "PocketSphinx with the en-us model", err)
	t.Cleanup(func() { s.Close() })
	return s
}

// spot feeds p through s in 100 ms chunks and returns every event.
func spot(t testing.TB, s *Spotter, p *audio.PCM) []Event {
	t.Helper()
	var all []Event
	for i := 0; i < len(p.Samples); i += 1600 {
		j := min(i+1600, len(p.Samples))
		evs, err := s.Process(p.Samples[i:j])
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
	}
	evs, err := s.Flush()
	if err != nil {
		t.Fatal(err)
	}
	return append(all, evs...)
}

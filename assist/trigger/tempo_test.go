package trigger

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/device/audio"
)

// The tempo decoder's options are checked: its frame rate, its shift (whole powers of ten), and
// it runs with the restarts at pauses only, not with an onset lead.
func TestTempoOptionsChecked(t *testing.T) {
	rejected(t, []SpotterOptions{
		{tempoFrate: minFrate - 1}, {tempoFrate: maxFrate + 1}, {tempoFrate: -80},
		{tempoFrate: 85, tempoShift: 0.5, tempoShiftSet: true}, {tempoFrate: 85, onsetLead: 100 * time.Millisecond},
		{tempoFrate: 85, tempoWarp: 2}, {frateOnly: 30},
	}...)
}

// The tempo decoder's keyphrase list is the usual one with every threshold shifted, its warped
// frontend (when asked for) is written as a file of its own, and both are removed with the
// spotter.
func TestTempoDecoderFiles(t *testing.T) {
	s := newTestSpotter(t, SpotterOptions{tempoFrate: 85, tempoWarp: 0.95, tempoShift: 7, tempoShiftSet: true})
	if s.tempo == nil || s.tempo.fps != 85 || s.tempo.shift != 7 {
		t.Fatalf("tempo decoder %+v", s.tempo)
	}
	kws, err := os.ReadFile(filepath.Join(s.tmpDir, "tempo.kws"))
	if err != nil || !strings.Contains(string(kws), "repeat /1e+12/") { // 5 + 7
		t.Errorf("tempo.kws: %v\n%s", err, kws)
	}
	params, err := os.ReadFile(filepath.Join(s.tmpDir, "tempo.params"))
	if err != nil || !strings.Contains(string(params), "-upperf 6460.00") { // 6800 Hz × 0.95
		t.Errorf("tempo.params: %v\n%s", err, params)
	}
	// The warped decoder's files are its own.
	wp, err := os.ReadFile(filepath.Join(s.tmpDir, "warped.params"))
	if err != nil || !strings.Contains(string(wp), "-upperf 7480.00") {
		t.Errorf("warped.params: %v\n%s", err, wp)
	}
	dir := s.tmpDir
	s.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", dir, err)
	}
}

// A decoder at another frame rate places a phrase where the usual one does: PocketSphinx's
// frame numbers are turned into samples at the decoder's own rate. "read this" said after
// 0.5 s of silence ends in the same place (to within 60 ms) at 100, 80 and 125 frames a second,
// and starts where the words do.
func TestFrameRateTimes(t *testing.T) {
	pcm := speak(t, "en-us", 150, "read this")
	end := map[int]detection{}
	for _, fps := range []int{100, 80, 125} {
		s := newTestSpotter(t, SpotterOptions{Phrases: permissive(), noWarp: true, frateOnly: fps})
		if fps == 100 {
			s = newTestSpotter(t, SpotterOptions{Phrases: permissive(), noWarp: true, noTempo: true, noBent: true})
		}
		var best detection
		s.raw = func(d detection) {
			if d.phrase == "read this" && d.score > best.score {
				best = d
			}
		}
		spot(t, s, pcm)
		if best.phrase == "" {
			t.Fatalf("%d frames a second: \"read this\" not listed", fps)
		}
		t.Logf("%d frames a second: %.3f-%.3f s, score %.1f", fps, float64(best.start)/SampleRate, float64(best.end)/SampleRate, best.score)
		end[fps] = best
	}
	for _, fps := range []int{80, 125} {
		if d := end[fps].end - end[100].end; d < -SampleRate*6/100 || d > SampleRate*6/100 {
			t.Errorf("%d frames a second: the end is %d ms from the usual decoder's", fps, d*1000/SampleRate)
		}
		// The words start after the 0.5 s pad; the keyphrase's span starts near them, not
		// stretched or squeezed by the frame rate (PocketSphinx's starts are placed up to
		// 0.3 s late, maxLead).
		if st := end[fps].start; st < SampleRate*4/10 || st > SampleRate*9/10 {
			t.Errorf("%d frames a second: starts at %.3f s", fps, float64(st)/SampleRate)
		}
	}
	// The tempo decoder inside a spotter runs at its frame rate: it lists what the usual
	// decoder at that rate lists.
	s := newTestSpotter(t, SpotterOptions{Phrases: permissive(), noWarp: true, tempoFrate: 80})
	var inside detection
	s.raw = func(d detection) {
		if d.view == viewTempo && d.phrase == "read this" && d.score > inside.score {
			inside = d
		}
	}
	spot(t, s, pcm)
	if inside.score != end[80].score || inside.end != end[80].end {
		t.Errorf("the tempo decoder lists \"read this\" %+v, the usual decoder at 80 frames a second %+v", inside, end[80])
	}
}

// "read this" at the very start of the audio is a command, as after 0.5 s of silence (a caregiver's
// recording of a command); with startNoPause (round 11's start rule) only the second is.
func TestStartRule(t *testing.T) {
	padded := speak(t, "en-us", 150, "read this")
	cut := &audio.PCM{Rate: padded.Rate, Channels: 1, Samples: padded.Samples[SampleRate/2:]}
	for _, c := range []struct {
		name  string
		pcm   *audio.PCM
		opts  SpotterOptions
		heard bool
	}{
		{"after a pause", padded, SpotterOptions{}, true},
		{"at the start", cut, SpotterOptions{}, true},
		{"after a pause, start rule", padded, SpotterOptions{startNoPause: true}, true},
		{"at the start, start rule", cut, SpotterOptions{startNoPause: true}, false},
	} {
		evs := spot(t, newTestSpotter(t, c.opts), c.pcm)
		got := len(evs) == 1 && evs[0].Command == ReadThis
		if got != c.heard || len(evs) > 1 {
			t.Errorf("%s: %+v, want heard %v", c.name, evs, c.heard)
		}
	}
}

// The tempo decoder is on by default, at DefaultTempoFrate and DefaultTempoShift, unwarped;
// noTempo, an onset lead, warpOnly and frateOnly turn it off.
func TestTempoDefaults(t *testing.T) {
	s := newTestSpotter(t, SpotterOptions{})
	if s.tempo == nil || s.tempo.fps != DefaultTempoFrate || s.tempo.shift != DefaultTempoShift || s.warped == nil {
		t.Fatalf("default: tempo decoder %+v, warped %v; want one at %d frames a second, shift %d, and the warped one", s.tempo, s.warped != nil, DefaultTempoFrate, DefaultTempoShift)
	}
	if _, err := os.Stat(filepath.Join(s.tmpDir, "tempo.params")); !os.IsNotExist(err) {
		t.Errorf("the default tempo decoder is warped: %v", err)
	}
	for _, o := range []SpotterOptions{{noTempo: true}, {onsetLead: 100 * time.Millisecond}, {warpOnly: 1.1}, {frateOnly: 90}} {
		if s := newTestSpotter(t, o); s.tempo != nil {
			t.Errorf("%+v: a tempo decoder", o)
		}
	}
	if s := newTestSpotter(t, SpotterOptions{tempoShift: 0, tempoShiftSet: true}); s.tempo == nil || s.tempo.shift != 0 {
		t.Errorf("shift set to 0: %+v", s.tempo)
	}
}

// The tempo decoder only adds: every command the usual and the warped decoder hear in a stream is
// heard the same with it on (it decides only islands they give no command on). And it adds what
// it was made for: en-gb-x-gbclan+f2 at 125 wpm, pitch 65 (a tuning rendering) says "repeat"
// alone; neither other decoder gives a command on it, the tempo decoder does.
func TestTempoDecoderOnlyAdds(t *testing.T) {
	onlyAdds(t, "tempo", style{"en-gb-x-gbclan+f2", 125, 65}, SpotterOptions{noTempo: true, noBent: true}, SpotterOptions{noBent: true},
		func(e Event) bool { return e.Tempo })
}

package trigger

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The bent decoder is on by default, at DefaultBentWarp bent at DefaultBentKnee and
// DefaultBentShift, listening for every phrase but defaultBentSkip's; noBent, an onset lead,
// warpOnly and frateOnly turn it off.
func TestBentDefaults(t *testing.T) {
	s := newTestSpotter(t, SpotterOptions{})
	if s.bent == nil || s.bent.shift != DefaultBentShift || s.warped == nil || s.tempo == nil {
		t.Fatalf("default: bent decoder %+v, warped %v, tempo %v; want all three, the bent one at shift %d", s.bent, s.warped != nil, s.tempo != nil, DefaultBentShift)
	}
	kws, err := os.ReadFile(filepath.Join(s.tmpDir, "bent.kws"))
	if err != nil || !strings.Contains(string(kws), fmt.Sprintf("repeat /1e+%d/", 5+DefaultBentShift)) || strings.Contains(string(kws), "slower") {
		t.Errorf("bent.kws (every phrase but \"slower\"): %v\n%s", err, kws)
	}
	usual, err := os.ReadFile(filepath.Join(s.tmpDir, "commands.kws"))
	if err != nil || !strings.Contains(string(usual), "slower") {
		t.Errorf("commands.kws: %v\n%s", err, usual)
	}
	// With no phrase skipped, the bent decoder listens for "slower" too.
	all := newTestSpotter(t, SpotterOptions{bentSkipSet: true})
	if kws, err := os.ReadFile(filepath.Join(all.tmpDir, "bent.kws")); err != nil || !strings.Contains(string(kws), "slower") {
		t.Errorf("bent.kws with no phrase skipped: %v\n%s", err, kws)
	}
	params, err := os.ReadFile(filepath.Join(s.tmpDir, "bent.params"))
	if err != nil || !strings.Contains(string(params), fmt.Sprintf("-lowerf %.2f\n", 130*DefaultBentWarp)) {
		t.Errorf("bent.params: %v\n%s", err, params)
	}
	for _, o := range []SpotterOptions{{noBent: true}, {onsetLead: 100 * time.Millisecond}, {warpOnly: 1.1}, {frateOnly: 90}} {
		if s := newTestSpotter(t, o); s.bent != nil {
			t.Errorf("%+v: a bent decoder", o)
		}
	}
	if s := newTestSpotter(t, SpotterOptions{bentShift: 0, bentShiftSet: true}); s.bent == nil || s.bent.shift != 0 {
		t.Errorf("shift set to 0: %+v", s.bent)
	}
	// A phrase list the bent decoder skips entirely leaves it off; the others still listen.
	only := []Phrase{{Text: "slower", Command: Slower}}
	if s := newTestSpotter(t, SpotterOptions{Phrases: only}); s.bent != nil || s.warped == nil {
		t.Errorf("phrases %v: bent decoder %v, warped %v", only, s.bent != nil, s.warped != nil)
	}
}

// The bent decoder's options are checked: its warp and knee (warpedFrontendAs's bounds), its
// shift (whole powers of ten), and no onset lead with it.
func TestBentOptionsChecked(t *testing.T) {
	rejected(t, []SpotterOptions{
		{bentWarp: 1.7}, {bentWarp: 0.5}, {bentWarp: 1.35, bentKnee: 500}, {bentWarp: 1.35, bentKnee: 8000},
		{bentWarp: 1.35, bentShift: 0.5, bentShiftSet: true}, {bentWarp: 1.35, onsetLead: 100 * time.Millisecond},
	}...)
}

// The bent decoder's keyphrase list is the usual one with every threshold shifted, its frontend
// is bent at the knee (the model's lower filter edge, 130 Hz, at warp times its frequency; the
// upper one where sphinxbase's bent warp takes it back to the model's 6800 Hz), and both files
// are removed with the spotter.
func TestBentDecoderFiles(t *testing.T) {
	s := newTestSpotter(t, SpotterOptions{bentWarp: 1.35, bentShift: 7, bentShiftSet: true})
	if s.bent == nil || s.bent.view != viewBent || s.bent.fps != 100 || s.bent.shift != 7 {
		t.Fatalf("bent decoder %+v", s.bent)
	}
	kws, err := os.ReadFile(filepath.Join(s.tmpDir, "bent.kws"))
	if err != nil || !strings.Contains(string(kws), "repeat /1e+12/") { // 5 + 7
		t.Errorf("bent.kws: %v\n%s", err, kws)
	}
	params, err := os.ReadFile(filepath.Join(s.tmpDir, "bent.params"))
	var lower, upper float64
	if err == nil {
		_, err = fmt.Sscanf(string(params), "-lowerf %g\n-upperf %g\n", &lower, &upper)
	}
	// sphinxbase's piecewise-linear warp above the knee (TestUnwarp): f0·w + f1.
	a, knee := 1/1.35, float64(DefaultBentKnee)
	f0, f1 := (nyquist-a*knee)/(nyquist-knee), nyquist*knee*(a-1)/(nyquist-knee)
	if err != nil || math.Abs(lower-130*1.35) > 0.01 || math.Abs(f0*upper+f1-6800) > 0.02 {
		t.Errorf("bent.params: %v\n%s", err, params)
	}
	dir := s.tmpDir
	s.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", dir, err)
	}
}

// Inside a spotter with every decoder on, the bent decoder hears what the usual decoder given
// the bent frontend hears on its own, and the warped decoder what the warped frontend does:
// sphinxbase keeps the piecewise-linear warp's parameters in static variables, and both
// decoders set them, each to its own.
func TestBentDecoderScores(t *testing.T) {
	st := style{"en-us+f3", 150, 60}
	text := "describe what is in front of me"
	bentAlone := rawScores(t, SpotterOptions{warpOnly: DefaultBentWarp, warpKnee: DefaultBentKnee}, st, text)
	warpedAlone := rawScores(t, SpotterOptions{warpOnly: DefaultWarp}, st, text)
	if len(bentAlone) == 0 || len(warpedAlone) == 0 {
		t.Fatalf("no detection: bent %v, warped %v", bentAlone, warpedAlone)
	}
	s := newTestSpotter(t, SpotterOptions{Phrases: permissive(), bentSkipSet: true}) // every phrase
	if s.warped == nil || s.tempo == nil || s.bent == nil {
		t.Fatalf("decoders: warped %v, tempo %v, bent %v", s.warped != nil, s.tempo != nil, s.bent != nil)
	}
	inside := map[int]map[string]float64{viewWarped: {}, viewBent: {}}
	s.raw = func(d detection) {
		if m := inside[d.view]; m != nil {
			if old, ok := m[d.phrase]; !ok || d.score > old {
				m[d.phrase] = d.score
			}
		}
	}
	spot(t, s, say(t, st, text))
	if maps.Equal(bentAlone, warpedAlone) {
		t.Errorf("the bent frontend scores as the warped one: %v", bentAlone)
	}
	if !maps.Equal(inside[viewBent], bentAlone) {
		t.Errorf("the spotter's bent decoder scores %v, the bent frontend alone %v", inside[viewBent], bentAlone)
	}
	if !maps.Equal(inside[viewWarped], warpedAlone) {
		t.Errorf("the spotter's warped decoder scores %v, the warped frontend alone %v", inside[viewWarped], warpedAlone)
	}
}

// The bent decoder only adds: every command the other decoders hear in a stream is heard the
// same with it on. And it adds what it was made for: en-029+f2 at 135 wpm, pitch 55 (a
// rendering of round 11, tuning data since round 12) says "repeat" alone; no other decoder
// gives a command on it, the bent decoder (1.35 bent at 5000 Hz) gives "repeat".
func TestBentDecoderOnlyAdds(t *testing.T) {
	onlyAdds(t, "bent", style{"en-029+f2", 135, 55}, SpotterOptions{noBent: true}, SpotterOptions{},
		func(e Event) bool { return e.Bent })
}

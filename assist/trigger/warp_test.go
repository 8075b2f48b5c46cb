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

// The filter edges move by the warp; every other line is kept; the edges the model leaves out
// get sphinxbase's defaults times the warp.
func TestWarpFeatParams(t *testing.T) {
	in := "-lowerf 130\n-upperf 6800\n-nfilt 25\n-transform dct\n"
	got, err := warpFeatParams("m/feat.params", in, 1.1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// 130 × 1.1 = 143, 6800 × 1.1 = 7480.
	if want := "-lowerf 143.00\n-upperf 7480.00\n-nfilt 25\n-transform dct\n"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got, err = warpFeatParams("m/feat.params", "-nfilt 25\n", 0.9, 0)
	if err != nil {
		t.Fatal(err)
	}
	// 133.33334 × 0.9 = 120.000006, 6855.4976 × 0.9 = 6169.94784.
	if want := "-nfilt 25\n-lowerf 120.00\n-upperf 6169.95\n"; got != want {
		t.Errorf("defaults: got\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"-upperf high\n", "-lowerf\n", "-lowerf 1 2\n", "-upperf -5\n", "-upperf NaN\n"} {
		_, err := warpFeatParams("m/feat.params", bad, 1.1, 0)
		if err == nil || !strings.Contains(err.Error(), "m/feat.params") || !strings.Contains(err.Error(), strings.Fields(bad)[0]) {
			t.Errorf("%q: error %v, want one naming the file and the field", bad, err)
		}
	}
	// A model without feat.params: sphinxbase's default edges, moved.
	if got, err := warpedFeatParams(t.TempDir(), 1.1, 0); err != nil || got != "-lowerf 146.67\n-upperf 7541.05\n" {
		t.Errorf("missing file: %q, %v; want the default edges times 1.1", got, err)
	}
	dir := t.TempDir() // unreadable: a directory where the file should be
	if err := os.Mkdir(filepath.Join(dir, "feat.params"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := warpedFeatParams(dir, 1.1, 0); err == nil || !strings.Contains(err.Error(), "feat.params") {
		t.Errorf("unreadable file: error %v, want one naming feat.params", err)
	}
}

func FuzzWarpFeatParams(f *testing.F) {
	f.Add("-lowerf 130\n-upperf 6800\n-nfilt 25\n", 1.1)
	f.Add("-upperf 1e3 x\n", 0.9)
	f.Fuzz(func(t *testing.T, text string, warp float64) {
		out, err := warpFeatParams("feat.params", text, warp, 0)
		if err != nil {
			return
		}
		// Every edge line is rewritten in place, and a missing one is added.
		count := func(s, k string) int {
			n := 0
			for _, l := range strings.Split(s, "\n") {
				if f := strings.Fields(l); len(f) > 0 && f[0] == k {
					n++
				}
			}
			return n
		}
		for _, k := range []string{"-lowerf", "-upperf"} {
			if got, want := count(out, k), max(1, count(text, k)); got != want {
				t.Fatalf("%q: %d %s lines in %q, want %d", text, got, k, out, want)
			}
		}
	})
}

// The warped decoder is on by default, at DefaultWarp and DefaultWarpShift; noWarp and an onset
// lead turn it off.
func TestWarpDefaults(t *testing.T) {
	s := newTestSpotter(t, SpotterOptions{})
	if s.warped == nil || s.warped.shift != 42 {
		t.Errorf("default: warped decoder %+v; want one, shift 42", s.warped)
	}
	data, err := os.ReadFile(filepath.Join(s.tmpDir, "warped.params"))
	if err != nil || !strings.Contains(string(data), "-upperf 7480.00") { // the model's 6800 Hz × 1.1
		t.Errorf("warped.params: %v\n%s", err, data)
	}
	kws, err := os.ReadFile(filepath.Join(s.tmpDir, "warped.kws"))
	if err != nil || !strings.Contains(string(kws), "repeat /1e+47/") { // 5 + 42
		t.Errorf("warped.kws: %v\n%s", err, kws)
	}
	for _, o := range []SpotterOptions{{noWarp: true}, {onsetLead: 100 * time.Millisecond}, {warpOnly: 1.1}} {
		if s := newTestSpotter(t, o); s.warped != nil {
			t.Errorf("%+v: a warped decoder", o)
		}
	}
	if s := newTestSpotter(t, SpotterOptions{warpShift: 0, warpShiftSet: true}); s.warped == nil || s.warped.shift != 0 {
		t.Errorf("shift set to 0: %+v", s.warped)
	}
}

// The options are checked.
func TestWarpOptionsChecked(t *testing.T) {
	rejected(t, []SpotterOptions{{warp: 1.3}, {warp: 0.5}, {warpOnly: 2}, {warp: 1.1, warpShift: 0.5, warpShiftSet: true}, {warp: 1.1, onsetLead: 100 * time.Millisecond}}...)
}

// rawScores runs pcm through a spotter with opts at permissive thresholds and returns every
// raw detection's phrase and score.
func rawScores(t *testing.T, opts SpotterOptions, st style, text string) map[string]float64 {
	t.Helper()
	opts.Phrases = permissive()
	s := newTestSpotter(t, opts)
	defer s.Close()
	out := map[string]float64{}
	s.raw = func(d detection) {
		if old, ok := out[d.phrase]; !ok || d.score > old {
			out[d.phrase] = d.score
		}
	}
	spot(t, s, say(t, st, text))
	return out
}

// The warped frontend is really warped, each time a warped decoder is made: sphinxbase keeps a
// warp function's parameters in static variables and skips setting them when the parameter
// string is unchanged, so a warped decoder made after an unwarped one (which resets
// inverse_linear's to neutral) could silently be unwarped.
func TestWarpedFrontendEachTime(t *testing.T) {
	st := style{"en-us+f3", 150, 60}
	text := "describe what is in front of me"
	first := rawScores(t, SpotterOptions{warpOnly: 1.12}, st, text)
	plain := rawScores(t, SpotterOptions{noWarp: true, noTempo: true, noBent: true}, st, text)
	again := rawScores(t, SpotterOptions{warpOnly: 1.12}, st, text)
	if len(first) == 0 || len(plain) == 0 {
		t.Fatalf("no detection: warped %v, plain %v", first, plain)
	}
	if maps.Equal(first, plain) {
		t.Errorf("the warped frontend scores as the plain one: %v", first)
	}
	if !maps.Equal(first, again) {
		t.Errorf("a warped decoder made after a plain one scores %v, the first %v", again, first)
	}
	// Nor does a warped decoder change the usual ones made after it.
	if plainAfter := rawScores(t, SpotterOptions{noWarp: true, noTempo: true, noBent: true}, st, text); !maps.Equal(plainAfter, plain) {
		t.Errorf("a plain decoder made after a warped one scores %v, before %v", plainAfter, plain)
	}
	// The second decoder inside a spotter is warped the same way as warpOnly's.
	s := newTestSpotter(t, SpotterOptions{Phrases: permissive(), warp: 1.12, noTempo: true})
	inside := map[string]float64{}
	s.raw = func(d detection) {
		if old, ok := inside[d.phrase]; d.view == viewWarped && (!ok || d.score > old) {
			inside[d.phrase] = d.score
		}
	}
	spot(t, s, say(t, st, text))
	if !maps.Equal(inside, first) {
		t.Errorf("the spotter's warped decoder scores %v, warpOnly %v", inside, first)
	}
}

// The warped decoder only adds: every command the usual decoder hears in a stream is heard the
// same with the warped decoder on (it decides only islands the usual one gives no command on).
// And it adds what it was made for: en-gb-x-rp+f5 at 115 wpm, pitch 60 (a tuning rendering of
// round 10) says "repeat" alone; the usual decoder's candidates on it are ambiguous and give
// nothing, the warped decoder's (warp 1.1) give "repeat", 98 over its threshold.
func TestWarpedDecoderOnlyAdds(t *testing.T) {
	onlyAdds(t, "warped", style{"en-gb-x-rp+f5", 115, 60},
		SpotterOptions{noWarp: true, noTempo: true, noBent: true}, SpotterOptions{noTempo: true, noBent: true}, // warp 1.1, shift 42
		func(e Event) bool { return e.Warped })
}

// onlyAdds runs a command stream of the first four phrases in st without and with one further
// decoder (name; by tells its events): every event heard without it must be heard with it the
// same, by the same decoder, and every "repeat" said alone must be heard only with it, by it,
// with no false command.
func onlyAdds(t *testing.T, name string, st style, without, with SpotterOptions, by func(Event) bool) {
	if testing.Short() {
		t.Skip("a 1.5-minute command stream")
	}
	pcm, labels := positiveStream(t, st, DefaultPhrases()[:4])
	before, _, _ := runStream(t, without, pcm, false)
	after, _, _ := runStream(t, with, pcm, false)
	for _, e := range before {
		found := false
		for _, w := range after {
			if w.Phrase == e.Phrase && w.Offset == e.Offset && w.Score == e.Score && w.Warped == e.Warped && w.Tempo == e.Tempo && w.Bent == e.Bent {
				found = true
			}
		}
		if !found {
			t.Errorf("%q at %v (%.1f) heard without the %s decoder, not with it", e.Phrase, e.Offset, e.Score, name)
		}
	}
	heard := func(events []Event, l label) *Event {
		for i, e := range events {
			if e.Command == l.Cmd && e.Offset >= l.Start && e.Offset <= l.End+800*time.Millisecond {
				return &events[i]
			}
		}
		return nil
	}
	for _, l := range labels {
		if l.Phrase != "repeat" || l.InSentence {
			continue
		}
		if e := heard(before, l); e != nil {
			t.Errorf("without the %s decoder this %q is heard now (%.1f): the test needs another rendering", name, l.Phrase, e.Score)
		}
		if e := heard(after, l); e == nil || !by(*e) {
			t.Errorf("the %s decoder did not hear %q at %v: %+v", name, l.Phrase, l.Start, e)
		} else {
			t.Logf("%q heard by the %s decoder: score %.1f, threshold %.1f", l.Phrase, name, e.Score, e.Threshold)
		}
	}
	if _, fa := score(labels, after); len(fa) > 0 {
		t.Errorf("false commands with the %s decoder: %+v", name, fa)
	}
}

// The warped decoder's files are written where the spotter keeps its own, and removed with it.
func TestWarpedDecoderFiles(t *testing.T) {
	s := newTestSpotter(t, SpotterOptions{warp: 1.1})
	dir := s.tmpDir
	for _, f := range []string{"warped.params", "warped.kws"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	s.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", dir, err)
	}
}

// unwarp inverts sphinxbase's piecewise-linear warp (w' = w/warp below the knee, then the
// straight line from the knee's image to the Nyquist frequency): warped(unwarp(v)) = v across
// the band, continuous at the knee, the Nyquist frequency fixed, and v·warp without a knee.
func TestUnwarp(t *testing.T) {
	warped := func(w, warp, knee float64) float64 { // sphinxbase's unwarped_to_warped
		a := 1 / warp
		if w < knee {
			return a * w
		}
		f0 := (nyquist - a*knee) / (nyquist - knee)
		f1 := nyquist * knee * (a - 1) / (nyquist - knee)
		return f0*w + f1
	}
	for _, c := range [][2]float64{{1.35, 5000}, {1.25, 5500}, {0.9, 4000}, {1.6, 3000}} {
		warp, knee := c[0], c[1]
		for v := 50.0; v <= nyquist; v += 37 {
			if u := unwarp(v, warp, knee); math.Abs(warped(u, warp, knee)-v) > 1e-6*v {
				t.Fatalf("warp %v knee %v: unwarp(%v) = %v, which warps to %v", warp, knee, v, u, warped(u, warp, knee))
			}
		}
		if u := unwarp(nyquist, warp, knee); math.Abs(u-nyquist) > 1e-6 {
			t.Errorf("warp %v knee %v: the Nyquist frequency moved to %v", warp, knee, u)
		}
		below, above := unwarp(knee/warp-1e-6, warp, knee), unwarp(knee/warp+1e-6, warp, knee)
		if math.Abs(below-knee) > 1e-3 || math.Abs(above-knee) > 1e-3 {
			t.Errorf("warp %v knee %v: %v and %v either side of the knee", warp, knee, below, above)
		}
	}
	if u := unwarp(6800, 1.1, 0); math.Abs(u-7480) > 1e-9 {
		t.Errorf("no knee: unwarp(6800) = %v, want 7480", u)
	}
	// The feat.params a bent warp writes: the lower edge times warp, the upper one pressed
	// under the Nyquist frequency, where sphinxbase's warp takes it back to 6800 Hz; a warp
	// past the bounds is refused.
	got, err := warpFeatParams("m/feat.params", "-lowerf 130\n-upperf 6800\n", 1.35, 5000)
	var lower, upper float64
	if err == nil {
		_, err = fmt.Sscanf(got, "-lowerf %g\n-upperf %g\n", &lower, &upper)
	}
	if err != nil || lower != 175.5 || upper >= nyquist || math.Abs(warped(upper, 1.35, 5000)-6800) > 0.01 {
		t.Errorf("bent feat.params: %q, %v", got, err)
	}
	if _, err := warpedFrontendAs(t.TempDir(), t.TempDir(), "warped", 1.35, 0); err == nil {
		t.Error("warp 1.35 without a knee was accepted (its upper edge is past the Nyquist frequency)")
	}
	for _, bad := range [][2]float64{{1.7, 5000}, {1.35, 8000}, {1.35, 500}} {
		if _, err := warpedFrontendAs(t.TempDir(), t.TempDir(), "warped", bad[0], bad[1]); err == nil {
			t.Errorf("warp %v bent at %v Hz was accepted", bad[0], bad[1])
		}
	}
}

package trigger

import (
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/device/audio"
)

// The confirming pass accepts a real eSpeak NG rendering of each command phrase: its margin
// over the phone loop passes the least margin in force.
func TestConfirmingPassAcceptsEachPhrase(t *testing.T) {
	s := newTestSpotter(t, SpotterOptions{confirm: true})
	for _, v := range []string{"en-us"} {
		for _, p := range DefaultPhrases() {
			m, err := s.confirm.margin(p.Text, speak(t, v, 150, p.Text).Samples)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("POS %s %q %.3f", v, p.Text, m)
			if m < s.confirmMargin {
				t.Errorf("%s %q: margin %.3f, below the least %.3f", v, p.Text, m, s.confirmMargin)
			}
		}
	}
}

// The confirming pass rejects what keyphrase search took for a command where none was said: in
// the en+f1/115/p30 command stream (tuning data, round 9), the "okay," before each command said
// inside a sentence was heard as "describe" five times at the round-7 thresholds (scores -4 to
// -23, threshold -15); the same voice's "describe" is accepted.
func TestConfirmingPassRejectsOkayAsDescribe(t *testing.T) {
	s := newTestSpotter(t, SpotterOptions{confirm: true})
	st := style{"en+f1", 115, 30}
	pad := audio.Silence(SampleRate, 1, 300*time.Millisecond)
	for _, c := range []struct {
		said   string
		accept bool
	}{{"okay,", false}, {"describe", true}} {
		pcm, err := audio.Concat(pad, say(t, st, c.said), pad)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.confirm.margin("describe", pcm.Samples)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %q as \"describe\": margin %.3f", st, c.said, m)
		if (m >= s.confirmMargin) != c.accept {
			t.Errorf("%s %q as \"describe\": margin %.3f against the least %.3f, want accepted %v", st, c.said, m, s.confirmMargin, c.accept)
		}
	}
}

// With the confirming pass, the spotter still hears commands said between sentences, and
// reports the margin.
func TestSpotterWithConfirmingPass(t *testing.T) {
	s := newTestSpotter(t, SpotterOptions{confirm: true})
	gap := audio.Silence(SampleRate, 1, time.Second)
	var parts []*audio.PCM
	want := []string{"read this", "faster", "how many people"}
	for _, p := range want {
		parts = append(parts, speak(t, "en-us", 150, "The garden was quiet in the morning."), gap, speak(t, "en-us", 150, p), gap)
	}
	stream, err := audio.Concat(parts...)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range spot(t, s, stream) {
		got = append(got, e.Phrase)
		if e.Confirm < s.confirmMargin {
			t.Errorf("%q reported with margin %.3f below %.3f", e.Phrase, e.Confirm, s.confirmMargin)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("heard %q, want %q", got, want)
	}
}

// history keeps the last histSamples and returns spans by absolute sample number.
func TestHistorySpan(t *testing.T) {
	var h history
	var fed int64
	for i := 0; i < 40; i++ {
		chunk := make([]int16, SampleRate)
		for j := range chunk {
			chunk[j] = int16((fed + int64(j)) % 30000)
		}
		fed += int64(len(chunk))
		h.add(chunk, fed)
	}
	if got := h.span(fed-10, fed); len(got) != 10 || int64(got[0]) != (fed-10)%30000 {
		t.Fatalf("last 10 samples: %v", got)
	}
	if got := h.span(0, 100); got != nil {
		t.Errorf("samples long gone: %d returned", len(got))
	}
	if got := h.span(fed-histSamples, fed-histSamples+1); len(got) != 1 || int64(got[0]) != (fed-histSamples)%30000 {
		t.Errorf("oldest kept sample: %v", got)
	}
}

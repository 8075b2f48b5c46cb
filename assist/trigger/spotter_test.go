package trigger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/device/audio"
	"github.com/rpiq/rpiq/device/audio/alsatest"
)

var negatives = []string{
	"the weather is nice today", "I would like a cup of coffee with milk",
	"tomorrow we are going to visit my grandmother in the city", "the train leaves from platform four at noon",
	"she bought some bread and a newspaper", "please remember to close the window before you leave",
	"my brother plays the guitar in a small band", "the doctor said everything looks fine",
}

// TestVoiceCommands speaks every command with eSpeak NG in two voices at two speeds and inside a
// sentence, and checks the spotter hears it; then it counts false alarms in unrelated speech.
// The rates are logged (they are quoted in docs/DESIGN.md).
//
// Each clip gets a fresh spotter warmed up on a few seconds of other speech. PocketSphinx's live
// cepstral mean normalisation adapts to the voice and carries over between utterances: a cold
// decoder misses half the commands, one that has been listening (as a microphone always has)
// does not, and a fresh warmed decoder per clip keeps the result independent of clip order.
func TestVoiceCommands(t *testing.T) {
	warm := map[string]*audio.PCM{}
	for _, v := range []string{"en", "en-us"} {
		warm[v] = speak(t, v, 160, "my neighbour has a small garden with apple trees and a wooden bench")
	}
	fresh := func(v string, p *audio.PCM) []Event {
		s := newTestSpotter(t, SpotterOptions{})
		defer s.Close()
		if evs := spot(t, s, warm[v]); len(evs) > 0 {
			t.Errorf("the warm-up sentence triggered %v", evs)
		}
		return spot(t, s, p)
	}
	total, hits := 0, 0
	for _, p := range DefaultPhrases() {
		if p.Text == "what is in front of me" {
			continue // not recognisable in eSpeak's voice; see DefaultPhrases
		}
		got := 0
		var missed []string
		for _, v := range []string{"en", "en-us"} {
			for _, text := range []string{p.Text, "okay, " + p.Text + " now, thank you."} {
				for _, wpm := range []int{130, 175} {
					if text != p.Text && wpm == 175 {
						continue
					}
					label := fmt.Sprintf("%s %d %q", v, wpm, text)
					evs := fresh(v, speak(t, v, wpm, text))
					ok := false
					for _, e := range evs {
						if e.Command == p.Command && e.Origin == FromVoice {
							ok = true
						}
					}
					if ok {
						got++
					} else {
						missed = append(missed, label)
					}
					// The canonical American voice must always work.
					if v == "en-us" && text == p.Text && !ok {
						t.Errorf("%s: not detected (events %v)", label, evs)
					}
				}
			}
		}
		total += 6
		hits += got
		if got < 5 {
			t.Errorf("%q detected in %d of 6 renderings; missed %v", p.Text, got, missed)
		}
	}
	falseAlarms := 0
	for _, v := range []string{"en", "en-us"} {
		for _, text := range negatives {
			for _, e := range fresh(v, speak(t, v, 160, text)) {
				falseAlarms++
				t.Logf("false alarm: %s in %s %q", e.Command, v, text)
				switch text { // the sentences no command hid in when the thresholds were tuned
				case "the weather is nice today", "I would like a cup of coffee with milk",
					"my brother plays the guitar in a small band", "the doctor said everything looks fine":
					t.Errorf("unrelated speech %q triggered %v", text, e)
				}
			}
		}
	}
	t.Logf("detected %d of %d command renderings; %d false alarms in %d unrelated sentences", hits, total, falseAlarms, 2*len(negatives))
	if falseAlarms > 6 {
		t.Errorf("%d false alarms in %d sentences (5 when tuned)", falseAlarms, 2*len(negatives))
	}
	if hits < 46 {
		t.Errorf("%d of %d commands detected (47 when tuned)", hits, total)
	}
}

// A longer phrase over the same sound wins over a short one inside it ("stop" in "faster").
func TestOverlapPrefersLongerPhrase(t *testing.T) {
	s := &Spotter{phrases: map[string]Command{}, last: map[Command]int64{}, cool: time.Second}
	s.pending = []detection{
		{cmd: Stop, phrase: "stop", start: 1000, end: 5000},
		{cmd: Faster, phrase: "faster", start: 0, end: 6000},
		{cmd: ReadThis, phrase: "read this", start: 20000, end: 30000},
	}
	s.processed = 6000 + holdSamples
	evs := s.resolve()
	if len(evs) != 1 || evs[0].Command != Faster {
		t.Fatalf("got %v, want only faster", evs)
	}
	if len(s.pending) != 1 || s.pending[0].cmd != ReadThis {
		t.Fatalf("pending %v, want read this still held", s.pending)
	}
	// A detection that overlaps one already reported is dropped.
	s.pending = append(s.pending, detection{cmd: Stop, phrase: "stop", start: 5500, end: 7000})
	s.processed = 30000 + holdSamples
	evs = s.resolve()
	if len(evs) != 1 || evs[0].Command != ReadThis {
		t.Fatalf("got %v, want only read this", evs)
	}
}

func TestSpotterErrors(t *testing.T) {
	_, err := NewSpotter(SpotterOptions{Phrases: []Phrase{{Text: "read zyxxqv", Command: ReadThis}}})
	if errors.Is(err, ErrNoRecognizer) {
		need(t, "PocketSphinx", err)
	}
	if err == nil || !strings.Contains(err.Error(), `"zyxxqv" in phrase "read zyxxqv"`) {
		t.Errorf("unknown word: %v", err)
	}
	if _, err := NewSpotter(SpotterOptions{Sensitivity: 1.5}); err == nil {
		t.Error("accepted sensitivity 1.5")
	}
	if _, err := NewSpotter(SpotterOptions{ModelDir: t.TempDir()}); !errors.Is(err, ErrNoRecognizer) {
		t.Errorf("empty model dir: %v", err)
	}
	// A word only the system dictionary knows is taken from it.
	s := newTestSpotter(t, SpotterOptions{Phrases: []Phrase{{Text: "hello computer", Command: ReadThis}}})
	s.Close()
	if _, err := s.Process(make([]int16, 10)); err == nil {
		t.Error("Process after Close succeeded")
	}
}

func TestDictionaryVariants(t *testing.T) {
	dict, variants, err := buildDictionary([]Phrase{{Text: "Read  this", Command: ReadThis}, {Text: "faster", Command: Faster}}, "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dict, "read R IY D\n") || strings.Contains(dict, "R EH D") {
		t.Errorf("dictionary does not say read as R IY D:\n%s", dict)
	}
	if fmt.Sprint(variants[0]) != "[read this read this(2)]" || len(variants[1]) != 3 {
		t.Errorf("variants %q", variants)
	}
	if canonicalPhrase("read this(2)") != "read this" || canonicalPhrase("FASTER(3)") != "faster" {
		t.Error("canonicalPhrase")
	}
}

// Voice reads a PCMSource and reports the command with its position in the stream.
func TestVoiceTrigger(t *testing.T) {
	s := newTestSpotter(t, SpotterOptions{})
	lead := audio.Silence(SampleRate, 1, 2*time.Second)
	say := speak(t, "en-us", 150, "read this")
	stream, _ := audio.Concat(lead, say, audio.Silence(SampleRate, 1, time.Second))
	events := make(chan Event, 10)
	v := &Voice{Source: &pcmReader{p: stream.Samples}, Spotter: s}
	if err := v.Run(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	close(events)
	var got []Event
	for e := range events {
		got = append(got, e)
	}
	if len(got) != 1 || got[0].Command != ReadThis || got[0].Phrase != "read this" {
		t.Fatalf("events %v", got)
	}
	voiced := say.Trim(1000) // the voice itself, without speak's and eSpeak's pauses
	speechEnd := lead.Duration() + 500*time.Millisecond + voiced.Duration()
	if off := got[0].Offset; off < speechEnd-600*time.Millisecond || off > speechEnd+300*time.Millisecond {
		t.Errorf("detected at %v, speech ends at %v", off, speechEnd)
	}
}

type pcmReader struct{ p []int16 }

func (r *pcmReader) Read(b []int16) (int, error) {
	if len(r.p) == 0 {
		return 0, os.ErrClosed
	}
	n := copy(b, r.p)
	r.p = r.p[n:]
	if len(r.p) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// From a WAV fed as the microphone through the ALSA file device to a command: the path the
// daemon uses. It runs in a child process, since ALSA reads ~/.asoundrc once per process.
func TestVoiceFromALSAMicrophone(t *testing.T) {
	if os.Getenv("RPIQ_TRIGGER_CHILD") == "1" {
		childVoiceFromMic(t)
		return
	}
	newTestSpotter(t, SpotterOptions{}) // skips without PocketSphinx
	say := speak(t, "en-us", 150, "stop")
	negative := speak(t, "en-us", 160, "the weather is nice today")
	mic, _ := audio.Concat(negative, audio.Silence(SampleRate, 1, time.Second), say)
	fake, err := alsatest.Write(t.TempDir(), alsatest.Options{Mic: mic})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestVoiceFromALSAMicrophone$", "-test.v", "-test.count=1")
	cmd.Env = append(fake.Env(), "RPIQ_TRIGGER_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func childVoiceFromMic(t *testing.T) {
	m, err := audio.OpenMicrophone(audio.MicOptions{SampleRate: SampleRate})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := newTestSpotter(t, SpotterOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	events := make(chan Event, 10)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- (&Voice{Source: m, Spotter: s}).Run(ctx, events) }()
	select {
	case e := <-events:
		if e.Command != Stop {
			t.Fatalf("first event %v, want stop (the negative sentence came first)", e)
		}
		t.Logf("heard %v after %v", e, time.Since(start))
	case <-ctx.Done():
		t.Fatal("no command within 8 s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

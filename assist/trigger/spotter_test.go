package trigger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/device/audio"
	"github.com/rpiq/rpiq/device/audio/alsatest"
)

// TestVoiceCommands: every command phrase of the example configuration, alone and inside
// "okay, ... now, thank you.", in two eSpeak NG renderings between other sentences (4 min),
// then two minutes of unrelated text read aloud (about 35 s on the loaded 2-core machine). The
// full measurement (16 renderings, 50 min of unrelated speech) is BenchmarkSpotterCorpus; its
// numbers are in docs/DESIGN.md.
func TestVoiceCommands(t *testing.T) {
	var r corpusResult
	evalPositives(t, SpotterOptions{}, []style{{"en-us", 130, 35}, {"en", 200, 70}}, &r)
	evalNegatives(t, SpotterOptions{}, negativeStyles(), 3000, 2, &r)
	t.Logf("%s", r)
	for _, m := range r.Misses {
		t.Logf("missed %s", m)
	}
	for _, f := range append(r.PosFalse, r.NegFalse...) {
		t.Logf("false: %s", f)
	}
	// Every phrase said alone is heard (207 of 208 across the 16 renderings of the benchmark;
	// 26 of 26 here). Inside a sentence commands are not heard by design (a command is an
	// island of speech of its own), so that count is only logged.
	if r.AloneHits < r.Alone {
		t.Errorf("%d of %d phrases said alone were heard", r.AloneHits, r.Alone)
	}
	if n := len(r.PosFalse) + len(r.NegFalse); n > 1 {
		t.Errorf("%d false alarms in %v of speech", n, (r.PosAudio + r.NegAudio).Round(time.Second))
	}
}

// Without the pause rule, a longer phrase over the same sound wins over a short one inside it
// ("stop" in "faster").
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

// With the pause rule, each island of speech gives one command at most: the phrase spanning
// most of it, even when a shorter one inside it scores higher; a phrase covering too little of
// its island (the end of a sentence) gives none; an island still being spoken waits.
func TestIslandChoosesOnePhrase(t *testing.T) {
	s := islandSpotter(42) // "stop" passes its threshold by 7 more than "faster": within ambiguityMargin
	evs := s.resolve()
	if len(evs) != 1 || evs[0].Command != Faster {
		t.Fatalf("got %v, want only faster", evs)
	}
	if len(s.pending) != 1 || s.pending[0].cmd != Repeat {
		t.Fatalf("pending %v, want repeat waiting for its pause", s.pending)
	}
}

// TestIslandAmbiguous: when another command passes its threshold by far more than the longest
// phrase passes its own, the island is dropped (a wrong command is worse than a missed one).
func TestIslandAmbiguous(t *testing.T) {
	s := islandSpotter(60) // "stop" +30, "faster" +5
	evs := s.resolve()
	if len(evs) != 0 {
		t.Fatalf("got %v, want nothing", evs)
	}
	if len(s.pending) != 1 || s.pending[0].cmd != Repeat {
		t.Fatalf("pending %v, want repeat waiting for its pause", s.pending)
	}
}

// islandSpotter is a spotter whose levels hold a short island (the words of "faster", with a
// "stop" inside scoring stopScore), a sentence holding "what colour is this", and speech still
// going on holding "repeat".
func islandSpotter(stopScore float64) *Spotter {
	l := newLevels()
	var pcm []int16
	add := func(ms int, loud bool) {
		for i := 0; i < ms*SampleRate/1000; i++ {
			v := 30 * math.Sin(float64(len(pcm))*0.37)
			if loud {
				v += 8000 * math.Sin(float64(len(pcm))*2*math.Pi*220/SampleRate)
			}
			pcm = append(pcm, int16(v))
		}
	}
	add(500, false) // frames 0-49
	add(600, true)  // 50-109: "faster"
	add(500, false) // 110-159
	add(2000, true) // 160-359: a sentence
	add(500, false) // 360-409
	add(1000, true) // 410-509: still speaking
	l.add(pcm)
	f := int64(frameSamples)
	s := &Spotter{phrases: map[string]Command{}, last: map[Command]int64{}, cool: time.Second, pause: 30,
		levels: l, decided: map[int64]int64{}, processed: int64(len(pcm)),
		thresh: map[string]float64{"stop": 30, "faster": 40, "what colour is this": 15, "repeat": 10}}
	s.pending = []detection{
		{cmd: Stop, phrase: "stop", start: 70 * f, end: 105 * f, score: stopScore}, // inside "faster"
		{cmd: Faster, phrase: "faster", start: 52 * f, end: 108 * f, score: 45},    // +5, longer
		{cmd: Colour, phrase: "what colour is this", start: 250 * f, end: 358 * f, score: 80},
		{cmd: Repeat, phrase: "repeat", start: 440 * f, end: 500 * f, score: 50},
	}
	return s
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
	// A phrase's Variants keep only the keyphrases named; the dictionary holds only their words.
	dict, variants, err = buildDictionary([]Phrase{{Text: "what colour is this", Command: Colour, Variants: []string{"what(2) colour is this(2)", "what(2) colour(2) is this"}}}, "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(variants[0]) != "[what(2) colour is this(2) what(2) colour(2) is this]" {
		t.Errorf("variants %q", variants)
	}
	if strings.Contains(dict, "what W AH T") || !strings.Contains(dict, "what(2) W AA T\n") || !strings.Contains(dict, "colour(2) K AH L AH\n") || !strings.Contains(dict, "this(2) DH IY S\n") {
		t.Errorf("dictionary:\n%s", dict)
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
	// Generous: this checks that the command is heard through ALSA, not how fast (the time is
	// logged); 8 s failed half the runs on a loaded 2-core machine, never on a quiet one.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
		t.Fatal("no command within 30 s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The utterance restarts once in every pause after speech (so each command is searched from a
// fresh start, whatever came before), not again while the silence goes on, and not inside a
// sentence said without pauses.
func TestUtteranceRestartsInEveryPause(t *testing.T) {
	st := style{"en-us", 150, 50}
	gap := func(d time.Duration) *audio.PCM { return audio.Silence(SampleRate, 1, d) }
	words := func(text string) *audio.PCM { return say(t, st, text).Trim(100) } // without eSpeak's silence
	parts := []*audio.PCM{gap(time.Second), words("I think the bus is late again this morning"), gap(600 * time.Millisecond),
		words("repeat"), gap(2 * time.Second), words("stop"), gap(time.Second)}
	stream, err := audio.Concat(parts...)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSpotter(t, SpotterOptions{})
	var restarts []time.Duration
	var events []Event
	frame := s.uttFrame
	for i := 0; i < len(stream.Samples); i += 1600 {
		evs, err := s.Process(stream.Samples[i:min(i+1600, len(stream.Samples))])
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, evs...)
		if s.uttFrame != frame {
			frame = s.uttFrame
			restarts = append(restarts, time.Duration(frame)*10*time.Millisecond)
		}
	}
	// Where each spoken part ends: a restart comes 300-400 ms after each (100 ms chunks).
	var ends []time.Duration
	at := time.Duration(0)
	for i, p := range parts {
		at += p.Duration()
		if i%2 == 1 {
			ends = append(ends, at)
		}
	}
	if len(restarts) != len(ends) {
		t.Fatalf("restarts at %v, want one after each of the %d spoken parts (ending %v)", restarts, len(ends), ends)
	}
	for i, r := range restarts {
		if d := r - ends[i]; d < 250*time.Millisecond || d > 500*time.Millisecond {
			t.Errorf("restart %d at %v, %v after its speech ended at %v; want 300-400 ms", i, r, d, ends[i])
		}
	}
	var got []Command
	for _, e := range events {
		got = append(got, e.Command)
	}
	if len(got) != 2 || got[0] != Repeat || got[1] != Stop {
		t.Errorf("commands %v, want repeat and stop", got)
	}
}

// With an onset lead, each utterance starts that long before the speech that follows a pause
// (not at the pause, whatever the pause's length), and ends in the pause after it; the commands
// are still heard.
func TestUtteranceStartsBeforeOnset(t *testing.T) {
	st := style{"en-us", 150, 50}
	gap := func(d time.Duration) *audio.PCM { return audio.Silence(SampleRate, 1, d) }
	words := func(text string) *audio.PCM { return say(t, st, text).Trim(100) }
	parts := []*audio.PCM{gap(time.Second), words("I think the bus is late again this morning"), gap(600 * time.Millisecond),
		words("repeat"), gap(2 * time.Second), words("stop"), gap(time.Second)}
	stream, err := audio.Concat(parts...)
	if err != nil {
		t.Fatal(err)
	}
	const lead = 200 * time.Millisecond
	s := newTestSpotter(t, SpotterOptions{onsetLead: lead})
	var starts []time.Duration
	var events []Event
	idle, ends := s.idle, 0
	for i := 0; i < len(stream.Samples); i += 1600 {
		evs, err := s.Process(stream.Samples[i:min(i+1600, len(stream.Samples))])
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, evs...)
		if idle && !s.idle {
			starts = append(starts, time.Duration(s.uttStart)*time.Second/SampleRate)
		}
		if !idle && s.idle {
			ends++
		}
		idle = s.idle
	}
	var onsets []time.Duration
	at := time.Duration(0)
	for i, p := range parts {
		if i%2 == 1 {
			onsets = append(onsets, at)
		}
		at += p.Duration()
	}
	if len(starts) != len(onsets) || ends != len(onsets) {
		t.Fatalf("utterances started at %v and ended %d times; want one for each of the %d spoken parts (starting %v)", starts, ends, len(onsets), onsets)
	}
	t.Logf("utterances start at %v; speech at %v", starts, onsets)
	for i, st := range starts {
		// The onset is the first frame above the quiet level: within 50 ms of where the words begin.
		if d := onsets[i] - st; d < lead-10*time.Millisecond || d > lead+50*time.Millisecond {
			t.Errorf("utterance %d starts at %v, %v before its speech at %v; want about %v", i, st, d, onsets[i], lead)
		}
	}
	var got []Command
	for _, e := range events {
		got = append(got, e.Command)
	}
	if len(got) != 2 || got[0] != Repeat || got[1] != Stop {
		t.Errorf("commands %v, want repeat and stop", got)
	}
}

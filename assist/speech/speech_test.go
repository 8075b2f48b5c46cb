package speech

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// espeak returns the real engine, or skips when it is not installed (fails under
// RPIQ_REQUIRE_DEPS=1, as in CI after scripts/setup.sh).
func espeak(t testing.TB) *ESpeak {
	t.Helper()
	e, err := OpenESpeak()
	if err != nil {
		if os.Getenv("RPIQ_REQUIRE_DEPS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return e
}

func TestESpeakSynthesizes(t *testing.T) {
	e := espeak(t)
	if e.SampleRate() != 22050 {
		t.Logf("sample rate %d (22050 expected for the stock voices)", e.SampleRate())
	}
	p, err := SynthesizeAll(context.Background(), e, "Hello world", DefaultVoice)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Duration()
	if d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("\"Hello world\" lasted %v; want about 0.7 s", d)
	}
	peak := 0
	for _, s := range p.Samples {
		peak = max(peak, int(s), -int(s))
	}
	if peak < 5000 {
		t.Errorf("peak %d: the speech is nearly silent", peak)
	}
	// A faster rate gives shorter speech; a louder volume a higher peak.
	fast := DefaultVoice
	fast.RateWPM = 400
	pf, err := SynthesizeAll(context.Background(), e, "Hello world, this is a longer sentence to time.", fast)
	if err != nil {
		t.Fatal(err)
	}
	pn, _ := SynthesizeAll(context.Background(), e, "Hello world, this is a longer sentence to time.", DefaultVoice)
	if pf.Duration() >= pn.Duration()*3/4 {
		t.Errorf("400 wpm lasted %v, 175 wpm %v: the rate is not applied", pf.Duration(), pn.Duration())
	}
}

func TestESpeakErrors(t *testing.T) {
	e := espeak(t)
	bad := DefaultVoice
	bad.Name = "no-such-voice-xx"
	if _, err := SynthesizeAll(context.Background(), e, "hi", bad); err == nil || !strings.Contains(err.Error(), "no voice") {
		t.Errorf("unknown voice: %v", err)
	}
	bad = DefaultVoice
	bad.RateWPM = 1000
	if _, err := SynthesizeAll(context.Background(), e, "hi", bad); err == nil {
		t.Error("rate 1000 accepted")
	}
	// Cancellation stops a long synthesis quickly.
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	start := time.Now()
	err := e.Synthesize(ctx, strings.Repeat("This is a long text that would take a while. ", 200), DefaultVoice, func(c []int16) bool {
		n++
		if n == 3 {
			cancel()
		}
		return true
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled synthesis returned %v", err)
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("cancel took %v", el)
	}
	// It still works afterwards, and NUL bytes do not truncate the text.
	p, err := SynthesizeAll(context.Background(), e, "one\x00two three four", DefaultVoice)
	if err != nil || p.Duration() < 500*time.Millisecond {
		t.Errorf("after cancel: %v, %v", err, p.Duration())
	}
}

func TestSplitter(t *testing.T) {
	cases := []struct {
		chunks []string
		want   []string
	}{
		{[]string{"Hello. How are", " you? Fine"}, []string{"Hello.", "How are you?", "Fine"}},
		{[]string{"Dr. Smith lives at No. 5 Main St. in town. Yes."}, []string{"Dr. Smith lives at No. 5 Main St. in town.", "Yes."}},
		{[]string{"It costs 3", ".50 today. Ok"}, []string{"It costs 3.50 today.", "Ok"}},
		{[]string{"EXIT 12\nMain Street\n"}, []string{"EXIT 12", "Main Street"}},
		{[]string{"J. R. R. Tolkien wrote it! Wow!! ", "\"Really?\" he said."}, []string{"J. R. R. Tolkien wrote it!", "Wow!!", "\"Really?\"", "he said."}},
		{[]string{"", "   ", "\n\n"}, nil},
	}
	for _, c := range cases {
		var s Splitter
		var got []string
		for _, ch := range c.chunks {
			got = append(got, s.Push(ch)...)
		}
		if f := s.Flush(); f != "" {
			got = append(got, f)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %q\nwant %q", c.chunks, got, c.want)
		}
	}
	// A sentence is returned as soon as the following space arrives, not at the end.
	var s Splitter
	if got := s.Push("First one."); len(got) != 0 {
		t.Errorf("premature %q", got)
	}
	if got := s.Push(" Sec"); len(got) != 1 || got[0] != "First one." {
		t.Errorf("got %q", got)
	}
	// A long run without full stops is cut.
	var l Splitter
	got := l.Push(strings.Repeat("apples, pears ", 40))
	if len(got) == 0 || len(got[0]) > MaxSentence {
		t.Errorf("long run not cut: %d pieces", len(got))
	}
}

func FuzzSplitter(f *testing.F) {
	f.Add("Hello. World! Dr. X? ", 3)
	f.Add("é\u00a0.\n...!!", 1)
	f.Add(strings.Repeat("ü", 300), 7)
	f.Fuzz(func(t *testing.T, text string, cut int) {
		if cut <= 0 {
			cut = 1
		}
		var s Splitter
		var got []string
		for i := 0; i < len(text); i += cut {
			got = append(got, s.Push(text[i:min(len(text), i+cut)])...)
		}
		got = append(got, s.Flush())
		// No text is lost or invented: the pieces rejoin to the input up to whitespace.
		strip := func(s string) string { return strings.Join(strings.Fields(s), "") }
		if strip(strings.Join(got, " ")) != strip(text) {
			t.Fatalf("pieces %q do not rejoin to %q", got, text)
		}
	})
}

// fakeSynth makes 10 ms of constant samples per character, synthesising instantly.
type fakeSynth struct {
	mu    sync.Mutex
	texts []string
	fail  string
}

func (f *fakeSynth) SampleRate() int { return 8000 }
func (f *fakeSynth) Synthesize(ctx context.Context, text string, v Voice, chunk func([]int16) bool) error {
	f.mu.Lock()
	f.texts = append(f.texts, text)
	f.mu.Unlock()
	if f.fail != "" && strings.Contains(text, f.fail) {
		return errors.New("synth failed")
	}
	buf := make([]int16, 80*len(text))
	for i := range buf {
		buf[i] = 1000
	}
	chunk(buf)
	return ctx.Err()
}

func TestUtteranceStreamsSentences(t *testing.T) {
	fs := &fakeSynth{}
	rec := &Recorder{}
	sp := NewSpeaker(fs, rec, DefaultVoice, false)
	u := sp.Begin(context.Background())
	u.Write("The first sentence. The sec")
	// The first sentence is spoken before the answer is complete.
	deadline := time.Now().Add(2 * time.Second)
	for u.FirstAudio().IsZero() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if u.FirstAudio().IsZero() {
		t.Fatal("first sentence not spoken before the stream ended")
	}
	u.Write("ond one")
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"The first sentence.", "The second one"}
	if !reflect.DeepEqual(u.Spoken(), want) {
		t.Errorf("spoken %q, want %q", u.Spoken(), want)
	}
	if got, want := len(rec.PCM().Samples), 80*(len(want[0])+len(want[1])); got != want {
		t.Errorf("played %d samples, want %d", got, want)
	}
}

func TestTextIsNormalisedForSpeech(t *testing.T) {
	fs := &fakeSynth{}
	sp := NewSpeaker(fs, &Recorder{}, DefaultVoice, false)
	if err := sp.Say(context.Background(), "ﬁle ＡＢＣ"); err != nil {
		t.Fatal(err)
	}
	if len(fs.texts) != 1 || fs.texts[0] != "file ABC" {
		t.Errorf("synthesised %q", fs.texts)
	}
}

func TestSynthErrorIsReported(t *testing.T) {
	sp := NewSpeaker(&fakeSynth{fail: "bad"}, &Recorder{}, DefaultVoice, false)
	if err := sp.Say(context.Background(), "good. bad. more."); err == nil {
		t.Error("synthesis failure not reported")
	}
}

func TestBargeIn(t *testing.T) {
	rec := &Recorder{Paced: true}
	sp := NewSpeaker(&fakeSynth{}, rec, DefaultVoice, true)
	u := sp.Begin(context.Background())
	u.Write(strings.Repeat("A long sentence that plays for a while. ", 10))
	time.Sleep(150 * time.Millisecond)
	if !sp.Speaking() {
		t.Fatal("not speaking")
	}
	stop := time.Now()
	sp.Stop()
	returned := time.Since(stop)
	time.Sleep(60 * time.Millisecond)
	silentAfter := rec.LastSample().Sub(stop)
	if returned > 100*time.Millisecond || silentAfter > 100*time.Millisecond {
		t.Errorf("barge-in: Stop returned after %v, last sample %v after Stop; goal < 100 ms", returned, silentAfter)
	}
	t.Logf("barge-in: Stop returned in %v; last sample %v after Stop", returned, silentAfter)
	if err := u.Close(); err != nil {
		t.Errorf("interrupted utterance reported %v", err)
	}
	if sp.Speaking() {
		t.Error("still speaking after Stop")
	}
	// A new utterance interrupts the old one too.
	u1 := sp.Begin(context.Background())
	u1.Write(strings.Repeat("Old answer. ", 20))
	time.Sleep(30 * time.Millisecond)
	u2 := sp.Begin(context.Background())
	select {
	case <-u1.Done():
	default:
		t.Error("old utterance still running after Begin")
	}
	u2.Write("New.")
	if err := u2.Close(); err != nil || len(u2.Spoken()) != 1 {
		t.Errorf("new utterance: %v %q", err, u2.Spoken())
	}
}

func TestEarconsAndTicking(t *testing.T) {
	rec := &Recorder{}
	sp := NewSpeaker(&fakeSynth{}, rec, DefaultVoice, true)
	if err := sp.Earcon(context.Background(), Listening); err != nil {
		t.Fatal(err)
	}
	if d := rec.PCM().Duration(); d < 100*time.Millisecond || d > 300*time.Millisecond {
		t.Errorf("listening tone lasts %v", d)
	}
	l, e := Listening.PCM(8000, 100), Error.PCM(8000, 100)
	if reflect.DeepEqual(l.Samples, e.Samples) {
		t.Error("listening and error tones are the same")
	}
	rec.Reset()
	sp.StartWorking(context.Background())
	time.Sleep(TickInterval*2 + 100*time.Millisecond)
	ticks := rec.PCM()
	if len(ticks.Samples) < 2*len(Tick.PCM(8000, 100).Samples) {
		t.Errorf("ticking produced %d samples", len(ticks.Samples))
	}
	// Speech stops the ticking before it plays.
	if err := sp.Say(context.Background(), "Done."); err != nil {
		t.Fatal(err)
	}
	n := len(rec.PCM().Samples)
	time.Sleep(TickInterval + 100*time.Millisecond)
	if len(rec.PCM().Samples) != n {
		t.Error("still ticking after the answer")
	}
	// Earcons off: silence.
	rec.Reset()
	sp.SetEarcons(false)
	sp.Earcon(context.Background(), Error)
	sp.StartWorking(context.Background())
	time.Sleep(TickInterval)
	sp.Stop()
	if len(rec.PCM().Samples) != 0 {
		t.Error("earcons played while off")
	}
}

func TestVoiceAdjustAndHistory(t *testing.T) {
	v := DefaultVoice
	for i := 0; i < 20; i++ {
		v = v.Adjusted("faster")
	}
	if v.RateWPM != MaxRate {
		t.Errorf("rate %d", v.RateWPM)
	}
	for i := 0; i < 20; i++ {
		v = v.Adjusted("quieter")
	}
	if v.Volume != 10 {
		t.Errorf("volume %d", v.Volume)
	}
	h := NewHistory(2)
	h.Add("a")
	h.Add("")
	h.Add("b")
	h.Add("c")
	if s, _ := h.Last(0); s != "c" {
		t.Errorf("last %q", s)
	}
	if s, _ := h.Last(1); s != "b" {
		t.Errorf("previous %q", s)
	}
	if _, ok := h.Last(2); ok || h.Len() != 2 {
		t.Error("history kept more than 2")
	}
}

func BenchmarkESpeakSentence(b *testing.B) {
	e := espeak(b)
	for i := 0; i < b.N; i++ {
		if _, err := SynthesizeAll(context.Background(), e, "EXIT 12 Main Street.", DefaultVoice); err != nil {
			b.Fatal(err)
		}
	}
}

func TestProgramMatchesTheLibrary(t *testing.T) {
	espeak(t)
	pr, err := OpenProgram("")
	if err != nil {
		t.Skip(err)
	}
	lib, _ := OpenESpeak()
	if pr.SampleRate() != lib.SampleRate() {
		t.Errorf("program %d Hz, library %d Hz", pr.SampleRate(), lib.SampleRate())
	}
	a, err := SynthesizeAll(context.Background(), pr, "Hello world", DefaultVoice)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := SynthesizeAll(context.Background(), lib, "Hello world", DefaultVoice)
	// The program adds a sentence-end pause; the speech itself is the same length.
	if d := a.Duration() - b.Duration(); d < 0 || d > 500*time.Millisecond {
		t.Errorf("program %v, library %v", a.Duration(), b.Duration())
	}
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	n := 0
	err = pr.Synthesize(ctx, strings.Repeat("A long text to cancel. ", 100), DefaultVoice, func(c []int16) bool {
		if n++; n == 2 {
			cancel()
		}
		return true
	})
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Errorf("cancel: %v after %v", err, time.Since(start))
	}
	if _, err := OpenProgram("/nonexistent/espeak-ng"); !errors.Is(err, ErrNoProgram) {
		t.Errorf("missing program: %v", err)
	}
}

// The voice list comes from the library: "en-us" is America, "klingon" is eSpeak NG's Klingon
// (language piqd: not a voice for English text), "xx" is nothing.
func TestFindVoice(t *testing.T) {
	e, err := OpenESpeak()
	if err != nil {
		if os.Getenv("RPIQ_REQUIRE_DEPS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	for name, want := range map[string]string{"en-us": "gmw/en-US", "en+f3": "gmw/en", "EN-GB": "gmw/en", "English (America)": "gmw/en-US", "klingon": "art/piqd", "xx": "", "": ""} {
		v, ok := e.FindVoice(name)
		if ok != (want != "") || v.Identifier != want {
			t.Errorf("FindVoice(%q) = %+v, %v; want %q", name, v, ok, want)
		}
	}
	if v, _ := e.FindVoice("klingon"); v.SpeaksLanguage("en") {
		t.Error("klingon speaks en")
	}
	if v, _ := e.FindVoice("en-us"); !v.SpeaksLanguage("en") || !v.SpeaksLanguage("en-gb") || v.SpeaksLanguage("de") {
		t.Errorf("en-us languages %v", v.Languages)
	}
}

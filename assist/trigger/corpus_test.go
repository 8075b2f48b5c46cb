package trigger

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/device/audio"
	"github.com/rpiq/rpiq/internal/shareddata"
)

// The spotter's corpora: eSpeak NG voices at several rates and pitches saying every command
// phrase (alone and inside a sentence) between other sentences, and eSpeak NG reading
// unrelated text (War and Peace, WikiText-2, C4 from ../shared/data/text). The tests use a few
// minutes of it; BenchmarkSpotterCorpus measures the full false-alarm rate (numbers in
// docs/DESIGN.md).

// style is one eSpeak NG rendering: voice (with variant), words per minute, pitch 0..99.
type style struct {
	Voice      string
	WPM, Pitch int
}

func (s style) String() string { return fmt.Sprintf("%s/%d/p%d", s.Voice, s.WPM, s.Pitch) }

// positiveStyles: four voices (British, American, Scottish, a female variant), slow and fast,
// low and high.
func positiveStyles() []style {
	var out []style
	for _, v := range []string{"en", "en-us", "en-gb-scotland", "en-us+f3"} {
		for _, wpm := range []int{130, 200} {
			for _, p := range []int{35, 70} {
				out = append(out, style{v, wpm, p})
			}
		}
	}
	return out
}

// say renders text in style at 16 kHz mono, without padding.
func say(t testing.TB, st style, text string) *audio.PCM {
	t.Helper()
	_, err := exec.LookPath("espeak-ng")
	need(t, "espeak-ng", err)
	path := filepath.Join(t.TempDir(), "say.wav")
	cmd := exec.Command("espeak-ng", "-v", st.Voice, "-s", fmt.Sprint(st.WPM), "-p", fmt.Sprint(st.Pitch), "-w", path, text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	p, err := audio.ReadWAVFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = audio.Resample(p.Mono(), SampleRate); err != nil {
		t.Fatal(err)
	}
	return p
}

// fillers are everyday sentences spoken between the commands.
var fillers = []string{
	"I think the bus is late again this morning.",
	"Could you pass me the salt and the pepper?",
	"We should call your sister after lunch.",
	"The shop on the corner closes at six.",
	"It was a long walk home from the station.",
	"My coat is hanging behind the kitchen door.",
	"They painted the fence green last summer.",
	"Let's buy some apples and a loaf of bread.",
	"The radio said it will rain tomorrow.",
}

// label is where a command phrase was spoken in a stream.
type label struct {
	Cmd        Command
	Phrase     string
	Start, End time.Duration
	InSentence bool
}

// positiveStream: a warm-up sentence, then for each phrase a filler sentence, the phrase alone,
// and the phrase inside "okay, ... now, thank you.", with pauses.
func positiveStream(t testing.TB, st style, phrases []Phrase) (*audio.PCM, []label) {
	pcm := &audio.PCM{Rate: SampleRate, Channels: 1}
	var labels []label
	add := func(p *audio.PCM) (start, end time.Duration) {
		start = pcm.Duration()
		pcm.Samples = append(pcm.Samples, p.Samples...)
		return start, pcm.Duration()
	}
	pause := func(d time.Duration) { add(audio.Silence(SampleRate, 1, d)) }
	add(say(t, st, "My neighbour has a small garden with apple trees and a wooden bench."))
	pause(500 * time.Millisecond)
	for i, p := range phrases {
		add(say(t, st, fillers[i%len(fillers)]))
		pause(700 * time.Millisecond)
		s, e := add(say(t, st, p.Text))
		labels = append(labels, label{p.Command, p.Text, s, e, false})
		pause(800 * time.Millisecond)
		s, e = add(say(t, st, "okay, "+p.Text+" now, thank you."))
		labels = append(labels, label{p.Command, p.Text, s, e, true})
		pause(800 * time.Millisecond)
	}
	return pcm, labels
}

// negativeText returns about words words of running text from the shared texts, starting at a
// place chosen by seed.
func negativeText(t testing.TB, seed uint64, words int) (source, text string) {
	t.Helper()
	names := []string{"war-and-peace.txt", "wikitext-2-raw-test.txt", "c4-sample.txt"}
	name := names[seed%uint64(len(names))]
	path := filepath.Join(shareddata.Root(), "text", name)
	if shareddata.Root() == "" {
		if shareddata.Required() {
			t.Fatal("../shared/data is missing (RPIQ_REQUIRE_DATA=1)")
		}
		t.Skip("../shared/data is missing")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Plain prose only: WikiText headings ("= = Title = =") and markup are skipped.
	clean := regexp.MustCompile(`@.@|[=\[\]{}<>|_*#]`)
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if len(strings.Fields(l)) >= 12 && !strings.HasPrefix(l, "=") {
			lines = append(lines, clean.ReplaceAllString(l, " "))
		}
	}
	r := rand.New(rand.NewPCG(seed, 7))
	i := r.IntN(len(lines))
	var out []string
	for n := 0; n < words && i < len(lines); i++ {
		out = append(out, lines[i])
		n += len(strings.Fields(lines[i]))
	}
	f := strings.Fields(strings.Join(out, " "))
	if len(f) > words {
		f = f[:words]
	}
	return name, strings.Join(f, " ") + "."
}

// negativeStyles are the readers of the unrelated text.
func negativeStyles() []style {
	return []style{
		{"en", 175, 50}, {"en-us", 160, 40}, {"en-us+f3", 190, 65}, {"en-gb-scotland", 150, 55},
		{"en-gb-x-rp", 175, 45}, {"en+m3", 210, 50}, {"en-us+f2", 140, 70}, {"en-029", 175, 50},
	}
}

// runStream feeds pcm through a fresh spotter in 100 ms chunks and returns the events and, when
// raw is set, every raw detection.
func runStream(t testing.TB, opts SpotterOptions, pcm *audio.PCM, raw bool) ([]Event, []rawDetection) {
	s := newTestSpotter(t, opts)
	defer s.Close()
	var dets []rawDetection
	if raw {
		s.raw = func(d detection) { dets = append(dets, rawDetection{detection: d}) }
	}
	events := spot(t, s, pcm)
	if pcm.Duration() > levelFrames*10*time.Millisecond {
		t.Fatalf("stream of %v is longer than the level history", pcm.Duration())
	}
	for i, d := range dets {
		n := int64(DefaultPause / (10 * time.Millisecond))
		dets[i].pause = s.levels.pauseBefore(d.start/frameSamples, n, pauseSlack)
		dets[i].pauseAfter = s.levels.pauseAfter(d.end/frameSamples, n, pauseSlack)
	}
	return events, dets
}

// rawDetection is a detection and whether a pause came before and after it.
type rawDetection struct {
	detection
	pause, pauseAfter bool
}

// score counts the hits (the right command, ending within the phrase's span + 0.8 s) and the
// other events (false alarms).
func score(labels []label, events []Event) (hit []bool, falseAlarms []Event) {
	hit = make([]bool, len(labels))
	for _, e := range events {
		matched := false
		for i, l := range labels {
			if e.Command == l.Cmd && e.Offset >= l.Start && e.Offset <= l.End+800*time.Millisecond {
				hit[i], matched = true, true
			}
		}
		if !matched {
			falseAlarms = append(falseAlarms, e)
		}
	}
	return hit, falseAlarms
}

// dumpRaw writes raw detections as JSON lines for threshold tuning (RPIQ_SPOTTER_DUMP=FILE).
func dumpRaw(t testing.TB, kind string, st style, labels []label, dets []rawDetection) {
	path := os.Getenv("RPIQ_SPOTTER_DUMP")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type rec struct {
		Kind, Style, Phrase string
		Start, End          float64
		Score               float64
		Pause, PauseAfter   bool
	}
	enc := json.NewEncoder(f)
	for _, l := range labels {
		enc.Encode(rec{Kind: kind + "-label", Style: st.String(), Phrase: l.Phrase, Start: l.Start.Seconds(), End: l.End.Seconds()})
	}
	for _, d := range dets {
		enc.Encode(rec{Kind: kind, Style: st.String(), Phrase: d.phrase, Start: float64(d.start) / SampleRate, End: float64(d.end) / SampleRate, Score: d.score, Pause: d.pause, PauseAfter: d.pauseAfter})
	}
}

// permissive is every default phrase at a low threshold, for collecting raw scores.
func permissive() []Phrase {
	ps := DefaultPhrases()
	for i := range ps {
		ps[i].Exponent = -70
	}
	return ps
}

// TestCollectSpotterScores (RPIQ_SPOTTER_DUMP=FILE, long) writes the raw detections of the
// positive and negative corpora at permissive thresholds, for choosing the thresholds.
func TestCollectSpotterScores(t *testing.T) {
	if os.Getenv("RPIQ_SPOTTER_DUMP") == "" {
		t.Skip("set RPIQ_SPOTTER_DUMP=FILE to collect scores (minutes)")
	}
	opts := SpotterOptions{Phrases: permissive(), extra: strings.Fields(os.Getenv("RPIQ_SPOTTER_EXTRA"))}
	for _, st := range positiveStyles() {
		pcm, labels := positiveStream(t, st, DefaultPhrases())
		_, dets := runStream(t, opts, pcm, true)
		dumpRaw(t, "pos", st, labels, dets)
		t.Logf("%s: %v of audio, %d raw detections", st, pcm.Duration().Round(time.Second), len(dets))
	}
	n := 24
	if v := os.Getenv("RPIQ_SPOTTER_NEG_MINUTES"); v != "" {
		fmt.Sscan(v, &n)
	}
	for i := 0; i < n; i++ {
		st := negativeStyles()[i%len(negativeStyles())]
		src, text := negativeText(t, uint64(i), st.WPM) // about a minute
		pcm := say(t, st, text)
		_, dets := runStream(t, opts, pcm, true)
		dumpRaw(t, "neg", st, []label{{Phrase: src, End: pcm.Duration()}}, dets)
		t.Logf("neg %d %s %s: %v, %d raw detections", i, st, src, pcm.Duration().Round(time.Second), len(dets))
	}
}

// corpusResult is the spotter's record on a corpus.
type corpusResult struct {
	Alone, AloneHits, InSentence, InSentenceHits int
	Misses                                       []string
	PosAudio                                     time.Duration
	PosFalse                                     []string // other commands heard in the positive streams
	NegAudio                                     time.Duration
	NegFalse                                     []string // commands heard in unrelated text
}

func (r corpusResult) String() string {
	return fmt.Sprintf("alone %d/%d, inside a sentence %d/%d, %d false in %v of the command streams; %d false alarms in %v of unrelated speech (%.2f per 10 min)",
		r.AloneHits, r.Alone, r.InSentenceHits, r.InSentence, len(r.PosFalse), r.PosAudio.Round(time.Second), len(r.NegFalse), r.NegAudio.Round(time.Second), r.perTen())
}

func (r corpusResult) perTen() float64 {
	if r.NegAudio == 0 {
		return 0
	}
	return float64(len(r.NegFalse)) / r.NegAudio.Minutes() * 10
}

// evalPositives runs the command streams of styles through fresh spotters.
func evalPositives(t testing.TB, opts SpotterOptions, styles []style, r *corpusResult) {
	for _, st := range styles {
		pcm, labels := positiveStream(t, st, DefaultPhrases())
		events, _ := runStream(t, opts, pcm, false)
		hit, fa := score(labels, events)
		r.PosAudio += pcm.Duration()
		for i, l := range labels {
			if l.InSentence {
				r.InSentence++
			} else {
				r.Alone++
			}
			switch {
			case hit[i] && l.InSentence:
				r.InSentenceHits++
			case hit[i]:
				r.AloneHits++
			default:
				r.Misses = append(r.Misses, fmt.Sprintf("%s %q (sentence %v)", st, l.Phrase, l.InSentence))
			}
		}
		for _, e := range fa {
			r.PosFalse = append(r.PosFalse, fmt.Sprintf("%s: %q at %v (score %.1f)", st, e.Phrase, e.Offset.Round(10*time.Millisecond), e.Score))
		}
	}
}

// evalNegatives reads n passages of about a minute each (text chosen by seed0+i).
func evalNegatives(t testing.TB, opts SpotterOptions, seed0 uint64, n int, r *corpusResult) {
	styles := negativeStyles()
	for i := 0; i < n; i++ {
		st := styles[i%len(styles)]
		src, text := negativeText(t, seed0+uint64(i), st.WPM)
		pcm := say(t, st, text)
		events, _ := runStream(t, opts, pcm, false)
		r.NegAudio += pcm.Duration()
		for _, e := range events {
			r.NegFalse = append(r.NegFalse, fmt.Sprintf("%s %s #%d: %q at %v (score %.1f)", st, src, seed0+uint64(i), e.Phrase, e.Offset.Round(10*time.Millisecond), e.Score))
		}
	}
}

// BenchmarkSpotterCorpus is the long measurement: every command phrase in 16 eSpeak NG
// renderings (4 voices x 2 rates x 2 pitches), alone and inside a sentence, and
// RPIQ_SPOTTER_NEG_MINUTES (default 30) one-minute passages of unrelated text read by 8 voices,
// from passages not used to choose the thresholds (RPIQ_SPOTTER_SEED, default 4000). go test -run ^$ -bench SpotterCorpus
// -benchtime 1x ./assist/trigger/
func BenchmarkSpotterCorpus(b *testing.B) {
	n := 30
	if v := os.Getenv("RPIQ_SPOTTER_NEG_MINUTES"); v != "" {
		fmt.Sscan(v, &n)
	}
	seed := uint64(4000) // passages 0-11, 1000-1019 and 2000-2019 were used to choose the settings
	if v := os.Getenv("RPIQ_SPOTTER_SEED"); v != "" {
		fmt.Sscan(v, &seed)
	}
	opts := SpotterOptions{}
	if v := os.Getenv("RPIQ_SPOTTER_PAUSE_MS"); v != "" { // try another pause rule
		var ms int
		fmt.Sscan(v, &ms)
		opts.Pause = time.Duration(ms) * time.Millisecond
	}
	for b.Loop() {
		var r corpusResult
		evalPositives(b, opts, positiveStyles(), &r)
		evalNegatives(b, opts, seed, n, &r)
		b.Logf("%s", r)
		var detail strings.Builder
		for _, m := range r.Misses {
			fmt.Fprintf(&detail, "missed %s\n", m)
		}
		for _, f := range append(r.PosFalse, r.NegFalse...) {
			fmt.Fprintf(&detail, "false: %s\n", f)
		}
		if path := os.Getenv("RPIQ_SPOTTER_REPORT"); path != "" { // b.Logf truncates long logs
			os.WriteFile(path, []byte(r.String()+"\n"+detail.String()), 0o644)
		} else {
			b.Logf("%s", detail.String())
		}
		b.ReportMetric(float64(r.AloneHits)/float64(r.Alone), "alone-detected")
		b.ReportMetric(float64(r.InSentenceHits)/float64(r.InSentence), "in-sentence-detected")
		b.ReportMetric(r.perTen(), "false/10min")
		b.ReportMetric(r.NegAudio.Minutes(), "unrelated-min")
	}
}

package trigger

import (
	"syscall"
	"testing"
	"time"

	"github.com/rpiq/rpiq/device/audio"
)

// BenchmarkSpotter measures keyphrase search speed: "xRT" is wall time per second of audio,
// "cpu-xRT" the process's CPU time (user + system) per second of audio.
func BenchmarkSpotter(b *testing.B) { benchSpotter(b, SpotterOptions{}) }

// BenchmarkSpotterNoWarp is BenchmarkSpotter with the usual decoder alone (one keyphrase
// search, the spotter before round 10).
func BenchmarkSpotterNoWarp(b *testing.B) {
	benchSpotter(b, SpotterOptions{noWarp: true, noTempo: true, noBent: true})
}

// BenchmarkSpotterNoTempo is BenchmarkSpotter with the usual and the warped decoder (the
// spotter of round 10).
func BenchmarkSpotterNoTempo(b *testing.B) {
	benchSpotter(b, SpotterOptions{noTempo: true, noBent: true})
}

// BenchmarkSpotterNoBent is BenchmarkSpotter without the bent decoder (the three keyphrase
// searches of round 11); BenchmarkSpotter runs all four.
func BenchmarkSpotterNoBent(b *testing.B) { benchSpotter(b, SpotterOptions{noBent: true}) }

func benchSpotter(b *testing.B, opt SpotterOptions) {
	s := newTestSpotter(b, opt)
	say := speak(b, "en-us", 160, "the weather is nice today, please read this for me")
	audioDur := say.Duration()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		spot(b, s, say)
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(per.Seconds()/audioDur.Seconds(), "xRT")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N)/audioDur.Seconds(), "cpu-xRT")
}

// BenchmarkDetectionDelay reports how long after the end of "read this" the event comes out
// (PocketSphinx's keyphrase delay plus the overlap hold), in milliseconds of audio.
func BenchmarkDetectionDelay(b *testing.B) {
	say := speak(b, "en-us", 150, "read this")
	lead := audio.Silence(SampleRate, 1, time.Second)
	stream, _ := audio.Concat(lead, say)
	voiceEnd := lead.Duration() + 500*time.Millisecond + say.Trim(1000).Duration()
	var delay time.Duration
	for b.Loop() {
		s := newTestSpotter(b, SpotterOptions{})
		var fed int
		found := false
		for i := 0; i < len(stream.Samples) && !found; i += 160 { // 10 ms chunks
			j := min(i+160, len(stream.Samples))
			evs, _ := s.Process(stream.Samples[i:j])
			fed = j
			found = len(evs) > 0
		}
		s.Close()
		if !found {
			b.Fatal("not detected")
		}
		delay = time.Duration(fed)*time.Second/SampleRate - voiceEnd
	}
	b.ReportMetric(float64(delay.Milliseconds()), "ms-after-speech")
}

// BenchmarkConfirmingPass measures the confirming pass on one island: "read this" (en-us, 150
// wpm, with speak's half second of silence either side) decoded with its phrase's grammar and
// with the phone loop; "xRT" is time per second of the island's audio.
func BenchmarkConfirmingPass(b *testing.B) {
	s := newTestSpotter(b, SpotterOptions{confirm: true})
	say := speak(b, "en-us", 150, "read this")
	for b.Loop() {
		if _, err := s.confirm.margin("read this", say.Samples); err != nil {
			b.Fatal(err)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(per.Seconds()/say.Duration().Seconds(), "xRT")
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

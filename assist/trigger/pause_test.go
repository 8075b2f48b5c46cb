package trigger

import (
	"math"
	"testing"
)

// The pause check on a synthetic signal: a tone (speech) with one 300 ms gap and one 60 ms gap,
// over a little noise.
func TestPauseBeforeAndAfter(t *testing.T) {
	l := newLevels()
	var pcm []int16
	add := func(ms int, loud bool) {
		for i := 0; i < ms*SampleRate/1000; i++ {
			v := 30 * math.Sin(float64(len(pcm))*0.37) // noise floor
			if loud {
				v += 8000 * math.Sin(float64(len(pcm))*2*math.Pi*220/SampleRate)
			}
			pcm = append(pcm, int16(v))
		}
	}
	add(2000, true) // frames 0-199: speech
	add(300, false) // 200-229: a pause
	add(1000, true) // 230-329: speech
	add(60, false)  // 330-335: a short gap between words
	add(1000, true) // 336-435
	l.add(pcm)
	for _, c := range []struct {
		name string
		got  bool
		want bool
	}{
		{"before speech after the 300 ms pause", l.pauseBefore(230, 15, 5), true},
		{"the same, start estimated 100 ms late", l.pauseBefore(240, 15, 25), true},
		{"after the 60 ms gap", l.pauseBefore(336, 15, 5), false},
		{"in the middle of speech", l.pauseBefore(100, 15, 25), false},
		{"at the start of the stream", l.pauseBefore(0, 15, 5), true},
		{"after speech that ends at the pause", l.pauseAfter(200, 15, 5), true},
		{"before the 60 ms gap", l.pauseAfter(330, 15, 5), false},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}

// The Poisson bounds the corpus benchmark reports, against the textbook values (one-sided 95%:
// 3.00 after no event, 4.74 after one, 6.30 after two).
func TestPoissonUpper(t *testing.T) {
	for k, want := range []float64{2.996, 4.744, 6.296} {
		if got := poissonUpper(k, 0.95); math.Abs(got-want) > 0.005 {
			t.Errorf("k=%d: %.3f, want %.3f", k, got, want)
		}
	}
}

// The island rule on a synthetic signal: 2 s of speech, a 300 ms pause, a 1 s word, a 60 ms
// gap, 1 s more, a 400 ms pause, a 500 ms word, a 400 ms pause, and speech that has not ended.
func TestIsland(t *testing.T) {
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
	add(2000, true) // frames 0-199
	add(300, false) // 200-229
	add(1000, true) // 230-329
	add(60, false)  // 330-335
	add(1000, true) // 336-435
	add(400, false) // 436-475
	add(500, true)  // 476-525: a word on its own
	add(400, false) // 526-565
	add(1000, true) // 566-665: still speaking
	l.add(pcm)
	for _, c := range []struct {
		name     string
		end, max int64
		from, to int64
		want     islandState
	}{
		{"the word on its own", 520, 110, 476, 526, islandClosed},
		{"its end placed in the pause after it", 540, 110, 476, 526, islandClosed},
		{"words joined by a 60 ms gap, allowed 2.5 s", 400, 250, 230, 436, islandClosed},
		{"the same, allowed 1.1 s", 400, 110, 0, 0, islandTooLong},
		{"from the start of the stream, allowed 2.5 s", 150, 250, 0, 200, islandClosed},
		{"speech not followed by a pause yet", 600, 250, 566, 666, islandOpen},
	} {
		from, to, st := l.island(c.end, 30, c.max)
		if st != c.want || st != islandTooLong && (from != c.from || to != c.to) {
			t.Errorf("%s: %d-%d %v, want %d-%d %v", c.name, from, to, st, c.from, c.to, c.want)
		}
	}
}

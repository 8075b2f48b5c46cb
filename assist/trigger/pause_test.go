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

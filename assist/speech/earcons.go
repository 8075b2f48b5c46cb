package speech

import (
	"math"
	"sync"
	"time"
)

// Earcon is a short tone. Each one accompanies words ("I'm listening" is not said, but every
// result, error and state change is): a user who cannot hear tones well misses nothing.
type Earcon int

const (
	Listening Earcon = iota // rising two-note chime: the command was heard
	Tick                    // soft short click, repeated while the engine works
	Error                   // falling low two-note tone: something went wrong (then the words)
)

// TickInterval is the pause between ticks while the assistant works.
const TickInterval = 700 * time.Millisecond

type note struct {
	freq float64
	dur  time.Duration
	amp  float64
}

var earconNotes = map[Earcon][]note{
	Listening: {{660, 70 * time.Millisecond, 0.35}, {990, 90 * time.Millisecond, 0.35}},
	Tick:      {{1800, 12 * time.Millisecond, 0.10}},
	Error:     {{440, 140 * time.Millisecond, 0.40}, {294, 220 * time.Millisecond, 0.40}},
}

var (
	earconMu    sync.Mutex
	earconCache = map[[3]int]PCM{}
)

// PCM renders the earcon at rate, scaled by volume (percent, as the voice).
func (e Earcon) PCM(rate, volume int) PCM {
	key := [3]int{int(e), rate, volume}
	earconMu.Lock()
	defer earconMu.Unlock()
	if p, ok := earconCache[key]; ok {
		return p
	}
	var out []int16
	gain := math.Min(2, float64(volume)/100)
	for _, n := range earconNotes[e] {
		out = append(out, tone(rate, n.freq, n.dur, n.amp*gain)...)
	}
	p := PCM{Rate: rate, Samples: out}
	earconCache[key] = p
	return p
}

// tone is a sine with 5 ms fades so it does not click.
func tone(rate int, freq float64, d time.Duration, amp float64) []int16 {
	n := int(int64(d) * int64(rate) / int64(time.Second))
	out := make([]int16, n)
	fade := max(1, rate/200)
	for i := range out {
		g := amp
		if i < fade {
			g *= float64(i) / float64(fade)
		}
		if n-1-i < fade {
			g *= float64(n-1-i) / float64(fade)
		}
		v := 32767 * g * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))
		out[i] = int16(math.Max(-32768, math.Min(32767, math.Round(v))))
	}
	return out
}

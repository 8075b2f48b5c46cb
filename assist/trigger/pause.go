package trigger

import (
	"math"
	"sort"
)

// levels keeps the loudness of the last two minutes of audio in 10 ms frames, so a detection can be
// checked for a pause before it: a command is said as a command, after a breath, while the same
// words inside running speech ("she told him to stop") run on from the word before. This one
// check removes most false alarms in read-aloud text (see docs/DESIGN.md for the numbers).
type levels struct {
	db      []float32 // ring of frame levels (dB), indexed by frame number mod len
	frames  int64     // frames completed
	partial float64   // sum of squares of the frame being filled
	n       int       // samples in it
}

const (
	frameSamples = SampleRate / 100
	levelFrames  = 120 * 100 // two minutes
)

func newLevels() *levels { return &levels{db: make([]float32, levelFrames)} }

func (l *levels) add(samples []int16) {
	for _, v := range samples {
		x := float64(v)
		l.partial += x * x
		l.n++
		if l.n == frameSamples {
			l.db[l.frames%levelFrames] = float32(10 * math.Log10(l.partial/frameSamples+1))
			l.frames++
			l.partial, l.n = 0, 0
		}
	}
}

// at is frame f's level; frames before the stream began are silence (0 dB).
func (l *levels) at(f int64) float32 {
	if f < 0 || f >= l.frames || l.frames-f > levelFrames {
		return 0
	}
	return l.db[f%levelFrames]
}

// pauseAfter reports whether a pause of at least minFrames frames begins within [end-slack,
// end+minFrames/2] frames (the end is known to within PocketSphinx's delay).
func (l *levels) pauseAfter(end, minFrames, slack int64) bool {
	quiet := l.quietLevel()
	run := int64(0)
	for f := end - slack; f < end+minFrames/2+minFrames && f < l.frames; f++ {
		if l.at(f) <= quiet {
			run++
			if run >= minFrames {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// quietLevel is the loudness below which a frame counts as a pause: the floor + a quarter of
// the range between the floor (10th percentile of the last 10 s) and the speech level (90th).
func (l *levels) quietLevel() float32 {
	lo := max(l.frames-1000, 0)
	var recent []float64
	for f := lo; f < l.frames; f++ {
		recent = append(recent, float64(l.at(f)))
	}
	if len(recent) == 0 {
		return 0
	}
	sort.Float64s(recent)
	floor := recent[len(recent)/10]
	speech := recent[len(recent)*9/10]
	return float32(floor + (speech-floor)/4)
}

// pauseBefore reports whether a pause of at least minFrames frames ends within [start-slack,
// start+slack] frames (see quietLevel).
func (l *levels) pauseBefore(start, minFrames, slack int64) bool {
	if l.frames == 0 {
		return true
	}
	quiet := l.quietLevel()
	run := int64(0)
	for f := start - slack - minFrames; f <= start+slack; f++ {
		if l.at(f) <= quiet {
			run++
			if run >= minFrames && f >= start-slack {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

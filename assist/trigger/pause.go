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

// anchorSlack is how far (in frames) before a detection's end the words may have ended.
const anchorSlack = 60

// islandState says what island found.
type islandState int

const (
	islandOpen    islandState = iota // the speech has not been followed by a pause yet
	islandClosed                     // bounded by pauses on both sides, within the length
	islandTooLong                    // no pause within maxFrames: running speech
)

// island finds the stretch of speech around a detection that ends at frame end (PocketSphinx's
// end, known only to within its delay): from the end of the last pause of at least minFrames
// before it to the start of the first such pause after it. A command said as a command is an
// island of its own; the same words inside running speech are part of a longer one. The
// detection's own start and end are not used as the bounds: PocketSphinx's keyphrase spans
// are often shorter than the words and placed early, and a pause check at them missed commands.
func (l *levels) island(end, minFrames, maxFrames int64) (from, to int64, st islandState) {
	quiet := l.quietLevel()
	end = min(end, l.frames-1)
	// Anchor on speech: an end placed in the pause after the words moves back onto them
	// (PocketSphinx's end was up to 0.5 s after the words on eSpeak voices).
	a := end
	for a > end-anchorSlack && a >= 0 && l.at(a) <= quiet {
		a--
	}
	if a < 0 || l.at(a) <= quiet {
		return 0, 0, islandTooLong // nothing loud near the detection
	}
	run := int64(0)
	from = -1
	for f := a; f >= a-maxFrames-minFrames; f-- {
		if f < 0 || l.at(f) <= quiet {
			run++
			if run >= minFrames || f < 0 {
				from = f + run
				break
			}
		} else {
			run = 0
		}
	}
	if from < 0 || a-from > maxFrames {
		return 0, 0, islandTooLong
	}
	run = 0
	for f := a + 1; f < l.frames; f++ {
		if l.at(f) <= quiet {
			run++
			if run >= minFrames {
				to = f - run + 1
				if to-from > maxFrames {
					return from, to, islandTooLong
				}
				return from, to, islandClosed
			}
		} else {
			run = 0
			if f-from > maxFrames {
				return from, f, islandTooLong
			}
		}
	}
	return from, l.frames, islandOpen
}

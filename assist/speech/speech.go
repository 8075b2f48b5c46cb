// Package speech is the assistant's voice: text-to-speech (eSpeak NG), a queue that speaks each
// sentence of a streamed answer as soon as it is complete, barge-in, a history for "repeat", and
// earcons (short tones that accompany, never replace, spoken words).
//
// It does not open sound devices itself: it hands mono PCM to a Sink (the speaker, a WAV file, a
// test recorder), so it runs headless and without cgo.
package speech

import (
	"context"
	"fmt"
	"time"
)

// PCM is mono signed 16-bit audio.
type PCM struct {
	Rate    int
	Samples []int16
}

// Duration is how long the samples last.
func (p PCM) Duration() time.Duration {
	if p.Rate <= 0 {
		return 0
	}
	return time.Duration(int64(len(p.Samples)) * int64(time.Second) / int64(p.Rate))
}

// Sink plays PCM. Play blocks until the sound has been handed to the device or ctx is done; it
// must return soon after ctx is cancelled (barge-in), which is how speech is silenced.
type Sink interface {
	Play(ctx context.Context, p PCM) error
}

// Synthesizer turns text into PCM at SampleRate, handing chunks to chunk as they are made.
type Synthesizer interface {
	SampleRate() int
	Synthesize(ctx context.Context, text string, v Voice, chunk func([]int16) bool) error
}

// Voice is how the assistant speaks.
type Voice struct {
	Name    string // eSpeak NG voice ("en", "en-us", "en+f3"); empty: "en"
	RateWPM int    // 80..450 words per minute
	Pitch   int    // 0..99
	Volume  int    // 0..200 percent
}

// DefaultVoice is eSpeak NG's normal voice.
var DefaultVoice = Voice{Name: "en", RateWPM: 175, Pitch: 50, Volume: 100}

// Rate limits, from eSpeak NG (speak_lib.h espeakRATE_MINIMUM/MAXIMUM).
const (
	MinRate = 80
	MaxRate = 450
)

// Validate checks the ranges, so a bad value is an error rather than eSpeak's silent clamping.
func (v Voice) Validate() error {
	switch {
	case v.RateWPM < MinRate || v.RateWPM > MaxRate:
		return fmt.Errorf("speech: rate %d words per minute is outside %d..%d", v.RateWPM, MinRate, MaxRate)
	case v.Pitch < 0 || v.Pitch > 99:
		return fmt.Errorf("speech: pitch %d is outside 0..99", v.Pitch)
	case v.Volume < 0 || v.Volume > 200:
		return fmt.Errorf("speech: volume %d is outside 0..200", v.Volume)
	}
	return nil
}

// Adjusted returns v one step faster/slower/louder/quieter (the voice commands), within limits.
func (v Voice) Adjusted(command string) Voice {
	switch command {
	case "faster":
		v.RateWPM = min(MaxRate, v.RateWPM+25)
	case "slower":
		v.RateWPM = max(MinRate, v.RateWPM-25)
	case "louder":
		v.Volume = min(200, v.Volume+20)
	case "quieter":
		v.Volume = max(10, v.Volume-20) // never down to silence by voice: the user could not hear "louder" confirmed
	}
	return v
}

// SynthesizeAll returns the whole PCM of text.
func SynthesizeAll(ctx context.Context, s Synthesizer, text string, v Voice) (PCM, error) {
	out := PCM{Rate: s.SampleRate()}
	err := s.Synthesize(ctx, text, v, func(c []int16) bool {
		out.Samples = append(out.Samples, c...)
		return true
	})
	return out, err
}

package audio

import (
	"fmt"
	"math"
	"time"
)

// PCM is a block of signed 16-bit samples. With more than one channel the samples are
// interleaved (left, right, left, ...).
type PCM struct {
	Rate     int // samples per second, per channel
	Channels int // 1 for mono
	Samples  []int16
}

// Frames returns the number of sample frames (samples per channel).
func (p *PCM) Frames() int {
	if p == nil || p.Channels <= 0 {
		return 0
	}
	return len(p.Samples) / p.Channels
}

// Duration returns how long the samples last when played.
func (p *PCM) Duration() time.Duration {
	if p == nil || p.Rate <= 0 {
		return 0
	}
	return time.Duration(int64(p.Frames()) * int64(time.Second) / int64(p.Rate))
}

func (p *PCM) validate() error {
	if p == nil {
		return fmt.Errorf("audio: no samples (nil PCM)")
	}
	if p.Rate < 1000 || p.Rate > 384000 {
		return fmt.Errorf("audio: sample rate %d Hz is outside 1000..384000", p.Rate)
	}
	if p.Channels < 1 || p.Channels > 8 {
		return fmt.Errorf("audio: channel count %d is outside 1..8", p.Channels)
	}
	if len(p.Samples)%p.Channels != 0 {
		return fmt.Errorf("audio: %d samples is not a whole number of %d-channel frames", len(p.Samples), p.Channels)
	}
	return nil
}

// Mono returns the samples mixed down to one channel (the mean of the channels). A mono PCM is
// returned as it is.
func (p *PCM) Mono() *PCM {
	if p.Channels == 1 {
		return p
	}
	n := p.Frames()
	out := make([]int16, n)
	for i := 0; i < n; i++ {
		sum := 0
		for c := 0; c < p.Channels; c++ {
			sum += int(p.Samples[i*p.Channels+c])
		}
		out[i] = int16(sum / p.Channels)
	}
	return &PCM{Rate: p.Rate, Channels: 1, Samples: out}
}

// Channelled returns the samples with the given channel count: mono is copied to every channel,
// more channels are first mixed down to mono.
func (p *PCM) Channelled(channels int) *PCM {
	if p.Channels == channels {
		return p
	}
	m := p.Mono()
	if channels == 1 {
		return m
	}
	out := make([]int16, len(m.Samples)*channels)
	for i, s := range m.Samples {
		for c := 0; c < channels; c++ {
			out[i*channels+c] = s
		}
	}
	return &PCM{Rate: p.Rate, Channels: channels, Samples: out}
}

// Silence returns d of digital silence.
func Silence(rate, channels int, d time.Duration) *PCM {
	n := int(int64(d) * int64(rate) / int64(time.Second))
	return &PCM{Rate: rate, Channels: channels, Samples: make([]int16, n*channels)}
}

// Tone returns a mono sine tone of the given frequency, length and amplitude (0..1), with 5 ms
// fades at both ends so it does not click. Earcons are made of these.
func Tone(rate int, freq float64, d time.Duration, amplitude float64) *PCM {
	n := int(int64(d) * int64(rate) / int64(time.Second))
	out := make([]int16, n)
	fade := rate / 200
	for i := range out {
		g := amplitude
		if i < fade {
			g *= float64(i) / float64(fade)
		}
		if n-1-i < fade {
			g *= float64(n-1-i) / float64(fade)
		}
		out[i] = int16(math.Round(32767 * g * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return &PCM{Rate: rate, Channels: 1, Samples: out}
}

// Concat joins blocks of the same rate and channel count.
func Concat(parts ...*PCM) (*PCM, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("audio: nothing to join")
	}
	out := &PCM{Rate: parts[0].Rate, Channels: parts[0].Channels}
	for i, p := range parts {
		if p.Rate != out.Rate || p.Channels != out.Channels {
			return nil, fmt.Errorf("audio: part %d is %d Hz x%d, expected %d Hz x%d", i, p.Rate, p.Channels, out.Rate, out.Channels)
		}
		out.Samples = append(out.Samples, p.Samples...)
	}
	return out, nil
}

// Peak returns the largest absolute sample value.
func (p *PCM) Peak() int {
	peak := 0
	for _, s := range p.Samples {
		v := int(s)
		if v < 0 {
			v = -v
		}
		if v > peak {
			peak = v
		}
	}
	return peak
}

// Trim returns the part between the first and the last sample louder than threshold (absolute
// value), or an empty PCM when there is none. It strips the silence devices add around sound.
func (p *PCM) Trim(threshold int) *PCM {
	ch := p.Channels
	first, last := -1, -1
	for i, s := range p.Samples {
		v := int(s)
		if v < 0 {
			v = -v
		}
		if v > threshold {
			if first < 0 {
				first = i / ch
			}
			last = i / ch
		}
	}
	if first < 0 {
		return &PCM{Rate: p.Rate, Channels: ch}
	}
	return &PCM{Rate: p.Rate, Channels: ch, Samples: p.Samples[first*ch : (last+1)*ch]}
}

package audio

import (
	"fmt"
	"math"
)

// Resampling is band-limited interpolation with a Kaiser-windowed sinc (Smith's method). The
// kernel is tabulated once per ratio and read with linear interpolation, which keeps the error
// below the 16-bit noise floor at a fraction of the cost of evaluating sin per tap.
const (
	resampleZeroCrossings = 16  // kernel half-width, in zero crossings of the low-pass sinc
	resampleTableSteps    = 512 // table entries per zero crossing
	resampleKaiserBeta    = 8.6 // ~ -90 dB stop band
	resampleRolloff       = 0.95
)

// Resample converts p to the given sample rate. Every channel is filtered separately; the cutoff
// sits just below the lower of the two Nyquist frequencies, so down-sampling does not alias
// (eSpeak NG's 22050 Hz to the recogniser's 16000 Hz, for example).
func Resample(p *PCM, rate int) (*PCM, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if rate < 1000 || rate > 384000 {
		return nil, fmt.Errorf("audio: target sample rate %d Hz is outside 1000..384000", rate)
	}
	if rate == p.Rate {
		return &PCM{Rate: rate, Channels: p.Channels, Samples: append([]int16(nil), p.Samples...)}, nil
	}
	k := newSincKernel(p.Rate, rate)
	ch := p.Channels
	inFrames := p.Frames()
	outFrames := int(int64(inFrames) * int64(rate) / int64(p.Rate))
	out := make([]int16, outFrames*ch)
	step := float64(p.Rate) / float64(rate)
	for j := 0; j < outFrames; j++ {
		x := float64(j) * step // position in input frames
		for c := 0; c < ch; c++ {
			out[j*ch+c] = clip16(k.at(p.Samples, ch, c, inFrames, x))
		}
	}
	return &PCM{Rate: rate, Channels: ch, Samples: out}, nil
}

// sincKernel holds the tabulated low-pass kernel for one conversion ratio.
type sincKernel struct {
	scale float64   // min(1, out/in): stretches the kernel when down-sampling
	gain  float64   // rolloff * scale: keeps unity gain at DC
	half  float64   // half-width in input samples
	table []float64 // kernel at t = i / resampleTableSteps zero crossings, i >= 0
}

func newSincKernel(inRate, outRate int) *sincKernel {
	scale := math.Min(1, float64(outRate)/float64(inRate))
	k := &sincKernel{scale: scale, gain: resampleRolloff * scale}
	k.half = resampleZeroCrossings / (resampleRolloff * scale)
	n := resampleZeroCrossings*resampleTableSteps + 2
	k.table = make([]float64, n)
	for i := range k.table {
		t := float64(i) / resampleTableSteps // in zero crossings
		k.table[i] = sincWindowed(t)
	}
	return k
}

// sincWindowed is the prototype kernel at t zero crossings from its centre.
func sincWindowed(t float64) float64 {
	if t >= resampleZeroCrossings {
		return 0
	}
	s := 1.0
	if t != 0 {
		s = math.Sin(math.Pi*t) / (math.Pi * t)
	}
	r := t / resampleZeroCrossings
	return s * bessel0(resampleKaiserBeta*math.Sqrt(1-r*r)) / bessel0(resampleKaiserBeta)
}

// at returns the interpolated value of channel c at input position x (in frames).
func (k *sincKernel) at(s []int16, ch, c, frames int, x float64) float64 {
	lo := int(math.Ceil(x - k.half))
	hi := int(math.Floor(x + k.half))
	if lo < 0 {
		lo = 0
	}
	if hi > frames-1 {
		hi = frames - 1
	}
	perSample := k.gain * resampleTableSteps // table steps per input sample of distance
	sum := 0.0
	for i := lo; i <= hi; i++ {
		d := math.Abs(x-float64(i)) * perSample
		idx := int(d)
		if idx >= len(k.table)-1 {
			continue
		}
		f := d - float64(idx)
		w := k.table[idx] + f*(k.table[idx+1]-k.table[idx])
		sum += w * float64(s[i*ch+c])
	}
	return sum * k.gain
}

// bessel0 is the modified Bessel function of the first kind, order 0 (series expansion).
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / 2) / float64(k)
		sum += term * term
		if term*term < sum*1e-17 {
			break
		}
	}
	return sum
}

func clip16(v float64) int16 {
	v = math.Round(v)
	if v > 32767 {
		return 32767
	}
	if v < -32768 {
		return -32768
	}
	return int16(v)
}

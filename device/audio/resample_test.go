package audio

import (
	"math"
	"math/rand"
	"testing"
	"time"
)

// naiveResample evaluates the same band-limited interpolation directly in float64, with the
// kernel computed exactly at every tap (no table): the reference for the tabulated version.
func naiveResample(in []float64, inRate, outRate int) []float64 {
	scale := math.Min(1, float64(outRate)/float64(inRate))
	gain := resampleRolloff * scale
	half := resampleZeroCrossings / gain
	n := len(in) * outRate / inRate
	out := make([]float64, n)
	for j := range out {
		x := float64(j) * float64(inRate) / float64(outRate)
		sum := 0.0
		for i := range in {
			d := math.Abs(x - float64(i))
			if d > half {
				continue
			}
			sum += sincWindowed(d*gain) * in[i]
		}
		out[j] = sum * gain
	}
	return out
}

func TestResampleMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, rates := range [][2]int{{22050, 16000}, {16000, 22050}, {48000, 16000}, {8000, 44100}} {
		in := make([]int16, 700)
		fin := make([]float64, len(in))
		for i := range in {
			in[i] = int16(rng.Intn(20000) - 10000)
			fin[i] = float64(in[i])
		}
		got, err := Resample(&PCM{Rate: rates[0], Channels: 1, Samples: in}, rates[1])
		if err != nil {
			t.Fatal(err)
		}
		want := naiveResample(fin, rates[0], rates[1])
		if len(got.Samples) != len(want) {
			t.Fatalf("%v: %d samples, want %d", rates, len(got.Samples), len(want))
		}
		for i := range want {
			if d := math.Abs(float64(got.Samples[i]) - want[i]); d > 1.5 {
				t.Fatalf("%v sample %d: %d, reference %.2f", rates, i, got.Samples[i], want[i])
			}
		}
	}
}

// TestResampleSine checks the signal itself: a 1 kHz tone stays a 1 kHz tone of the same
// amplitude, and a tone above the new Nyquist frequency is removed rather than aliased.
func TestResampleSine(t *testing.T) {
	const inRate, outRate = 22050, 16000
	tone := func(f float64) *PCM {
		p := &PCM{Rate: inRate, Channels: 1, Samples: make([]int16, inRate)}
		for i := range p.Samples {
			p.Samples[i] = int16(math.Round(10000 * math.Sin(2*math.Pi*f*float64(i)/inRate)))
		}
		return p
	}
	got, err := Resample(tone(1000), outRate)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := 200; i < len(got.Samples)-200; i++ { // away from the edges
		want := 10000 * math.Sin(2*math.Pi*1000*float64(i)/outRate)
		worst = math.Max(worst, math.Abs(float64(got.Samples[i])-want))
	}
	if worst > 20 { // -54 dB relative to the tone
		t.Errorf("1 kHz tone: worst error %.1f of 10000", worst)
	}
	alias, err := Resample(tone(10000), outRate) // 10 kHz > 8 kHz Nyquist: would alias to 6 kHz
	if err != nil {
		t.Fatal(err)
	}
	if p := alias.Trim(0); true {
		peak := 0
		for _, s := range p.Samples[200 : len(p.Samples)-200] {
			peak = max(peak, int(math.Abs(float64(s))))
		}
		if peak > 100 {
			t.Errorf("10 kHz tone survived down-sampling to 16 kHz with peak %d of 10000", peak)
		}
	}
}

func TestResampleStereoAndEdges(t *testing.T) {
	p := &PCM{Rate: 16000, Channels: 2, Samples: make([]int16, 2*1600)}
	for i := 0; i < 1600; i++ {
		p.Samples[2*i] = 5000
		p.Samples[2*i+1] = -5000
	}
	q, err := Resample(p, 48000)
	if err != nil {
		t.Fatal(err)
	}
	if q.Channels != 2 || q.Frames() != 4800 || q.Duration() != 100*time.Millisecond {
		t.Fatalf("got %d frames x%d", q.Frames(), q.Channels)
	}
	mid := 2400
	if l, r := q.Samples[2*mid], q.Samples[2*mid+1]; l < 4990 || l > 5010 || r > -4990 || r < -5010 {
		t.Errorf("channels mixed or gain wrong: %d %d", l, r)
	}
	if _, err := Resample(&PCM{Rate: 16000, Channels: 1}, 10); err == nil {
		t.Error("accepted a 10 Hz target")
	}
	if _, err := Resample(&PCM{Rate: 16000, Channels: 2, Samples: make([]int16, 3)}, 8000); err == nil {
		t.Error("accepted a partial frame")
	}
	same, _ := Resample(p, 16000)
	if !equal16(same.Samples, p.Samples) {
		t.Error("same-rate resample changed the samples")
	}
}

func TestPCMHelpers(t *testing.T) {
	st := &PCM{Rate: 8000, Channels: 2, Samples: []int16{100, 300, -100, -300}}
	m := st.Mono()
	if !equal16(m.Samples, []int16{200, -200}) {
		t.Errorf("mono %v", m.Samples)
	}
	if s := m.Channelled(2); !equal16(s.Samples, []int16{200, 200, -200, -200}) {
		t.Errorf("stereo %v", s.Samples)
	}
	tone := Tone(16000, 440, 100*time.Millisecond, 0.5)
	if tone.Frames() != 1600 || tone.Peak() < 16000 || tone.Peak() > 16384 || tone.Samples[0] != 0 {
		t.Errorf("tone: %d frames, peak %d, first %d", tone.Frames(), tone.Peak(), tone.Samples[0])
	}
	padded, _ := Concat(Silence(16000, 1, 50*time.Millisecond), tone, Silence(16000, 1, 50*time.Millisecond))
	if tr := padded.Trim(10); tr.Frames() > tone.Frames() || tr.Frames() < tone.Frames()-40 {
		t.Errorf("trim kept %d frames of %d", tr.Frames(), tone.Frames())
	}
	if _, err := Concat(tone, st); err == nil {
		t.Error("joined different formats")
	}
}

func BenchmarkResample22050To16000(b *testing.B) {
	p := Tone(22050, 440, time.Second, 0.5)
	b.SetBytes(int64(2 * len(p.Samples)))
	for b.Loop() {
		Resample(p, 16000)
	}
}

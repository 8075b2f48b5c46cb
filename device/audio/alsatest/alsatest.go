// Package alsatest stands in for a sound card in tests: it writes an .asoundrc whose default
// device records from a raw file (a WAV fed as the microphone) and plays into a raw file (what
// the speaker said), and points $HOME at it. ALSA reads ~/.asoundrc the first time a process
// opens a device, so call Setup before the first microphone or speaker is opened in the process
// (or run the code under test in a child process with Env).
//
// The ALSA null and file devices are not paced: they take and give samples as fast as the CPU
// goes. audio.Microphone paces capture to real time itself; the speaker file fills faster than
// real time, which is harmless because audio.Speaker suspends output when idle.
package alsatest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rpiq/rpiq/device/audio"
)

// Options says what the fake sound card does.
type Options struct {
	// Mic is what the microphone hears; it is resampled to MicRate mono. Nil means silence.
	Mic *audio.PCM
	// MicRate is the capture rate the code under test asks for; default 16000.
	MicRate int
	// MicTrail is silence appended to Mic; default 5 s. After the file ends the ALSA file plugin
	// repeats its last buffer, so the trail must outlast what the test reads.
	MicTrail time.Duration
	// NoCard makes the default device a card that does not exist: every open fails as on a
	// machine without a sound card.
	NoCard bool
}

// Fake is a configured fake sound card.
type Fake struct {
	Dir         string // the $HOME holding .asoundrc
	Config      string // path of .asoundrc
	MicFile     string // raw S16_LE mono samples the microphone returns
	SpeakerFile string // raw FLOAT_LE samples oto played (oto always writes 32-bit float)
}

// Write creates the fake card's files in dir without touching the environment.
func Write(dir string, opts Options) (*Fake, error) {
	f := &Fake{
		Dir:         dir,
		Config:      filepath.Join(dir, ".asoundrc"),
		MicFile:     filepath.Join(dir, "mic.raw"),
		SpeakerFile: filepath.Join(dir, "speaker.raw"),
	}
	if opts.MicRate == 0 {
		opts.MicRate = 16000
	}
	if opts.MicTrail == 0 {
		opts.MicTrail = 5 * time.Second
	}
	mic := audio.Silence(opts.MicRate, 1, 0)
	if opts.Mic != nil {
		m, err := audio.Resample(opts.Mic.Mono(), opts.MicRate)
		if err != nil {
			return nil, fmt.Errorf("alsatest: microphone audio: %w", err)
		}
		mic = m
	}
	mic.Samples = append(mic.Samples, audio.Silence(opts.MicRate, 1, opts.MicTrail).Samples...)
	raw := make([]byte, 2*len(mic.Samples))
	for i, s := range mic.Samples {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(s))
	}
	if err := os.WriteFile(f.MicFile, raw, 0o644); err != nil {
		return nil, fmt.Errorf("alsatest: %w", err)
	}
	if err := os.WriteFile(f.SpeakerFile, nil, 0o644); err != nil {
		return nil, fmt.Errorf("alsatest: %w", err)
	}
	if err := os.WriteFile(f.Config, []byte(config(f, opts)), 0o644); err != nil {
		return nil, fmt.Errorf("alsatest: %w", err)
	}
	return f, nil
}

// config is the .asoundrc: an asymmetric default device whose playback side writes a file and
// whose capture side reads one, both over the null device.
func config(f *Fake, opts Options) string {
	if opts.NoCard {
		return "pcm.!default { type hw; card 31 }\nctl.!default { type hw; card 31 }\n"
	}
	return fmt.Sprintf(`pcm.!default {
	type asym
	playback.pcm "rpiq_speaker"
	capture.pcm "rpiq_mic"
}
pcm.rpiq_speaker {
	type file
	slave.pcm "null"
	file %q
	format "raw"
}
pcm.rpiq_mic {
	type file
	slave.pcm "null"
	file "/dev/null"
	infile %q
	format "raw"
}
ctl.!default { type hw; card 31 }
`, f.SpeakerFile, f.MicFile)
}

// Setup writes the fake card into a temporary folder and sets $HOME to it for the test.
func Setup(t testing.TB, opts Options) *Fake {
	t.Helper()
	f, err := Write(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", f.Dir)
	return f
}

// Env returns the environment for a child process using the fake card.
func (f *Fake) Env() []string {
	return append(os.Environ(), "HOME="+f.Dir)
}

// Played returns what was played so far, converted from the file's 32-bit float samples to
// 16-bit PCM of the given rate and channel count (those the speaker was opened with).
func (f *Fake) Played(rate, channels int) (*audio.PCM, error) {
	b, err := os.ReadFile(f.SpeakerFile)
	if err != nil {
		return nil, fmt.Errorf("alsatest: %w", err)
	}
	n := len(b) / 4 / channels * channels
	out := make([]int16, n)
	for i := 0; i < n; i++ {
		v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		x := math.Round(float64(v) * 32767)
		switch {
		case math.IsNaN(x):
			x = 0
		case x > 32767:
			x = 32767
		case x < -32768:
			x = -32768
		}
		out[i] = int16(x)
	}
	return &audio.PCM{Rate: rate, Channels: channels, Samples: out}, nil
}

package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/hajimehoshi/oto/v2"
)

// SpeakerOptions configures the Speaker. The zero value is 22050 Hz mono (eSpeak NG's native
// rate, so speech needs no resampling) with a 40 ms device buffer.
type SpeakerOptions struct {
	SampleRate int
	Channels   int
	// Buffer is the device buffer. It bounds barge-in latency: sound already handed to the device
	// still plays after Stop. Too small a buffer crackles on a busy CPU.
	Buffer time.Duration
	// ReadyTimeout bounds the wait for the device to open; default 5 s.
	ReadyTimeout time.Duration
}

// Speaker plays PCM through oto. oto keeps a single output context per process, so there is one
// Speaker: OpenSpeaker returns the same one for the same options. When idle the context is
// suspended, which stops the device loop (no CPU spent mixing silence, and an ALSA file device
// stops growing).
type Speaker struct {
	opts   SpeakerOptions
	ctx    *oto.Context
	resume func() error // ctx.Resume; a test replaces it to simulate a stalled device

	playMu sync.Mutex // one Play at a time

	mu      sync.Mutex
	volume  float64
	current oto.Player
	stop    chan struct{} // closed by Stop to interrupt the current Play
	active  int           // Plays in progress (they hold the context resumed)
}

var (
	speakerMu  sync.Mutex
	speaker    *Speaker
	speakerErr error // a failed open is remembered: oto cannot retry in the same process
)

// OpenSpeaker opens the output device, waiting until it is ready. With no sound card the error
// wraps ErrNoSoundCard: oto's NewContext succeeds even then and reports the failure only through
// the context's Err, which is checked here.
func OpenSpeaker(opts SpeakerOptions) (*Speaker, error) {
	if opts.SampleRate == 0 {
		opts.SampleRate = 22050
	}
	if opts.Channels == 0 {
		opts.Channels = 1
	}
	if opts.Buffer == 0 {
		opts.Buffer = 40 * time.Millisecond
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 5 * time.Second
	}
	if opts.SampleRate < 8000 || opts.SampleRate > 192000 {
		return nil, fmt.Errorf("audio: speaker sample rate %d Hz is outside 8000..192000", opts.SampleRate)
	}
	if opts.Channels != 1 && opts.Channels != 2 {
		return nil, fmt.Errorf("audio: speaker channel count %d, expected 1 or 2", opts.Channels)
	}
	speakerMu.Lock()
	defer speakerMu.Unlock()
	if speakerErr != nil {
		return nil, speakerErr
	}
	if speaker != nil {
		if speaker.opts.SampleRate != opts.SampleRate || speaker.opts.Channels != opts.Channels {
			return nil, fmt.Errorf("audio: the speaker is already open at %d Hz x%d; oto allows one output per process (asked for %d Hz x%d)",
				speaker.opts.SampleRate, speaker.opts.Channels, opts.SampleRate, opts.Channels)
		}
		return speaker, nil
	}
	ctx, ready, err := oto.NewContextWithOptions(&oto.NewContextOptions{
		SampleRate:   opts.SampleRate,
		ChannelCount: opts.Channels,
		Format:       oto.FormatSignedInt16LE,
		BufferSize:   opts.Buffer,
	})
	if err != nil {
		speakerErr = &DeviceError{Device: "speaker", Kind: ErrNoSoundCard, Detail: err}
		return nil, speakerErr
	}
	select {
	case <-ready:
	case <-time.After(opts.ReadyTimeout):
		speakerErr = &DeviceError{Device: "speaker", Detail: fmt.Errorf("the device did not become ready within %v", opts.ReadyTimeout)}
		return nil, speakerErr
	}
	if err := ctx.Err(); err != nil {
		speakerErr = &DeviceError{Device: "speaker", Kind: ErrNoSoundCard, Detail: err}
		return nil, speakerErr
	}
	if err := ctx.Suspend(); err != nil {
		speakerErr = &DeviceError{Device: "speaker", Detail: err}
		return nil, speakerErr
	}
	speaker = &Speaker{opts: opts, ctx: ctx, resume: ctx.Resume, volume: 1}
	return speaker, nil
}

// SampleRate returns the device rate; Play resamples anything else to it.
func (s *Speaker) SampleRate() int { return s.opts.SampleRate }

// Channels returns the device channel count.
func (s *Speaker) Channels() int { return s.opts.Channels }

// Latency returns the device buffer: the most sound that can still come out after Stop.
func (s *Speaker) Latency() time.Duration { return s.opts.Buffer }

// Err reports a device failure (for example the card was unplugged), or nil.
func (s *Speaker) Err() error {
	if err := s.ctx.Err(); err != nil {
		return &DeviceError{Device: "speaker", Detail: err}
	}
	return nil
}

// SetVolume sets the gain (0..1) for the sound playing now and for later Plays.
func (s *Speaker) SetVolume(v float64) {
	if v < 0 {
		v = 0
	}
	if v > 1 {
		v = 1
	}
	s.mu.Lock()
	s.volume = v
	if s.current != nil {
		s.current.SetVolume(v)
	}
	s.mu.Unlock()
}

// Volume returns the gain set by SetVolume.
func (s *Speaker) Volume() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.volume
}

// Play plays p, converting its rate and channels to the device's, and returns when the device
// has taken the last sample. It returns ErrInterrupted if Stop was called, ctx.Err() if ctx
// ended, and an error if the device fails or stops taking audio (oto's players would otherwise
// report IsPlaying forever). Plays run one at a time; a second caller waits for the first.
func (s *Speaker) Play(ctx context.Context, p *PCM) error {
	if err := p.validate(); err != nil {
		return err
	}
	q := p.Channelled(s.opts.Channels)
	if q.Rate != s.opts.SampleRate {
		var err error
		if q, err = Resample(q, s.opts.SampleRate); err != nil {
			return err
		}
	}
	if len(q.Samples) == 0 {
		return nil
	}
	raw := make([]byte, 2*len(q.Samples))
	for i, v := range q.Samples {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
	}

	s.playMu.Lock()
	defer s.playMu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.Err(); err != nil {
		return err
	}
	stop := make(chan struct{})
	player := s.ctx.NewPlayer(bytes.NewReader(raw))
	s.mu.Lock()
	player.SetVolume(s.volume)
	s.current, s.stop = player, stop
	s.active++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.current, s.stop = nil, nil
		s.active--
		idle := s.active == 0
		s.mu.Unlock()
		player.Close()
		if idle {
			s.ctx.Suspend()
		}
	}()
	if err := s.resume(); err != nil {
		return &DeviceError{Device: "speaker", Detail: err}
	}
	player.Play()

	// Poll rather than trust IsPlaying alone: a dead device never finishes.
	started := time.Now()
	deadline := started.Add(q.Duration() + 2*time.Second + 4*s.opts.Buffer)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			player.Pause()
			return ErrInterrupted
		case <-ctx.Done():
			player.Pause()
			return ctx.Err()
		case <-tick.C:
		}
		if err := s.Err(); err != nil {
			return err
		}
		if err := player.Err(); err != nil {
			return &DeviceError{Device: "speaker", Detail: err}
		}
		if !player.IsPlaying() {
			select {
			case <-stop: // Stop paused the player just before closing stop
				return ErrInterrupted
			default:
				return nil
			}
		}
		if time.Now().After(deadline) {
			player.Pause()
			return &DeviceError{Device: "speaker", Detail: fmt.Errorf("the device stopped taking audio: %v of sound was not played within %v", q.Duration(), time.Since(started).Round(time.Millisecond))}
		}
	}
}

// Stop silences the sound playing now (barge-in): the current Play returns ErrInterrupted within
// a few milliseconds, and at most Latency of already-buffered sound still reaches the ear. It does
// nothing when nothing plays, and Plays still waiting for their turn are not affected (cancel
// their contexts to drop them).
func (s *Speaker) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		close(s.stop) // first, so Play never mistakes the pause for the end of the sound
		s.stop = nil
	}
	if s.current != nil {
		s.current.Pause() // the mixer stops taking this player's samples at its next period
	}
}

// Playing reports whether a Play is in progress.
func (s *Speaker) Playing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current != nil
}

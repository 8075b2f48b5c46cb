package speech

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/text/unicode/norm"
)

// Speaker speaks answers through a Sink. One utterance plays at a time: starting a new one, or
// Stop, interrupts the current one (barge-in). Sentences are synthesised one ahead of playback,
// so the pause between sentences is only the synthesis of the first.
type Speaker struct {
	synth Synthesizer
	sink  Sink

	mu      sync.Mutex
	voice   Voice
	earcons bool
	cur     *Utterance
	ticker  *ticker

	playMu sync.Mutex // the sink plays one thing at a time (speech, or an earcon)
}

// NewSpeaker speaks with synth into sink.
func NewSpeaker(synth Synthesizer, sink Sink, v Voice, earcons bool) *Speaker {
	return &Speaker{synth: synth, sink: sink, voice: v, earcons: earcons}
}

// SetVoice changes the voice for the next sentences.
func (s *Speaker) SetVoice(v Voice) {
	s.mu.Lock()
	s.voice = v
	s.mu.Unlock()
}

// Voice is the voice in use.
func (s *Speaker) Voice() Voice {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.voice
}

// SetEarcons turns the tones on or off.
func (s *Speaker) SetEarcons(on bool) {
	s.mu.Lock()
	s.earcons = on
	s.mu.Unlock()
}

// SampleRate is the rate of everything handed to the sink.
func (s *Speaker) SampleRate() int { return s.synth.SampleRate() }

// Utterance is one spoken answer, fed with streamed text.
type Utterance struct {
	s         *Speaker
	ctx       context.Context
	cancel    context.CancelFunc
	split     Splitter
	sentences chan string
	closed    bool
	done      chan struct{}
	err       error

	mu         sync.Mutex
	firstAudio time.Time
	spoken     []string
}

// Begin starts an utterance, silencing whatever is being spoken or ticked.
func (s *Speaker) Begin(ctx context.Context) *Utterance {
	s.Stop()
	ctx, cancel := context.WithCancel(ctx)
	u := &Utterance{s: s, ctx: ctx, cancel: cancel, sentences: make(chan string, 256), done: make(chan struct{})}
	s.mu.Lock()
	s.cur = u
	s.mu.Unlock()
	go u.run()
	return u
}

// Write adds streamed answer text; each completed sentence is queued for speech at once.
func (u *Utterance) Write(text string) {
	if u.closed {
		return
	}
	for _, sent := range u.split.Push(text) {
		u.queue(sent)
	}
}

func (u *Utterance) queue(sent string) {
	select {
	case u.sentences <- sent:
	case <-u.ctx.Done():
	}
}

// Close marks the end of the text and waits until it has been spoken or interrupted. It returns
// nil when interrupted by barge-in (that is not a failure), or the synthesis/playback error.
func (u *Utterance) Close() error {
	if !u.closed {
		u.closed = true
		if t := u.split.Flush(); t != "" {
			u.queue(t)
		}
		close(u.sentences)
	}
	<-u.done
	return u.err
}

// Cancel interrupts this utterance.
func (u *Utterance) Cancel() { u.cancel() }

// Done is closed when the utterance has finished or been interrupted.
func (u *Utterance) Done() <-chan struct{} { return u.done }

// FirstAudio is when the first sample of speech was handed to the sink (zero if none yet).
func (u *Utterance) FirstAudio() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.firstAudio
}

// Spoken lists the sentences handed to the synthesiser, in order.
func (u *Utterance) Spoken() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.spoken...)
}

func (u *Utterance) run() {
	defer close(u.done)
	defer u.cancel()
	pcms := make(chan PCM, 1) // one sentence synthesised ahead of playback
	synthErr := make(chan error, 1)
	go func() {
		defer close(pcms)
		for {
			var sent string
			select {
			case <-u.ctx.Done():
				return // Write selects on ctx too, so it never blocks on an abandoned channel
			case s, ok := <-u.sentences:
				if !ok {
					return
				}
				sent = s
			}
			u.mu.Lock()
			u.spoken = append(u.spoken, sent)
			u.mu.Unlock()
			// NFKC: ligatures ("ﬁ") and full-width forms from OCR are read as letters.
			p, err := SynthesizeAll(u.ctx, u.s.synth, norm.NFKC.String(sent), u.s.Voice())
			if err != nil {
				if u.ctx.Err() == nil {
					synthErr <- err
					u.cancel()
				}
				continue
			}
			select {
			case pcms <- p:
			case <-u.ctx.Done():
			}
		}
	}()
	for p := range pcms {
		if u.ctx.Err() != nil {
			continue
		}
		u.s.stopTicking()
		u.mu.Lock()
		if u.firstAudio.IsZero() {
			u.firstAudio = time.Now()
		}
		u.mu.Unlock()
		if err := u.s.play(u.ctx, p); err != nil && u.ctx.Err() == nil {
			u.err = err
			u.cancel()
		}
	}
	select {
	case err := <-synthErr:
		u.err = err
	default:
	}
}

func (s *Speaker) play(ctx context.Context, p PCM) error {
	s.playMu.Lock()
	defer s.playMu.Unlock()
	if ctx.Err() != nil {
		return nil
	}
	err := s.sink.Play(ctx, p)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Say speaks text and waits until it is spoken or interrupted.
func (s *Speaker) Say(ctx context.Context, text string) error {
	u := s.Begin(ctx)
	u.Write(text)
	return u.Close()
}

// Stop silences speech and ticking now and returns once the sink has been told to stop (barge-in).
func (s *Speaker) Stop() {
	s.mu.Lock()
	u := s.cur
	s.cur = nil
	s.mu.Unlock()
	s.stopTicking()
	if u != nil {
		u.cancel()
		<-u.done
	}
}

// Speaking reports whether an utterance is in progress.
func (s *Speaker) Speaking() bool {
	s.mu.Lock()
	u := s.cur
	s.mu.Unlock()
	if u == nil {
		return false
	}
	select {
	case <-u.done:
		return false
	default:
		return true
	}
}

// Earcon plays one of the tones (when earcons are on) and waits for it.
func (s *Speaker) Earcon(ctx context.Context, e Earcon) error {
	s.mu.Lock()
	on, vol := s.earcons, s.voice.Volume
	s.mu.Unlock()
	if !on {
		return nil
	}
	return s.play(ctx, e.PCM(s.SampleRate(), vol))
}

// StartWorking plays the soft repeating tick (the audio progress bar) until the first sentence
// of the next utterance starts, or Stop.
func (s *Speaker) StartWorking(ctx context.Context) {
	s.mu.Lock()
	on, vol := s.earcons, s.voice.Volume
	s.mu.Unlock()
	if !on {
		return
	}
	s.stopTicking()
	t := newTicker(ctx, s, Tick.PCM(s.SampleRate(), vol), TickInterval)
	s.mu.Lock()
	s.ticker = t
	s.mu.Unlock()
}

func (s *Speaker) stopTicking() {
	s.mu.Lock()
	t := s.ticker
	s.ticker = nil
	s.mu.Unlock()
	if t != nil {
		t.stop()
	}
}

type ticker struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newTicker(ctx context.Context, s *Speaker, tick PCM, every time.Duration) *ticker {
	ctx, cancel := context.WithCancel(ctx)
	t := &ticker{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		timer := time.NewTimer(every / 2) // the listening tone has just played: wait before ticking
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			if err := s.play(ctx, tick); err != nil {
				return
			}
			timer.Reset(every)
		}
	}()
	return t
}

func (t *ticker) stop() {
	t.cancel()
	<-t.done
}

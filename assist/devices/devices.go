// Package devices adapts the hardware packages (device/camera through gocv, device/audio through
// malgo and oto, which need cgo) to the assistant's small interfaces: a FrameSource, a speech
// Sink, a microphone for the voice trigger. Each adapter only converts types and turns device
// errors into words for the user.
package devices

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/device/audio"
	"github.com/rpiq/rpiq/device/camera"
)

// Camera is an assist.FrameSource over device/camera: a burst, the sharpest frame, judged.
type Camera struct {
	Cam   *camera.Camera
	Burst int

	mu             sync.Mutex
	capture, chose time.Duration
}

// OpenCamera opens the configured source lazily: a camera that is unplugged at start is
// connected on the first request (and the request says it is missing if it still is).
func OpenCamera(source string, width, height, burst int) (*Camera, error) {
	c, err := camera.Open(camera.Options{Source: source, Width: width, Height: height, Burst: burst, Lazy: true})
	if err != nil {
		return nil, err
	}
	return &Camera{Cam: c, Burst: burst}, nil
}

// Capture implements assist.FrameSource.
func (c *Camera) Capture(ctx context.Context) (image.Image, error) {
	t0 := time.Now()
	frames, err := c.Cam.Burst(ctx, c.Burst)
	t1 := time.Now()
	if err != nil {
		c.setStages(t1.Sub(t0), 0)
		return nil, CameraError(err)
	}
	best := camera.Sharpest(frames)
	qerr := camera.Assess(best, camera.Limits{})
	c.setStages(t1.Sub(t0), time.Since(t1))
	var qe *camera.QualityError
	if errors.As(qerr, &qe) && c.Cam.Source().Kind == camera.Still && (qe.Problem == camera.TooBright || qe.Problem == camera.TooBlurred) {
		qerr = nil // a scanned page is white and may be soft; nobody can re-aim a file: read it
	}
	if qerr != nil {
		return nil, CameraError(qerr)
	}
	return best, nil // in colour: the scene engine needs it; OCR takes the frame's own grey
}

func (c *Camera) setStages(capture, choose time.Duration) {
	c.mu.Lock()
	c.capture, c.chose = capture, choose
	c.mu.Unlock()
}

// LastStages implements assist.StageTimer.
func (c *Camera) LastStages() (capture, choose time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.capture, c.chose
}

// Close releases the camera.
func (c *Camera) Close() error { return c.Cam.Close() }

// CameraError gives a camera error the words to say.
func CameraError(err error) error {
	var qe *camera.QualityError
	switch {
	case errors.As(err, &qe):
		return &assist.SpokenError{Say: sentence(qe.Problem.String()) + " " + sentence(qe.Problem.Advice()), Err: err}
	case errors.Is(err, camera.ErrUnavailable):
		return &assist.SpokenError{Say: "The camera is not connected. Check its cable, then try again.", Err: err}
	case errors.Is(err, camera.ErrBadImage):
		return &assist.SpokenError{Say: "The picture cannot be read: the image file is damaged.", Err: err}
	case errors.Is(err, camera.ErrBadSource):
		return &assist.SpokenError{Say: "The camera setting is wrong. Run assist check.", Err: err}
	case errors.Is(err, context.Canceled):
		return err
	}
	return &assist.SpokenError{Say: "The camera failed. The details are in the log.", Err: err}
}

func sentence(s string) string {
	if s == "" {
		return ""
	}
	b := []byte(s)
	if b[0] >= 'a' && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	if b[len(b)-1] != '.' {
		b = append(b, '.')
	}
	return string(b)
}

// Speaker is a speech.Sink over the oto speaker.
type Speaker struct{ S *audio.Speaker }

// OpenSpeaker opens the sound card at the synthesiser's rate (no resampling of speech).
func OpenSpeaker(rate int) (*Speaker, error) {
	s, err := audio.OpenSpeaker(audio.SpeakerOptions{SampleRate: rate, Channels: 1})
	if err != nil {
		return nil, err
	}
	return &Speaker{S: s}, nil
}

// Play implements speech.Sink.
func (s *Speaker) Play(ctx context.Context, p speech.PCM) error {
	err := s.S.Play(ctx, &audio.PCM{Rate: p.Rate, Channels: 1, Samples: p.Samples})
	if errors.Is(err, audio.ErrInterrupted) {
		return context.Canceled
	}
	return err
}

// Latency is the device buffer: how long after Play takes a sample it reaches the ear.
func (s *Speaker) Latency() time.Duration { return s.S.Latency() }

// WAV is a speech.Sink that keeps everything and writes it as a WAV file (`assist ask --wav`,
// and the daemon on a machine without a sound card).
type WAV struct {
	speech.Recorder
}

// Write stores what was played in path (atomically).
func (w *WAV) Write(path string, rate int) error {
	p := w.PCM()
	if p.Rate == 0 {
		p.Rate = rate
	}
	if err := audio.WriteWAVFile(path, &audio.PCM{Rate: p.Rate, Channels: 1, Samples: p.Samples}); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

package audio

import (
	"errors"
	"fmt"
)

// ErrNoSoundCard means no usable sound device was found. The doctor reports it as "no sound card:
// install one, or use --wav"; errors.Is finds it inside a *DeviceError.
var ErrNoSoundCard = errors.New("no sound card was found")

// ErrInterrupted is returned by Speaker.Play when Stop cut the sound short (barge-in).
var ErrInterrupted = errors.New("playback was interrupted")

// ErrClosed is returned when a closed Microphone or Speaker is used.
var ErrClosed = errors.New("audio device is closed")

// DeviceError says which device failed and why, in words the doctor can print as they are.
type DeviceError struct {
	Device string // "microphone" or "speaker"
	Kind   error  // ErrNoSoundCard, or nil for other failures
	Detail error  // what the library said
}

func (e *DeviceError) Error() string {
	if e.Kind != nil {
		return fmt.Sprintf("audio: the %s cannot be opened: %v (%v)", e.Device, e.Kind, e.Detail)
	}
	return fmt.Sprintf("audio: the %s failed: %v", e.Device, e.Detail)
}

// Unwrap lets errors.Is see both the kind and the library's own error.
func (e *DeviceError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Detail != nil {
		errs = append(errs, e.Detail)
	}
	return errs
}

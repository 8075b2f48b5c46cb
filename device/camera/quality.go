package camera

import (
	"errors"
	"fmt"
)

// Problem is what is wrong with a picture, in words a blind user can act on.
type Problem int

const (
	Fine Problem = iota
	TooDark
	TooBright
	Empty // nothing in it: a lens cap, a wall, a uniform surface
	TooBlurred
)

var problemWords = [...]string{
	Fine:       "the picture is fine",
	TooDark:    "the picture is too dark",
	TooBright:  "the picture is too bright",
	Empty:      "the picture is empty",
	TooBlurred: "the picture is too blurred",
}

// String is the sentence to say: "the picture is too dark".
func (p Problem) String() string {
	if p < 0 || int(p) >= len(problemWords) {
		return fmt.Sprintf("camera.Problem(%d)", int(p))
	}
	return problemWords[p]
}

// Advice is a short hint to go with the problem.
func (p Problem) Advice() string {
	switch p {
	case TooDark:
		return "turn on a light or move closer to a window"
	case TooBright:
		return "turn away from the light"
	case Empty:
		return "check that nothing covers the camera and point it at the object"
	case TooBlurred:
		return "hold still, or move the object a little further away"
	}
	return ""
}

// Sentinel errors, one per problem, for errors.Is.
var (
	ErrTooDark    = errors.New(TooDark.String())
	ErrTooBright  = errors.New(TooBright.String())
	ErrEmpty      = errors.New(Empty.String())
	ErrTooBlurred = errors.New(TooBlurred.String())
)

func (p Problem) sentinel() error {
	switch p {
	case TooDark:
		return ErrTooDark
	case TooBright:
		return ErrTooBright
	case Empty:
		return ErrEmpty
	case TooBlurred:
		return ErrTooBlurred
	}
	return nil
}

// QualityError says a captured picture is not usable, and still carries it: a caller may try OCR
// anyway, or just speak Error().
type QualityError struct {
	Problem Problem
	Frame   *Frame
}

func (e *QualityError) Error() string { return e.Problem.String() }

// Unwrap returns the sentinel for the problem (ErrTooDark, ...).
func (e *QualityError) Unwrap() error { return e.Problem.sentinel() }

// Limits are the quality thresholds. Zero fields take the defaults.
type Limits struct {
	MinBrightness float64 // mean luma below this is too dark; default 40
	MaxBrightness float64 // mean luma above this is too bright; default 240
	MinContrast   float64 // luma standard deviation below this is empty; default 8
	// MinFocus: Focus (Laplacian variance over luma variance) below this is too blurred; default
	// 0.02. Sharp pictures measure 1 to 2.5; a Gaussian blur of 1.5 px on a 640x480 page about 0.08,
	// of 2.5 px about 0.013.
	MinFocus float64
	// MinSharpness, if set, is also an absolute floor on the Laplacian variance; default off.
	MinSharpness float64
}

func (l Limits) withDefaults() Limits {
	if l.MinBrightness == 0 {
		l.MinBrightness = 40
	}
	if l.MaxBrightness == 0 {
		l.MaxBrightness = 240
	}
	if l.MinContrast == 0 {
		l.MinContrast = 8
	}
	if l.MinFocus == 0 {
		l.MinFocus = 0.02
	}
	return l
}

// Judge returns the first problem of a measured frame, in the order dark, bright, empty, blurred
// (a dark picture is also flat and soft; "too dark" is the one to fix first).
func Judge(f *Frame, l Limits) Problem {
	l = l.withDefaults()
	switch {
	case f.Brightness < l.MinBrightness:
		return TooDark
	case f.Brightness > l.MaxBrightness:
		return TooBright
	case f.Contrast < l.MinContrast:
		return Empty
	case f.Focus() < l.MinFocus, f.Sharpness < l.MinSharpness:
		return TooBlurred
	}
	return Fine
}

// Assess returns nil for a usable frame, or a *QualityError.
func Assess(f *Frame, l Limits) error {
	if p := Judge(f, l); p != Fine {
		return &QualityError{Problem: p, Frame: f}
	}
	return nil
}

// Sharpest returns the frame with the highest Sharpness, or nil for none.
func Sharpest(frames []*Frame) *Frame {
	var best *Frame
	for _, f := range frames {
		if f != nil && (best == nil || f.Sharpness > best.Sharpness) {
			best = f
		}
	}
	return best
}

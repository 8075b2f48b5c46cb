package camera

import (
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // headers for DecodeImage's size check
	_ "image/jpeg" // (decoding itself is OpenCV's)
	_ "image/png"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"
	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/rpiq/rpiq/internal/imagebytes"
)

// ErrUnavailable means the camera (or the file standing in for it) cannot be opened or stopped
// giving pictures, even after reconnecting.
var ErrUnavailable = errors.New("the camera is not connected")

// ErrBadImage means a still image file exists but cannot be decoded.
var ErrBadImage = errors.New("the picture file cannot be read")

// MaxPixels bounds the size of a decoded still image (50 megapixels).
const MaxPixels = 50_000_000

// ErrClosed is returned after Close.
var ErrClosed = errors.New("the camera is closed")

// Options configures a Camera. Only Source is required.
type Options struct {
	Source string

	Width, Height int // asked of a live device; 0 keeps its default
	Burst         int // frames per Capture; default 5 (a still image gives one)
	Flush         int // stale frames dropped from a live source before a burst; default 2

	Limits Limits // picture quality thresholds

	// ReconnectTimeout is how long Capture keeps reopening a vanished live camera before it
	// returns ErrUnavailable; default 3 s. The wait between tries starts at 100 ms and doubles.
	ReconnectTimeout time.Duration
	// OpenTimeout bounds one attempt to open a source (a network stream can hang); default 10 s.
	OpenTimeout time.Duration
	// Lazy makes Open succeed when the camera is absent now; Capture connects later.
	Lazy bool
}

func (o Options) withDefaults() Options {
	if o.Burst <= 0 {
		o.Burst = 5
	}
	if o.Flush < 0 {
		o.Flush = 0
	} else if o.Flush == 0 {
		o.Flush = 2
	}
	if o.ReconnectTimeout <= 0 {
		o.ReconnectTimeout = 3 * time.Second
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 10 * time.Second
	}
	return o
}

// Camera captures pictures from one source. Its methods are safe for concurrent use; captures
// are serialised.
type Camera struct {
	src  Source
	opts Options

	mu       sync.Mutex
	vc       *gocv.VideoCapture // nil while disconnected or for a still image
	closed   bool
	reopened int // successful reconnects, for tests and logs
}

// Open parses the source and connects to it. Errors wrap ErrBadSource for a setting that cannot
// work and ErrUnavailable for a camera that is not there (unless Lazy).
func Open(opts Options) (*Camera, error) {
	src, err := ParseSource(opts.Source)
	if err != nil {
		return nil, err
	}
	c := &Camera{src: src, opts: opts.withDefaults()}
	if opts.Width < 0 || opts.Height < 0 || opts.Width > 16384 || opts.Height > 16384 {
		return nil, fmt.Errorf("%w: size %dx%d, expected 0..16384", ErrBadSource, opts.Width, opts.Height)
	}
	if src.Kind == Still {
		if _, err := os.Stat(src.Path); err != nil && !opts.Lazy {
			return nil, fmt.Errorf("camera: %s: %w (%v)", src, ErrUnavailable, err)
		}
		return c, nil
	}
	if src.Kind == Video {
		if _, err := os.Stat(src.Path); err != nil && !opts.Lazy {
			return nil, fmt.Errorf("camera: %s: %w (%v)", src, ErrUnavailable, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connect(); err != nil && !opts.Lazy {
		return nil, err
	}
	return c, nil
}

// Source returns the parsed source.
func (c *Camera) Source() Source { return c.src }

// Reconnects returns how many times a vanished camera was reopened.
func (c *Camera) Reconnects() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reopened
}

// Close releases the device. It is safe to call twice.
func (c *Camera) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.disconnect()
	return nil
}

// Capture takes a burst, keeps the sharpest frame and judges it. A usable frame comes back with
// a nil error; an unusable one comes back together with a *QualityError (errors.Is finds
// ErrTooDark and the others) so the caller can say why, or try it anyway.
func (c *Camera) Capture(ctx context.Context) (*Frame, error) {
	frames, err := c.Burst(ctx, c.opts.Burst)
	if err != nil {
		return nil, err
	}
	best := Sharpest(frames)
	if err := Assess(best, c.opts.Limits); err != nil {
		return best, err
	}
	return best, nil
}

// Burst returns up to n consecutive frames (one for a still image), each measured. On a live
// source it first drops Flush stale frames, so the pictures are from after the trigger.
func (c *Camera) Burst(ctx context.Context, n int) ([]*Frame, error) {
	if n <= 0 {
		n = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.src.Kind == Still {
		f, err := c.readStill()
		if err != nil {
			return nil, err
		}
		return []*Frame{f}, nil
	}
	if c.vc == nil {
		if err := c.reconnect(ctx); err != nil {
			return nil, err
		}
	}
	if c.src.Kind.Live() && c.opts.Flush > 0 {
		c.vc.Grab(c.opts.Flush)
	}
	frames := make([]*Frame, 0, n)
	for len(frames) < n {
		if err := ctx.Err(); err != nil {
			if len(frames) > 0 {
				break
			}
			return nil, err
		}
		f, err := c.readFrame(ctx)
		if err != nil {
			if len(frames) > 0 {
				break // keep what the burst got before the camera went
			}
			return nil, err
		}
		f.Index = len(frames)
		frames = append(frames, f)
	}
	return frames, nil
}

// readFrame reads one frame, rewinding a video at its end and reconnecting a live source.
func (c *Camera) readFrame(ctx context.Context) (*Frame, error) {
	mat := newMat()
	defer closeMat(&mat)
	if c.vc.Read(&mat) && !mat.Empty() {
		return matToFrame(mat)
	}
	switch c.src.Kind {
	case Video:
		// End of file (or a bad frame): start again from the top, reopening if seeking fails.
		c.vc.Set(gocv.VideoCapturePosFrames, 0)
		if c.vc.Read(&mat) && !mat.Empty() {
			return matToFrame(mat)
		}
		c.disconnect()
		if err := c.connect(); err != nil {
			return nil, err
		}
		if c.vc.Read(&mat) && !mat.Empty() {
			return matToFrame(mat)
		}
		return nil, fmt.Errorf("camera: %s: %w (no readable frames)", c.src, ErrUnavailable)
	default:
		c.disconnect()
		if err := c.reconnect(ctx); err != nil {
			return nil, err
		}
		if c.vc.Read(&mat) && !mat.Empty() {
			return matToFrame(mat)
		}
		c.disconnect()
		return nil, fmt.Errorf("camera: %s: %w (reopened, but it gives no pictures)", c.src, ErrUnavailable)
	}
}

// reconnect tries to open the source until ReconnectTimeout passes, with doubling waits.
func (c *Camera) reconnect(ctx context.Context) error {
	deadline := time.Now().Add(c.opts.ReconnectTimeout)
	wait := 100 * time.Millisecond
	for {
		err := c.connect()
		if err == nil {
			c.reopened++
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// connect opens the capture. A hung open (an unreachable stream) is abandoned after OpenTimeout;
// the capture is closed when the open finally returns.
func (c *Camera) connect() error {
	type result struct {
		vc  *gocv.VideoCapture
		err error
	}
	done := make(chan result, 1)
	var abandoned atomic.Bool
	src, opts := c.src, c.opts
	go func() {
		vc, err := openCapture(src, opts)
		if abandoned.Load() && vc != nil {
			vc.Close()
			return
		}
		done <- result{vc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return fmt.Errorf("camera: %s: %w (%v)", c.src, ErrUnavailable, r.err)
		}
		c.vc = r.vc
		return nil
	case <-time.After(c.opts.OpenTimeout):
		abandoned.Store(true)
		go func() { // the open may have finished between the timeout and the flag
			select {
			case r := <-done:
				if r.vc != nil {
					r.vc.Close()
				}
			case <-time.After(time.Minute):
			}
		}()
		return fmt.Errorf("camera: %s: %w (opening took longer than %v)", c.src, ErrUnavailable, c.opts.OpenTimeout)
	}
}

func openCapture(src Source, opts Options) (*gocv.VideoCapture, error) {
	var vc *gocv.VideoCapture
	var err error
	switch {
	case src.Kind == Device && src.Path == "":
		vc, err = gocv.VideoCaptureDeviceWithAPI(src.Index, gocv.VideoCaptureV4L2)
	case src.Kind == Device:
		vc, err = gocv.VideoCaptureFileWithAPI(src.Path, gocv.VideoCaptureV4L2)
	case src.Kind == Pipeline:
		vc, err = gocv.VideoCaptureFileWithAPI(src.Path, gocv.VideoCaptureGstreamer)
	default:
		vc, err = gocv.VideoCaptureFile(src.Path)
	}
	if err != nil {
		if vc != nil {
			vc.Close()
		}
		return nil, err
	}
	if !vc.IsOpened() {
		vc.Close()
		return nil, errors.New("OpenCV could not open it")
	}
	if src.Kind == Device {
		vc.Set(gocv.VideoCaptureBufferSize, 1)
		if opts.Width > 0 && opts.Height > 0 {
			vc.Set(gocv.VideoCaptureFrameWidth, float64(opts.Width))
			vc.Set(gocv.VideoCaptureFrameHeight, float64(opts.Height))
		}
	}
	return vc, nil
}

func (c *Camera) disconnect() {
	if c.vc != nil {
		c.vc.Close()
		c.vc = nil
	}
}

// readStill decodes the image file again, so a replaced file is picked up.
func (c *Camera) readStill() (*Frame, error) {
	b, err := os.ReadFile(c.src.Path)
	if err != nil {
		return nil, fmt.Errorf("camera: %s: %w (%v)", c.src, ErrUnavailable, err)
	}
	return DecodeImage(c.src.Path, b)
}

// DecodeImage decodes an image file's bytes (any format OpenCV reads) into a measured Frame.
// name is only used in errors. A corrupt file is an error wrapping ErrBadImage.
func DecodeImage(name string, b []byte) (*Frame, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("camera: %s: %w (the file is empty)", name, ErrBadImage)
	}
	// Read the size from the header first where Go can, so a small file claiming a huge picture
	// cannot make OpenCV allocate gigabytes.
	if cfg, format, err := imagebytes.DecodeConfig(b); err == nil { // TIFF through io.ReaderAt
		if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
			return nil, fmt.Errorf("camera: %s: %w (%s of %dx%d pixels; at most %d pixels)", name, ErrBadImage, format, cfg.Width, cfg.Height, MaxPixels)
		}
	}
	mat, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil {
		return nil, fmt.Errorf("camera: %s: %w (%v)", name, ErrBadImage, err)
	}
	liveMats.Add(1)
	defer closeMat(&mat)
	if mat.Empty() {
		return nil, fmt.Errorf("camera: %s: %w (OpenCV cannot decode it)", name, ErrBadImage)
	}
	return matToFrame(mat)
}

// Probe opens the source, takes one picture and closes it: the doctor's camera check. It returns
// the frame size on success.
func Probe(source string) (image.Point, error) {
	c, err := Open(Options{Source: source, Burst: 1, ReconnectTimeout: time.Millisecond})
	if err != nil {
		return image.Point{}, err
	}
	defer c.Close()
	frames, err := c.Burst(context.Background(), 1)
	if err != nil {
		return image.Point{}, err
	}
	return image.Pt(frames[0].Width, frames[0].Height), nil
}

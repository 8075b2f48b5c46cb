package audio

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// Backend chooses where the Microphone records from.
type Backend int

const (
	// BackendDefault is the system's default capture device (ALSA, honouring ~/.asoundrc, or
	// PulseAudio when it runs).
	BackendDefault Backend = iota
	// BackendNull is miniaudio's null device: silence, paced in real time. No sound card needed.
	BackendNull
)

// maNull is miniaudio's ma_backend_null. malgo's BackendNull constant is one short (its enum
// lacks ma_backend_custom), so it selects the custom backend and fails with "No backend".
const maNull = malgo.Backend(malgo.BackendNull + 1)

// MicOptions configures a Microphone. The zero value records 16 kHz mono from the default device.
type MicOptions struct {
	Backend    Backend
	SampleRate int           // default 16000
	Buffer     time.Duration // audio kept for a slow reader before the oldest is dropped; default 10 s
}

// Microphone records signed 16-bit mono samples. Read blocks until samples arrive.
//
// Capture is paced to real time: when a device delivers faster than the clock (the ALSA null and
// file devices do, by orders of magnitude), the capture callback waits, so a WAV fed as the
// microphone arrives at the speed it was spoken. Real devices never trigger the wait.
type Microphone struct {
	rate int

	mu      sync.Mutex
	cond    *sync.Cond
	ring    []int16 // circular buffer of captured samples
	start   int     // index of the oldest sample
	n       int     // samples in the ring
	dropped int64
	closed  bool

	paceStart time.Time
	paceCount int64 // samples delivered since paceStart

	ctx *malgo.AllocatedContext
	dev *malgo.Device
}

// OpenMicrophone opens and starts the capture device. With no sound card the error wraps
// ErrNoSoundCard.
func OpenMicrophone(opts MicOptions) (*Microphone, error) {
	if opts.SampleRate == 0 {
		opts.SampleRate = 16000
	}
	if opts.SampleRate < 8000 || opts.SampleRate > 192000 {
		return nil, fmt.Errorf("audio: microphone sample rate %d Hz is outside 8000..192000", opts.SampleRate)
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 10 * time.Second
	}
	var backends []malgo.Backend
	switch opts.Backend {
	case BackendDefault:
	case BackendNull:
		backends = []malgo.Backend{maNull}
	default:
		return nil, fmt.Errorf("audio: unknown microphone backend %d", opts.Backend)
	}
	var logMu sync.Mutex
	var logLines []string
	ctx, err := malgo.InitContext(backends, malgo.ContextConfig{}, func(msg string) {
		if !strings.Contains(strings.ToLower(msg), "fail") {
			return // miniaudio logs every symbol it loads; keep only the failures
		}
		logMu.Lock()
		logLines = append(logLines, strings.TrimSuffix(strings.TrimSpace(msg), "."))
		logMu.Unlock()
	})
	if err != nil {
		return nil, &DeviceError{Device: "microphone", Kind: ErrNoSoundCard, Detail: err}
	}
	m := &Microphone{rate: opts.SampleRate, ctx: ctx}
	m.cond = sync.NewCond(&m.mu)
	m.ring = make([]int16, int(int64(opts.Buffer)*int64(opts.SampleRate)/int64(time.Second)))

	cfg := malgo.DefaultDeviceConfig(malgo.Capture)
	cfg.Capture.Format = malgo.FormatS16
	cfg.Capture.Channels = 1
	cfg.SampleRate = uint32(opts.SampleRate)
	cfg.PeriodSizeInMilliseconds = 20
	dev, err := malgo.InitDevice(ctx.Context, cfg, malgo.DeviceCallbacks{Data: m.onData})
	if err != nil {
		ctx.Uninit()
		ctx.Free()
		logMu.Lock()
		detail := err
		if len(logLines) > 0 {
			detail = fmt.Errorf("%w; %s", err, strings.Join(logLines, "; "))
		}
		logMu.Unlock()
		return nil, &DeviceError{Device: "microphone", Kind: ErrNoSoundCard, Detail: detail}
	}
	m.dev = dev
	if err := dev.Start(); err != nil {
		dev.Uninit()
		ctx.Uninit()
		ctx.Free()
		return nil, &DeviceError{Device: "microphone", Detail: err}
	}
	return m, nil
}

// SampleRate returns the rate of the samples Read returns.
func (m *Microphone) SampleRate() int { return m.rate }

// Dropped returns how many samples were lost because the reader fell more than Buffer behind.
func (m *Microphone) Dropped() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}

// onData runs on miniaudio's thread: copy the samples into the ring, then wait if the device is
// running ahead of the clock.
func (m *Microphone) onData(_, in []byte, frames uint32) {
	n := int(frames)
	if n*2 > len(in) {
		n = len(in) / 2
	}
	if n == 0 {
		return
	}
	samples := unsafe.Slice((*int16)(unsafe.Pointer(&in[0])), n)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	for _, s := range samples {
		if m.n == len(m.ring) {
			m.start = (m.start + 1) % len(m.ring)
			m.n--
			m.dropped++
		}
		m.ring[(m.start+m.n)%len(m.ring)] = s
		m.n++
	}
	now := time.Now()
	if m.paceStart.IsZero() {
		m.paceStart = now
	}
	m.paceCount += int64(n)
	ahead := time.Duration(m.paceCount*int64(time.Second)/int64(m.rate)) - now.Sub(m.paceStart)
	m.cond.Broadcast()
	m.mu.Unlock()
	if ahead > 50*time.Millisecond {
		time.Sleep(ahead - 20*time.Millisecond)
	}
	if ahead < -time.Second { // the device stalled; do not catch up in a burst later
		m.mu.Lock()
		m.paceStart, m.paceCount = now, 0
		m.mu.Unlock()
	}
}

// Read fills p with captured samples, blocking until at least one is available. After Close it
// returns the samples still buffered, then io.EOF.
func (m *Microphone) Read(p []int16) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.n == 0 && !m.closed {
		m.cond.Wait()
	}
	if m.n == 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && m.n > 0 {
		p[k] = m.ring[m.start]
		m.start = (m.start + 1) % len(m.ring)
		m.n--
		k++
	}
	return k, nil
}

// Close stops the device and releases it. Blocked readers return io.EOF once the buffer is empty.
func (m *Microphone) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.cond.Broadcast()
	m.mu.Unlock()
	// Uninit waits for the capture thread, which may be sleeping in onData (at most ~50 ms).
	m.dev.Uninit()
	err := m.ctx.Uninit()
	m.ctx.Free()
	return err
}

// CheckMicrophone opens the default microphone, records for d and closes it: the doctor's test.
// It returns the peak level seen (0..32767) so a caller can tell a silent line from a live one.
func CheckMicrophone(d time.Duration) (peak int, err error) {
	m, err := OpenMicrophone(MicOptions{})
	if err != nil {
		return 0, err
	}
	defer m.Close()
	want := int(int64(d) * int64(m.rate) / int64(time.Second))
	buf := make([]int16, 1024)
	for got := 0; got < want; {
		n, err := m.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return peak, err
		}
		for _, s := range buf[:n] {
			v := int(s)
			if v < 0 {
				v = -v
			}
			if v > peak {
				peak = v
			}
		}
		got += n
	}
	return peak, nil
}

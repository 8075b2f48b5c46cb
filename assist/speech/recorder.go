package speech

import (
	"context"
	"sync"
	"time"
)

// Recorder is a Sink that keeps what it is given: for `assist ask --wav`, and for tests. When
// Paced, it takes the samples in 10 ms blocks at real-time speed, as a sound card does, so tests
// can measure how soon speech stops after a barge-in.
type Recorder struct {
	Paced bool

	mu       sync.Mutex
	rate     int
	samples  []int16
	plays    int
	lastPlay time.Time // when the last block was taken
}

// Play implements Sink.
func (r *Recorder) Play(ctx context.Context, p PCM) error {
	block := max(1, p.Rate/100)
	for off := 0; off < len(p.Samples); off += block {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(len(p.Samples), off+block)
		r.mu.Lock()
		r.rate = p.Rate
		r.samples = append(r.samples, p.Samples[off:end]...)
		r.lastPlay = time.Now()
		r.mu.Unlock()
		if r.Paced {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(end-off) * time.Second / time.Duration(p.Rate)):
			}
		}
	}
	r.mu.Lock()
	r.plays++
	r.mu.Unlock()
	return nil
}

// PCM is everything played so far.
func (r *Recorder) PCM() PCM {
	r.mu.Lock()
	defer r.mu.Unlock()
	return PCM{Rate: r.rate, Samples: append([]int16(nil), r.samples...)}
}

// LastSample is when the last block of samples was taken.
func (r *Recorder) LastSample() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastPlay
}

// Reset forgets what was played.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.samples, r.plays = nil, 0
	r.mu.Unlock()
}

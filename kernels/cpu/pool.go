package cpu

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a persistent set of worker goroutines that split a range of work items into chunks.
// A call costs a channel send per worker instead of a goroutine per call, which matters in decode
// where one token runs a few hundred small matmuls.
type Pool struct {
	n    int
	jobs chan job
}

type job struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
	s      *share // a Share call: take chunks until none is left (fn, lo, hi, wg unused)
}

// NewPool starts n workers (n <= 0 means DefaultThreads()). Worker 0 is the caller itself.
func NewPool(n int) *Pool {
	if n <= 0 {
		n = DefaultThreads()
	}
	p := &Pool{n: n, jobs: make(chan job, n)}
	for i := 1; i < n; i++ {
		go func() {
			for {
				j, ok := p.next()
				if !ok {
					return
				}
				if j.s != nil {
					j.s.work()
					continue
				}
				j.fn(j.lo, j.hi)
				j.wg.Done()
			}
		}()
	}
	return p
}

// next waits for a job: a short poll first (decode hands the workers a job every few tens of
// microseconds, and waking a parked thread costs that much again), then a blocking receive.
func (p *Pool) next() (job, bool) {
	deadline := time.Now().Add(spinFor)
	for i := 0; ; i++ {
		select {
		case j, ok := <-p.jobs:
			return j, ok
		default:
		}
		if i&63 == 63 && time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	j, ok := <-p.jobs
	return j, ok
}

// spinFor is how long an idle worker polls before it blocks.
const spinFor = 50 * time.Microsecond

// Threads is the number of workers, the caller included.
func (p *Pool) Threads() int { return p.n }

// Run calls fn over [0, n) split into contiguous chunks whose boundaries are multiples of align
// (align <= 1 means any), one chunk per worker, and returns when all are done.
func (p *Pool) Run(n, align int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if align < 1 {
		align = 1
	}
	units := (n + align - 1) / align
	w := p.n
	if w > units {
		w = units
	}
	if w <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	per := (units + w - 1) / w
	first := true
	var lo0, hi0 int
	for lo := 0; lo < n; lo += per * align {
		hi := min(lo+per*align, n)
		if first {
			lo0, hi0, first = lo, hi, false
			continue
		}
		wg.Add(1)
		p.jobs <- job{fn: fn, lo: lo, hi: hi, wg: &wg}
	}
	fn(lo0, hi0)
	wg.Wait()
}

// chunksPerThread is how many pieces Share cuts the work into per worker: enough that a worker
// which starts late, or loses its CPU for a while, leaves its share to the others, few enough
// that the hand-out (one atomic add per piece) costs nothing next to a piece.
const chunksPerThread = 8

// share is one Share call's state. A worker that reaches it after the work is done finds no
// chunk left and returns, so the call need not wait for workers that never started.
type share struct {
	fn   func(lo, hi int)
	n    int
	step int           // items per chunk, a multiple of the alignment
	next atomic.Int64  // first item of the next chunk to hand out
	left atomic.Int64  // chunks not finished yet
	done chan struct{} // closed by whoever finishes the last chunk
}

// work runs chunks until none is left to hand out.
func (s *share) work() {
	for {
		lo := int(s.next.Add(int64(s.step))) - s.step
		if lo >= s.n {
			return
		}
		s.fn(lo, min(lo+s.step, s.n))
		if s.left.Add(-1) == 0 {
			close(s.done)
			return
		}
	}
}

// Share is Run with the work handed out in pieces to whichever worker is free, the caller
// included, instead of one fixed piece per worker. Run's fixed split makes every call as slow as
// its slowest worker: on a device where the camera, the speech engine and other programs take a
// core now and then, or on two virtual CPUs that share one physical core, one worker is often
// late or slow. Chunk boundaries are multiples of align; fn may be called several times per
// worker and must not assume one call per worker.
func (p *Pool) Share(n, align int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if align < 1 {
		align = 1
	}
	units := (n + align - 1) / align
	pieces := min(units, p.n*chunksPerThread)
	if p.n <= 1 || pieces <= 1 {
		fn(0, n)
		return
	}
	step := (units + pieces - 1) / pieces * align
	chunks := (n + step - 1) / step
	s := &share{fn: fn, n: n, step: step, done: make(chan struct{})}
	s.left.Store(int64(chunks))
	for i := 1; i < min(p.n, chunks); i++ {
		select {
		case p.jobs <- job{s: s}:
		default: // the workers are behind: the caller and whoever is free do it
		}
	}
	s.work()
	// Chunks still running elsewhere: poll briefly (each is short), then block.
	deadline := time.Now().Add(spinFor)
	for i := 0; s.left.Load() != 0; i++ {
		if i&63 == 63 && time.Now().After(deadline) {
			<-s.done
			return
		}
		runtime.Gosched()
	}
}

// Close stops the workers. The pool must not be used afterwards.
func (p *Pool) Close() { close(p.jobs) }

// DefaultThreads is RPIQ_THREADS when set, else the number of CPUs Go may use.
// (Go cannot portably tell physical cores from SMT siblings; on the 2-core development machine
// both are 2.)
func DefaultThreads() int {
	if s := os.Getenv("RPIQ_THREADS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return runtime.GOMAXPROCS(0)
}

var (
	defaultOnce sync.Once
	defaultPool *Pool
)

// Default is the process-wide pool with DefaultThreads() workers.
func Default() *Pool {
	defaultOnce.Do(func() { defaultPool = NewPool(0) })
	return defaultPool
}

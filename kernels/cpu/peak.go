package cpu

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MeasureFMAPeak measures this machine's float32 peak in GFLOP/s: every worker of p runs a loop
// of nothing but independent FMAs of the widest vectors the CPU has (16 lanes with AVX-512, 8
// with AVX2) for about 40 ms, and the best of three tries is kept. A nominal figure from the
// clock in /proc/cpuinfo can be far below it (a VM may show its base clock while the cores
// boost; and AVX-512 doubles the flops per cycle where the FMA units are 512 bits wide), and
// ratios to it then overstate. It returns 0 where the loop has no assembly (noasm builds, other
// architectures, no AVX2+FMA). Run it on an otherwise idle machine.
func MeasureFMAPeak(p *Pool) float64 {
	if !hasFMALoop {
		return 0
	}
	const iters = 1 << 19
	best := 0.0
	for try := 0; try < 3; try++ {
		start := time.Now()
		var mu sync.Mutex
		flops := 0.0
		for time.Since(start) < 40*time.Millisecond {
			p.Run(p.Threads(), 1, func(lo, hi int) {
				f := 0.0
				for i := lo; i < hi; i++ {
					f += fmaLoop(iters)
				}
				mu.Lock()
				flops += f
				mu.Unlock()
			})
		}
		best = max(best, flops/time.Since(start).Seconds()/1e9)
	}
	return best
}

var peaks sync.Map // threads → GFLOP/s

// PeakGFLOPs is the float32 peak the benchmarks report their ratios against, for threads
// workers: MeasureFMAPeak on a pool of that size (measured once per process), or where it
// cannot be measured, the nominal threads × 32 flop/cycle (two 8-lane FMA pipes) × the clock
// /proc/cpuinfo shows.
func PeakGFLOPs(threads int) float64 {
	if v, ok := peaks.Load(threads); ok {
		return v.(float64)
	}
	p := NewPool(threads)
	g := MeasureFMAPeak(p)
	p.Close()
	if g <= 0 {
		g = float64(threads) * 32 * cpuMHz() / 1000
	}
	peaks.Store(threads, g)
	return g
}

// cpuMHz is the clock /proc/cpuinfo shows ("cpu MHz"), 2600 where it shows none.
func cpuMHz() float64 {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 2600
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "cpu MHz") {
			if i := strings.IndexByte(line, ':'); i > 0 {
				if v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64); err == nil && v > 0 {
					return v
				}
			}
			break
		}
	}
	return 2600
}

package cpu

import (
	"time"
)

// ReadBandwidth measures how fast the pool's workers can read buf (summing it, split evenly
// across workers) and returns bytes per second of the best of reps passes. This is the ceiling a
// memory-bound decode GEMV is judged against; buf should be much larger than the L3 cache.
func ReadBandwidth(p *Pool, buf []uint64, reps int) float64 {
	best := 0.0
	sums := make([]uint64, len(buf)/4096+1)
	for r := 0; r < max(reps, 1); r++ {
		t := time.Now()
		p.Run(len(buf), 4096, func(lo, hi int) {
			sums[lo/4096] = sumUint64(buf[lo:hi])
		})
		if bw := float64(8*len(buf)) / time.Since(t).Seconds(); bw > best {
			best = bw
		}
	}
	sink = sums[0]
	return best
}

var sink uint64

func sumUint64(b []uint64) uint64 {
	var s0, s1, s2, s3, s4, s5, s6, s7 uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		c := b[i : i+8 : i+8]
		s0 += c[0]
		s1 += c[1]
		s2 += c[2]
		s3 += c[3]
		s4 += c[4]
		s5 += c[5]
		s6 += c[6]
		s7 += c[7]
	}
	for ; i < len(b); i++ {
		s0 += b[i]
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}

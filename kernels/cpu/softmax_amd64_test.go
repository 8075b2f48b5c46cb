//go:build amd64 && !noasm

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The AVX-512 exp kernels give the AVX2 ones' bits: every value and the returned sum (the sum's
// order is the AVX2 kernel's), on lengths with and without a last group of 4, over the range
// Softmax meets (underflow to 0, subnormal results, -Inf). Skipped where the CPU lacks AVX-512.
func TestExpShiftSumAVX512SameBitsAsAVX2(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for trial := 0; trial < 400; trial++ {
		n := 4 * (1 + rng.IntN(80))
		x := make([]float32, n)
		scale := []float64{0.01, 1, 10, 120, 1000}[trial%5]
		for i := range x {
			x[i] = float32(rng.NormFloat64() * scale)
		}
		if trial%7 == 0 {
			x[rng.IntN(n)] = float32(math.Inf(-1))
		}
		mx := x[0]
		for _, v := range x {
			mx = max(mx, v)
		}
		a := append([]float32(nil), x...)
		b := append([]float32(nil), x...)
		sa := expShiftSumAVX2(&a[0], n, mx)
		sb := expShiftSumAVX512(&b[0], n, mx)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("trial %d n=%d: exp(%v - %v): AVX-512 %v, AVX2 %v", trial, n, x[i], mx, b[i], a[i])
			}
		}
		if math.Float32bits(sa) != math.Float32bits(sb) {
			t.Fatalf("trial %d n=%d: sum AVX-512 %v, AVX2 %v", trial, n, sb, sa)
		}
	}
	// a dense sweep of the reduction's breakpoints
	x := make([]float32, 1<<16+4)
	for i := range x {
		x[i] = -float32(i) * (110.0 / float32(len(x)))
	}
	a := append([]float32(nil), x...)
	sa := expShiftSumAVX2(&a[0], len(a), 0)
	sb := expShiftSumAVX512(&x[0], len(x), 0)
	for i := range x {
		if math.Float32bits(a[i]) != math.Float32bits(x[i]) {
			t.Fatalf("sweep value %d: AVX-512 %v, AVX2 %v", i, x[i], a[i])
		}
	}
	if math.Float32bits(sa) != math.Float32bits(sb) {
		t.Fatalf("sweep sum: AVX-512 %v, AVX2 %v", sb, sa)
	}
}

// The AVX-512 SwiGLU gives the AVX2 one's bits (and so the scalar one's), exp underflow and
// overflow included. Skipped where the CPU lacks AVX-512.
func TestSwiGLUAVX512SameBitsAsAVX2(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(23, 24))
	for trial := 0; trial < 300; trial++ {
		n := 4 * (1 + rng.IntN(60))
		g, u := make([]float32, n), make([]float32, n)
		scale := []float64{0.1, 3, 40, 200, 1000}[trial%5]
		for i := range g {
			g[i] = float32(rng.NormFloat64() * scale)
			u[i] = float32(rng.NormFloat64())
		}
		a, b := make([]float32, n), make([]float32, n)
		swigluAVX2(&a[0], &g[0], &u[0], n)
		swigluAVX512(&b[0], &g[0], &u[0], n)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("trial %d n=%d: swiglu(%v, %v): AVX-512 %v, AVX2 %v", trial, n, g[i], u[i], b[i], a[i])
			}
		}
	}
}

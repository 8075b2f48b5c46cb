package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Each value of the vector exp is bit-identical to float32(math.Exp(float64(v - mx))), over
// the whole range Softmax meets (including values so small that the result is 0 or subnormal,
// and -Inf), on every length (the lanes and the scalar tail).
func TestExpShiftSumMatchesMathExp(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 300; trial++ {
		n := 1 + rng.IntN(300)
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
		want := append([]float32(nil), x...)
		wsum := expShiftSumGo(want, mx)
		got := append([]float32(nil), x...)
		gsum := expShiftSum(got, mx)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("trial %d: exp(%v - %v) = %v, math.Exp gives %v", trial, x[i], mx, got[i], want[i])
			}
		}
		// the sum differs only by order: |Σ| bound n·ε·Σ|e|
		if d := math.Abs(float64(gsum - wsum)); d > float64(n)*6e-8*float64(wsum) {
			t.Fatalf("trial %d: sum %v vs %v", trial, gsum, wsum)
		}
	}
	// a dense sweep of the reduction's breakpoints
	x := make([]float32, 1<<16)
	for i := range x {
		x[i] = -float32(i) * (110.0 / float32(len(x)))
	}
	want := append([]float32(nil), x...)
	expShiftSumGo(want, 0)
	expShiftSum(x, 0)
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
			t.Fatalf("exp(%v): %v, math.Exp gives %v", -float32(i)*(110.0/float32(len(x))), x[i], want[i])
		}
	}
}

// Softmax against float64, and its special cases as math.Exp has them.
func TestSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 3, 4, 7, 33, 512} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 5)
		}
		ref := make([]float64, n)
		mx, sum := math.Inf(-1), 0.0
		for _, v := range x {
			mx = math.Max(mx, float64(v))
		}
		for i, v := range x {
			ref[i] = math.Exp(float64(v) - mx)
			sum += ref[i]
		}
		Softmax(x)
		for i := range x {
			if d := math.Abs(float64(x[i]) - ref[i]/sum); d > 1e-6*ref[i]/sum+1e-12 {
				t.Fatalf("n=%d: softmax[%d] = %v, want %v", n, i, x[i], ref[i]/sum)
			}
		}
	}
	x := []float32{1, float32(math.NaN()), 2, 3, 4}
	Softmax(x)
	if x[0] == x[0] {
		t.Fatalf("a NaN input must give NaN, got %v", x)
	}
}

func TestMaxAndScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for n := 1; n < 70; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		if got, want := maxF32(x), maxF32Go(x); got != want {
			t.Fatalf("n=%d: max %v, want %v", n, got, want)
		}
		x[rng.IntN(n)] = float32(math.NaN())
		if got := maxF32(x); got == got {
			t.Fatalf("n=%d: max of values with a NaN is %v, want NaN", n, got)
		}
		y := append([]float32(nil), x...)
		ScaleF32(y, 0.37)
		for i := range y {
			if w := x[i] * 0.37; math.Float32bits(y[i]) != math.Float32bits(w) {
				t.Fatalf("n=%d: scale[%d] = %v, want %v", n, i, y[i], w)
			}
		}
	}
}

// The vector SwiGLU is bit-identical to the scalar one over the whole float32 range that
// matters (exp underflow and overflow included) and any length.
func TestSwiGLUMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(200)
		g, u := make([]float32, n), make([]float32, n)
		scale := []float64{0.1, 3, 40, 200, 1000}[trial%5]
		for i := range g {
			g[i] = float32(rng.NormFloat64() * scale)
			u[i] = float32(rng.NormFloat64())
		}
		want, got := make([]float32, n), make([]float32, n)
		swigluGo(want, g, u)
		SwiGLU(got, g, u)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("trial %d: swiglu(%v, %v) = %v, scalar %v", trial, g[i], u[i], got[i], want[i])
			}
		}
	}
}

// AXPYRows gives, bit for bit, what clearing y and one AXPY per row give (every length around
// the vector width, heads of 1-16 rows, a row stride longer than y).
func TestAXPYRowsSameBitsAsAXPY(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, rows := range []int{1, 2, 7, 8, 16} {
		for _, n := range []int{1, 5, 15, 16, 17, 31, 32, 33, 100, 512} {
			ldx := n + rng.IntN(9)
			a := make([]float32, rows)
			x := make([]float32, rows*ldx)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 3)
			}
			want := make([]float32, n)
			for r, v := range a {
				AXPY(want, v, x[r*ldx:r*ldx+n])
			}
			got := make([]float32, n)
			for i := range got {
				got[i] = 99 // AXPYRows must overwrite, not add
			}
			AXPYRows(got, a, x, ldx)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("rows=%d n=%d: y[%d] = %v, want %v", rows, n, i, got[i], want[i])
				}
			}
		}
	}
}

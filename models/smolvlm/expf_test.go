package smolvlm

import (
	"math"
	"testing"
)

// TestExpf: relative error against math.Exp below 3e-7 on [−87, 0].
func TestExpf(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 870000; i++ {
		x := -float32(i) / 10000
		want := math.Exp(float64(x))
		got := float64(expf(x))
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	if worst > 3e-7 {
		t.Fatalf("expf relative error %.3g", worst)
	}
	if expf(-100) != 0 || expf(0) != 1 {
		t.Fatalf("expf(-100) = %v, expf(0) = %v", expf(-100), expf(0))
	}
}

func TestGELUTanh(t *testing.T) {
	worst := 0.0
	for i := -200000; i <= 200000; i++ {
		x := float32(i) / 10000
		v := []float32{x}
		GELUTanh(v)
		f := float64(x)
		want := 0.5 * f * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(f+0.044715*f*f*f)))
		worst = math.Max(worst, math.Abs(float64(v[0])-want)/math.Max(math.Abs(f), 1e-3))
	}
	if worst > 5e-7 {
		t.Fatalf("GELUTanh error %.3g (relative to |x|)", worst)
	}
}

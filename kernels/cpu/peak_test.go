package cpu

import "testing"

// TestMeasureFMAPeak: a positive rate where the loop exists, within what a core could do (a
// sanity bound: 16 lanes × 2 FMA pipes × 2 flops × 6 GHz per thread), 0 elsewhere.
func TestMeasureFMAPeak(t *testing.T) {
	p := NewPool(1)
	defer p.Close()
	g := MeasureFMAPeak(p)
	t.Logf("one thread: %.1f GFLOP/s", g)
	if !hasFMALoop {
		if g != 0 {
			t.Fatalf("no FMA loop here, got %v", g)
		}
		return
	}
	if g <= 0 || g > 64*6 {
		t.Fatalf("one thread's FMA peak %v GFLOP/s", g)
	}
}

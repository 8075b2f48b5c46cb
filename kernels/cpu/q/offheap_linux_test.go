package q

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// TestOffHeapWeights: a matrix over offHeapMin keeps its codes outside the Go heap, computes as
// the float64 reference says after collections, and the mappings go once the matrices are gone.
func TestOffHeapWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	const in, out = 4096, 512 // 1 MiB of 4-bit codes
	g := randomGPTQ(rng, in, out, 4, 128, false, true, false)
	before := offHeapBytes.Load()
	m, err := g.repack()
	if err != nil {
		t.Fatal(err)
	}
	if got := offHeapBytes.Load() - before; got < int64(len(m.w)) {
		t.Fatalf("%d bytes mapped outside the heap for %d bytes of codes", got, len(m.w))
	}
	runtime.GC()
	runtime.GC()
	x := randInput(rng, in)
	y := make([]float32, out)
	m.MatVec(y, x)
	if err := check(t, m, g, x, y, 1); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(m)

	for i := 0; i < 20; i++ {
		mi, err := g.repack()
		if err != nil {
			t.Fatal(err)
		}
		mi.MatVec(y, x)
	}
	deadline := time.Now().Add(10 * time.Second)
	for offHeapBytes.Load() > before && time.Now().Before(deadline) {
		runtime.GC() // cleanups run on their own goroutine after a collection
		time.Sleep(10 * time.Millisecond)
	}
	if left := offHeapBytes.Load() - before; left > 0 {
		t.Fatalf("%d bytes still mapped after the matrices were dropped", left)
	}
}

package q

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// kernelFunc computes one row block: see dot4Generic (one token) and tile4Generic (a token tile).
type kernelFunc func(w []byte, sm []byte, xq []int8, xd []float32, nb, blk int, out []float32)

// kernels is one instruction-set variant.
type kernels struct {
	name                     string
	dot4, dot8, tile4, tile8 kernelFunc
}

var generic = &kernels{"generic", dot4Generic, dot8Generic, tile4Generic, tile8Generic}

// variants lists what this CPU and build can run, generic first and the preferred one last.
// The architecture files append to it in init.
var variants = []*kernels{generic}

// Kernels names the variants this machine can run, generic first, the preferred one last.
func Kernels() []string {
	names := make([]string, len(variants))
	for i, k := range variants {
		names[i] = k.name
	}
	return names
}

func lookup(name string) *kernels {
	for _, k := range variants {
		if k.name == name {
			return k
		}
	}
	return nil
}

var (
	activeOnce sync.Once
	activeK    atomic.Pointer[kernels]
)

// active is the variant in use: RPIQ_KERNELS when set, else the preferred one, each only after a
// start-up self-check against the generic kernels on random data (a variant that disagrees is
// dropped with a warning, so an untested CPU never silently computes wrong answers).
func active() *kernels {
	activeOnce.Do(func() {
		want := os.Getenv("RPIQ_KERNELS")
		k := variants[len(variants)-1]
		if want != "" {
			if k = lookup(want); k == nil {
				slog.Warn("RPIQ_KERNELS names a variant this machine cannot run; using the preferred one",
					"RPIQ_KERNELS", want, "available", Kernels())
				k = variants[len(variants)-1]
			}
		}
		for k != generic {
			err := selfCheck(k)
			if err == nil {
				break
			}
			slog.Warn("quantized kernel variant failed its self-check; falling back", "variant", k.name, "err", err)
			i := 0
			for variants[i] != k {
				i++
			}
			k = variants[i-1]
		}
		activeK.Store(k)
	})
	return activeK.Load()
}

// Active names the variant MatVec and MatMul use.
func Active() string { return active().name }

// Use switches the variant (tests, benchmarks); it fails for a name Kernels does not list.
func Use(name string) error {
	active()
	k := lookup(name)
	if k == nil {
		return fmt.Errorf("q: kernel variant %q not available here (have %v)", name, Kernels())
	}
	activeK.Store(k)
	return nil
}

// selfCheck compares a variant with the generic kernels on small random 4- and 8-bit layers,
// one token and a tile. Both compute the same integer dot products, so only float rounding of
// the block epilogue may differ.
func selfCheck(k *kernels) error {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, bits := range []int{4, 8} {
		// group 40: 5 blocks of 40 inputs, an odd step count for the 4-bit kernels
		g := randomGPTQ(rng, 200, 37, bits, 40, false, true, false)
		m, err := g.repack()
		if err != nil {
			return err
		}
		m.SetPool(cpu.NewPool(1)) // inline: the check may run inside a caller's pool job
		x := make([]float32, 3*m.In)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		want := make([]float32, 3*m.Out)
		got := make([]float32, 3*m.Out)
		for _, n := range []int{1, 3} {
			m.matMul(generic, want[:n*m.Out], x[:n*m.In], n)
			m.matMul(k, got[:n*m.Out], x[:n*m.In], n)
			for i := range want[:n*m.Out] {
				if d := math.Abs(float64(want[i] - got[i])); !(d <= 1e-4*(1+math.Abs(float64(want[i])))) {
					return fmt.Errorf("%d-bit, %d tokens: output %d = %v, generic gives %v", bits, n, i, got[i], want[i])
				}
			}
		}
	}
	return nil
}

package cudabackend

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/rpiq/rpiq/device/cuda"
	cudakernels "github.com/rpiq/rpiq/kernels/cuda"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/backend/backendtest"
)

// The CUDA backend on the CPU emulator (kernels/cuda/emu: the kernels compiled by g++ behind a
// fake libcuda that runs each block's threads as real threads). Where no GPU is lent, this is
// what executes the kernels: their indexing, tiling, barriers, warp shuffles, the mma.sync
// fragment layout, the host side of the backend, stream capture and graph replay. It skips
// without g++ (or NVRTC, which the backend still runs to build its modules).

var (
	emuOnce sync.Once
	emuLib  string
	emuErr  error
)

func buildEmulator() (string, error) {
	emuOnce.Do(func() {
		if _, err := exec.LookPath("g++"); err != nil {
			emuErr = err
			return
		}
		dir, err := os.MkdirTemp("", "rpiq-cudaemu-")
		if err != nil {
			emuErr = err
			return
		}
		emuLib, emuErr = cudakernels.BuildEmulator(dir)
	})
	return emuLib, emuErr
}

func emuForTest(t *testing.T, o Options) *Backend {
	t.Helper()
	if testing.Short() {
		t.Skip("the emulator build and runs take a while; skipped in -short")
	}
	lib, err := buildEmulator()
	if err != nil {
		if _, ok := err.(*cudakernels.EmulatorBuildError); ok {
			t.Fatal(err) // the kernels or the emulator do not compile as C++: a real failure
		}
		if cuda.NVRTCRequired() { // CI: scripts/setup.sh installs g++
			t.Fatalf("no C++ compiler for the CUDA emulator (RPIQ_REQUIRE_NVRTC=1 or CI=true): %v", err)
		}
		t.Skipf("no C++ compiler for the CUDA emulator: %v", err)
	}
	nvrtcForTest(t)
	drv, err := cuda.LoadDriverFrom(lib)
	if err != nil {
		t.Fatal(err)
	}
	if o.KernelCache.Dir == "" {
		testCacheOnce.Do(func() { testCacheDir, _ = os.MkdirTemp("", "rpiq-kernels-") })
		o.KernelCache = cuda.Cache{Dir: testCacheDir}
	}
	b, err := NewWith(drv, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestEmulatedConformance(t *testing.T) {
	backendtest.Run(t, emuForTest(t, Options{CacheF32: true}))
}

func TestEmulatedGPTQMatMul(t *testing.T) { checkGPTQMatMul(t, emuForTest(t, Options{}), true) }

func TestEmulatedAttentionF16Cache(t *testing.T) {
	checkAttentionF16(t, emuForTest(t, Options{}), true)
}

// 1024 fibers per draw, switching at every barrier: keep it short.
func TestEmulatedSampling(t *testing.T) { checkSampling(t, emuForTest(t, Options{}), 2000, 10) }

func TestEmulatedStepGraph(t *testing.T) {
	b := emuForTest(t, Options{})
	checkStepGraph(t, b, 6)
	b.splitAbove, b.splitChunk = 8, 16 // the captured step with split decode attention
	checkStepGraph(t, b, 6)
}

func TestEmulatorKnowsEveryKernel(t *testing.T) {
	b := emuForTest(t, Options{})
	for _, f := range cudakernels.Files() {
		for _, k := range f.Kernels {
			if !b.k.Has(k) {
				t.Errorf("kernel %s (%s) is not loaded through the emulator", k, f.Name)
			}
		}
	}
}

// TestEmulatedDeviceReport runs the device report's code on toy sizes, so a GPU run is not spent
// finding a bug in the report itself. Its numbers are the emulator's and mean nothing.
func TestEmulatedDeviceReport(t *testing.T) {
	b := emuForTest(t, Options{})
	table := deviceReport(t, b, reportSizes{
		copyBytes: 1 << 20, gemvIters: 2, gemmIters: 1, mmaIters: 2, decodeSteps: 3, ctx: 5,
		gemv: [][2]int{{256, 512}}, gemmM: []int{16}, gemmKN: [2]int{128, 64},
		models: []modelShape{{Name: "toy", Hidden: 128, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 64, Inter: 256, Vocab: 512}},
	})
	for _, want := range []string{"| copy", "| gemv_q4 g128 256×512", "| mma.sync f16 peak", "| gemm_q4 g128 16×128×64", "| decode toy"} {
		if !strings.Contains(table, want) {
			t.Errorf("report lacks %q:\n%s", want, table)
		}
	}
}

func TestEmulatedGPTQValidation(t *testing.T) {
	b := emuForTest(t, Options{})
	good := func() *cudakernels.GPTQ {
		return cudakernels.PackGPTQ(4, 64, 16, 32, 1, make([]int, 64*16), make([]int, 2*16), make([]uint16, 2*16))
	}
	for _, c := range []struct {
		name string
		edit func(q *cudakernels.GPTQ)
		bias []float32
		want string
	}{
		{"bits", func(q *cudakernels.GPTQ) { q.Bits = 3 }, nil, "3 bits"},
		{"K", func(q *cudakernels.GPTQ) { q.K = 60 }, nil, "K=60"},
		{"N", func(q *cudakernels.GPTQ) { q.N = 12 }, nil, "N=12"},
		{"group", func(q *cudakernels.GPTQ) { q.GroupSize = 6 }, nil, "group_size 6"},
		{"offset", func(q *cudakernels.GPTQ) { q.ZeroOffset = 2 }, nil, "zero offset 2"},
		{"qweight", func(q *cudakernels.GPTQ) { q.Qweight = q.Qweight[:5] }, nil, "qweight has 5 words, want 128"},
		{"qzeros", func(q *cudakernels.GPTQ) { q.Qzeros = q.Qzeros[:1] }, nil, "qzeros has 1 words, want 4"},
		{"scales", func(q *cudakernels.GPTQ) { q.Scales = q.Scales[:3] }, nil, "scales has 3 values, want 32"},
		{"perm length", func(q *cudakernels.GPTQ) { q.Perm = make([]int32, 3) }, nil, "perm has 3 entries"},
		{"perm value", func(q *cudakernels.GPTQ) { q.Perm = make([]int32, 64); q.Perm[7] = 64 }, nil, "perm[7] = 64"},
		{"bias", func(q *cudakernels.GPTQ) {}, make([]float32, 3), "bias has 3 values, want N=16"},
	} {
		q := good()
		c.edit(q)
		if _, err := b.NewGPTQWeight(q, c.bias); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if _, err := b.NewGPTQWeight(good(), nil); err != nil {
		t.Errorf("a valid layer: %v", err)
	}
	if _, err := b.NewWeight(backend.F16, 3, 3, make([]byte, 17)); err == nil || !strings.Contains(err.Error(), "17 bytes, want 18") {
		t.Errorf("NewWeight with a short buffer: %v", err)
	}
}

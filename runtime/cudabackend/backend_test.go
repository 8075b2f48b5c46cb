package cudabackend

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/rpiq/rpiq/device/cuda"
	"github.com/rpiq/rpiq/runtime/backend/backendtest"
)

var (
	testCacheOnce sync.Once
	testCacheDir  string
)

// gpuRequired is the project's rule for GPU tests: skip unless RPIQ_REQUIRE_GPU=1.
func gpuRequired() bool { return os.Getenv("RPIQ_REQUIRE_GPU") == "1" }

// gpuForTest opens the CUDA backend, or skips (fails under RPIQ_REQUIRE_GPU=1).
func gpuForTest(t testing.TB, o Options) *Backend {
	t.Helper()
	if !gpuRequired() {
		t.Skip("GPU tests run with RPIQ_REQUIRE_GPU=1 (scripts/gpu-check.sh)")
	}
	if o.KernelCache.Dir == "" && os.Getenv(cuda.CacheEnv) == "" {
		testCacheOnce.Do(func() { testCacheDir, _ = os.MkdirTemp("", "rpiq-kernels-") })
		o.KernelCache = cuda.Cache{Dir: testCacheDir} // compile once per test binary
	}
	b, err := New(o)
	if err != nil {
		t.Fatalf("RPIQ_REQUIRE_GPU=1 but the CUDA backend did not open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestFallbackToCPU(t *testing.T) {
	if gpuRequired() {
		t.Skip("a GPU is present: the fallback is not taken")
	}
	_, err := New(Options{KernelCache: cuda.Cache{Dir: t.TempDir()}})
	if err == nil {
		t.Skip("a usable GPU is present")
	}
	if !errors.Is(err, cuda.ErrNoDriver) && !errors.Is(err, cuda.ErrNoDevice) && !errors.Is(err, cuda.ErrNoNVRTC) {
		t.Fatalf("New without a GPU: %v, want ErrNoDriver, ErrNoDevice or ErrNoNVRTC", err)
	}
	var logs bytes.Buffer
	be := OpenOrCPU(Options{}, 1, slog.New(slog.NewTextHandler(&logs, nil)))
	if !strings.HasPrefix(be.Name(), "cpu") {
		t.Fatalf("fallback backend is %q, want the CPU backend", be.Name())
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "using the CPU backend") || !strings.Contains(lines[0], "cuda") {
		t.Errorf("fallback logged %q, want one line naming the reason", logs.String())
	}
	// The fallback really computes: one op through it.
	x := be.NewTensor(1, 3)
	be.Upload(x, []float32{-1, 2, -3})
	be.ReLU(x)
	out := make([]float32, 3)
	be.Download(out, x)
	if out[0] != 0 || out[1] != 2 || out[2] != 0 {
		t.Errorf("ReLU through the fallback: %v", out)
	}
}

func TestSplitK(t *testing.T) {
	for _, c := range []struct{ cols, rows, sms, want int }{
		{112, 512, 132, 8},  // 4096 in (q4: 512 packed rows), 14336 out on an H200
		{112, 512, 16, 2},   // the same on Orin (16 SMs)
		{32, 1792, 132, 28}, // 14336 in, 4096 out: at most 64 packed rows per block
		{32, 16, 132, 1},    // too few rows to split
		{1, 8, 0, 1},
	} {
		if got := splitK(c.cols, c.rows, c.sms); got != c.want {
			t.Errorf("splitK(%d, %d, %d) = %d, want %d", c.cols, c.rows, c.sms, got, c.want)
		}
	}
}

func TestConformance(t *testing.T) {
	be := gpuForTest(t, Options{CacheF32: true})
	backendtest.Run(t, be)
}

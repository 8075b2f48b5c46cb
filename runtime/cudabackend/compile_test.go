package cudabackend

import (
	"bytes"
	"os"
	"testing"

	"github.com/rpiq/rpiq/device/cuda"
	cudakernels "github.com/rpiq/rpiq/kernels/cuda"
)

func nvrtcForTest(t *testing.T) *cuda.NVRTC {
	t.Helper()
	nv, err := cuda.LoadNVRTC()
	if err != nil {
		if cuda.NVRTCRequired() {
			t.Fatalf("NVRTC required (RPIQ_REQUIRE_NVRTC=1 or CI=true): %v", err)
		}
		t.Skipf("no NVRTC (run scripts/fetch-nvrtc.sh, set %s; CI sets RPIQ_REQUIRE_NVRTC=1): %v", cuda.NVRTCEnv, err)
	}
	return nv
}

// TestEveryKernelCompiles builds every kernel file for Jetson Orin (sm_87) and Hopper (sm_90) as
// CUBIN, which runs ptxas too (register limits, mma shapes), and for sm_87 as PTX, and checks that each
// listed kernel is in the output. A kernel that does not compile fails CI.
func TestEveryKernelCompiles(t *testing.T) {
	nv := nvrtcForTest(t)
	for _, arch := range []int{87, 90} {
		for _, f := range cudakernels.Files() {
			p := Program(f)
			cubin, log, err := nv.Compile(p, cuda.Target{Arch: arch})
			if err != nil {
				t.Errorf("%s sm_%d: %v", f.Name, arch, err)
				continue
			}
			if log != "" {
				t.Errorf("%s sm_%d: warnings:\n%s", f.Name, arch, log)
			}
			for _, k := range f.Kernels {
				if !bytes.Contains(cubin, []byte(".text."+k+"\x00")) {
					t.Errorf("%s sm_%d: CUBIN has no code for %s", f.Name, arch, k)
				}
			}
			if arch != 87 {
				continue
			}
			// PTX is what a GPU newer than this NVRTC gets (the driver JIT-compiles it).
			ptx, _, err := nv.Compile(p, cuda.Target{Arch: arch, PTX: true})
			if err != nil {
				t.Errorf("%s compute_%d: %v", f.Name, arch, err)
				continue
			}
			for _, k := range f.Kernels {
				if !bytes.Contains(ptx, []byte(".entry "+k+"(")) {
					t.Errorf("%s compute_%d: PTX has no .entry %s", f.Name, arch, k)
				}
			}
		}
	}
}

// TestCompileAllUsesTheCache fills the test binary's shared kernel cache for sm_90 under driver
// 12000, which is what the emulated backend (emu_test.go) asks for, so it compiles nothing.
func TestCompileAllUsesTheCache(t *testing.T) {
	nv := nvrtcForTest(t)
	testCacheOnce.Do(func() { testCacheDir, _ = os.MkdirTemp("", "rpiq-kernels-") })
	cache := cuda.Cache{Dir: testCacheDir}
	tgt := cuda.Target{Arch: 90}
	first, err := CompileAll(nv, cache, tgt, 12000)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != len(cudakernels.Files()) {
		t.Fatalf("%d images for %d files", len(first), len(cudakernels.Files()))
	}
	major, minor := nv.Version()
	for _, f := range cudakernels.Files() {
		if b, ok := cache.Get(cuda.Key(Program(f), tgt, major, minor, 12000), tgt); !ok || !bytes.Equal(b, first[f.Name]) {
			t.Errorf("%s is not in the cache under its key", f.Name)
		}
	}
	again, err := CompileAll(nv, cache, tgt, 12000)
	if err != nil || len(again) != len(first) {
		t.Fatalf("second CompileAll: %d images, %v", len(again), err)
	}
}

func TestFilesForSkipsTensorCoresBeforeAmpere(t *testing.T) {
	for _, f := range filesFor(75) {
		if f.Name == "gemm.cu" {
			t.Error("gemm.cu (mma.sync) is built for sm_75")
		}
	}
	if len(filesFor(87)) != len(cudakernels.Files()) {
		t.Error("sm_87 does not get every file")
	}
}

func TestTargetFor(t *testing.T) {
	nv := nvrtcForTest(t)
	if got := TargetFor(nv, 87); got != (cuda.Target{Arch: 87}) {
		t.Errorf("TargetFor(87) = %v, want a CUBIN for sm_87", got)
	}
	// A GPU newer than this NVRTC: PTX for the newest architecture it knows.
	got := TargetFor(nv, 1000)
	if !got.PTX || got.Arch >= 1000 || got.Arch < 90 {
		t.Errorf("TargetFor(1000) = %v, want PTX for NVRTC's newest architecture", got)
	}
}

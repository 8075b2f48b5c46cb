package cudabackend

import (
	"bytes"
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

func TestCompileAllUsesTheCache(t *testing.T) {
	nv := nvrtcForTest(t)
	cache := cuda.Cache{Dir: t.TempDir()}
	tgt := cuda.Target{Arch: 87}
	first, err := CompileAll(nv, cache, tgt, 12060)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != len(cudakernels.Files()) {
		t.Fatalf("%d images for %d files", len(first), len(cudakernels.Files()))
	}
	for _, f := range cudakernels.Files() {
		key := cuda.Key(Program(f), tgt, func() int { m, _ := nv.Version(); return m }(), func() int { _, m := nv.Version(); return m }(), 12060)
		if b, ok := cache.Get(key, tgt); !ok || !bytes.Equal(b, first[f.Name]) {
			t.Errorf("%s is not in the cache under its key", f.Name)
		}
	}
	// A pre-Ampere target skips the tensor-core file.
	old, err := CompileAll(nv, cache, cuda.Target{Arch: 75, PTX: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := old["gemm.cu"]; ok {
		t.Error("gemm.cu (mma.sync) was built for sm_75")
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

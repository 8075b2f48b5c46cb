package cuda

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// nvrtcForTest loads NVRTC or skips (fails under NVRTCRequired).
func nvrtcForTest(t *testing.T) *NVRTC {
	t.Helper()
	n, err := LoadNVRTC()
	if err != nil {
		if NVRTCRequired() {
			t.Fatalf("NVRTC required (RPIQ_REQUIRE_NVRTC=1 or CI=true): %v", err)
		}
		t.Skipf("no NVRTC (run scripts/fetch-nvrtc.sh and set %s): %v", NVRTCEnv, err)
	}
	return n
}

func TestNVRTCMissingLibrary(t *testing.T) {
	_, err := loadNVRTC("/nonexistent/libnvrtc.so.11.2")
	if !errors.Is(err, ErrNoNVRTC) || !strings.Contains(err.Error(), NVRTCEnv+"=/nonexistent/libnvrtc.so.11.2") {
		t.Fatalf("got %v, want ErrNoNVRTC naming the override", err)
	}
}

const saxpy = `
#include "helpers.cuh"
extern "C" __global__ void saxpy(float a, const float* x, float* y, int n) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) y[i] = twice(a) * x[i] + y[i];
}`

var helpers = Header{Name: "helpers.cuh", Source: "__device__ inline float twice(float v) { return 2.0f * v; }\n"}

func TestNVRTCCompiles(t *testing.T) {
	n := nvrtcForTest(t)
	if major, _ := n.Version(); major < 11 {
		t.Fatalf("NVRTC version %d", major)
	}
	archs, err := n.SupportedArchs()
	if err != nil {
		t.Fatal(err)
	}
	if !containsInt(archs, 87) || !containsInt(archs, 90) {
		t.Errorf("supported archs %v lack 87 or 90", archs)
	}
	p := Program{Name: "saxpy.cu", Source: saxpy, Headers: []Header{helpers}}
	ptx, _, err := n.Compile(p, Target{Arch: 87, PTX: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(ptx, []byte(".entry saxpy")) || !bytes.Contains(ptx, []byte(".target sm_87")) {
		t.Errorf("PTX lacks the entry or target:\n%s", ptx)
	}
	cubin, _, err := n.Compile(p, Target{Arch: 90})
	if err != nil {
		t.Fatal(err)
	}
	// CUBINs are ELF with a private e_version that debug/elf refuses; each kernel has a
	// .text.<name> section holding its machine code.
	if !bytes.HasPrefix(cubin, []byte("\x7fELF")) || !bytes.Contains(cubin, []byte(".text.saxpy\x00")) {
		t.Error("CUBIN is not ELF or has no .text.saxpy section")
	}
}

func TestNVRTCCompileErrorCarriesLog(t *testing.T) {
	n := nvrtcForTest(t)
	_, _, err := n.Compile(Program{Name: "bad.cu", Source: "extern \"C\" __global__ void k() { undefined_thing = 1; }"}, Target{Arch: 87, PTX: true})
	var ce *Error
	if !errors.As(err, &ce) || ce.Name != "NVRTC_ERROR_COMPILATION" || ce.Code != 6 {
		t.Fatalf("got %v, want NVRTC_ERROR_COMPILATION", err)
	}
	if !strings.Contains(ce.Call, "bad.cu, compute_87") || !strings.Contains(ce.Log, `identifier "undefined_thing" is undefined`) {
		t.Errorf("error lacks the program or the log: %v", err)
	}
	// A missing header is the failure cuda_fp16.h would give: the kernels must not need one.
	_, _, err = n.Compile(Program{Name: "fp16.cu", Source: "#include <cuda_fp16.h>\n"}, Target{Arch: 87, PTX: true})
	if err == nil {
		t.Log("this NVRTC ships cuda_fp16.h")
	}
	// A bad option is its own error.
	_, _, err = n.Compile(Program{Name: "opt.cu", Source: saxpy, Headers: []Header{helpers}, Options: []string{"--no-such-option"}}, Target{Arch: 87, PTX: true})
	if !errors.As(err, &ce) || ce.Name != "NVRTC_ERROR_INVALID_OPTION" {
		t.Errorf("bad option: %v", err)
	}
}

func TestCompileCached(t *testing.T) {
	n := nvrtcForTest(t)
	c := Cache{Dir: t.TempDir()}
	p := Program{Name: "saxpy.cu", Source: saxpy, Headers: []Header{helpers}}
	tgt := Target{Arch: 87, PTX: true}
	a, hit, err := n.CompileCached(c, p, tgt, 0)
	if err != nil || hit {
		t.Fatalf("first compile: hit %v err %v", hit, err)
	}
	b, hit, err := n.CompileCached(c, p, tgt, 0)
	if err != nil || !hit || !bytes.Equal(a, b) {
		t.Fatalf("second compile: hit %v err %v equal %v", hit, err, bytes.Equal(a, b))
	}
	if _, hit, _ = n.CompileCached(c, p, tgt, 12060); hit {
		t.Error("a different driver version hit the cache")
	}
	entries, _ := filepath.Glob(filepath.Join(c.Dir, "*", "*"))
	for _, e := range entries {
		if strings.Contains(filepath.Base(e), ".tmp-") {
			t.Errorf("temporary file left in the cache: %s", e)
		}
	}
}

func TestCacheKeySeparatesInputs(t *testing.T) {
	p := Program{Name: "a.cu", Source: "x", Headers: []Header{{"h", "y"}}}
	base := Key(p, Target{Arch: 87}, 11, 8, 0)
	q := p
	q.Source = "x "
	h := p
	h.Headers = []Header{{"h", "y "}}
	o := p
	o.Options = []string{"-G"}
	for name, k := range map[string]string{
		"source": Key(q, Target{Arch: 87}, 11, 8, 0), "header": Key(h, Target{Arch: 87}, 11, 8, 0),
		"options": Key(o, Target{Arch: 87}, 11, 8, 0), "arch": Key(p, Target{Arch: 90}, 11, 8, 0),
		"ptx": Key(p, Target{Arch: 87, PTX: true}, 11, 8, 0), "nvrtc": Key(p, Target{Arch: 87}, 12, 0, 0),
		"driver": Key(p, Target{Arch: 87}, 11, 8, 12060),
	} {
		if k == base {
			t.Errorf("changing the %s does not change the key", name)
		}
	}
	if Key(p, Target{Arch: 87}, 11, 8, 0) != base {
		t.Error("the key is not deterministic")
	}
}

func TestCachePutIsAtomicAndReadable(t *testing.T) {
	c := Cache{Dir: filepath.Join(t.TempDir(), "nested")}
	key := Key(Program{Name: "k"}, Target{Arch: 87}, 11, 8, 0)
	if _, ok := c.Get(key, Target{Arch: 87}); ok {
		t.Fatal("hit in an empty cache")
	}
	if err := c.Put(key, Target{Arch: 87}, []byte("\x7fELF...")); err != nil {
		t.Fatal(err)
	}
	if b, ok := c.Get(key, Target{Arch: 87}); !ok || string(b) != "\x7fELF..." {
		t.Fatalf("Get after Put: %q %v", b, ok)
	}
	// Unwritable folder: Put fails with the path in the message.
	ro := Cache{Dir: "/proc/rpiq-cannot-write"}
	if err := ro.Put(key, Target{Arch: 87}, []byte("x")); err == nil || !strings.Contains(err.Error(), "kernel cache") {
		t.Errorf("Put into an unwritable folder: %v", err)
	}
}

func containsInt(xs []int, v int) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

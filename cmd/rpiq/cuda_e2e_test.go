package main

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/device/cuda"
	"github.com/rpiq/rpiq/internal/shareddata"
	cudakernels "github.com/rpiq/rpiq/kernels/cuda"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/llama2c"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/cudabackend"
	"github.com/rpiq/rpiq/runtime/model"
	"github.com/rpiq/rpiq/runtime/sample"
)

// TestStories260KOnEmulatedCUDA runs a real model (llama2.c's stories260K through the LLaMA
// code) on the CUDA backend driven by the CPU emulator of kernels/cuda, and checks it against
// the CPU backend: logits of a batched prompt (flash prefill, GEMMs) and a greedy continuation
// token by token (decode attention, GEMVs). It lives here because only cmd may import both
// models and the backends.
func TestStories260KOnEmulatedCUDA(t *testing.T) {
	if testing.Short() {
		t.Skip("emulated CUDA is slow; skipped in -short")
	}
	if _, err := exec.LookPath("g++"); err != nil {
		if cuda.NVRTCRequired() {
			t.Fatalf("g++ is needed for the CUDA emulator: %v", err)
		}
		t.Skip("no g++ for the CUDA emulator")
	}
	if _, err := cuda.LoadNVRTC(); err != nil {
		if cuda.NVRTCRequired() {
			t.Fatal(err)
		}
		t.Skipf("no NVRTC: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "stories260K")
	if err := llama2c.Convert(shareddata.Path(t, "llama2c/stories260K.bin"), shareddata.Path(t, "llama2c/tok512.bin"), dir); err != nil {
		t.Fatal(err)
	}
	lib, err := cudakernels.BuildEmulator(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	drv, err := cuda.LoadDriverFrom(lib)
	if err != nil {
		t.Fatal(err)
	}
	open := func(be backend.Backend) model.Model {
		m, _, closeM, err := hfmodel.Open(dir, be)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeM() })
		return m
	}
	cpuModel := open(cpubackend.New(1))
	prompt := []int32{1, 403, 407, 261, 378, 434, 270, 302, 285, 377, 266, 400, 282, 420, 271, 338}
	want, err := model.Logits(cpuModel, prompt)
	if err != nil {
		t.Fatal(err)
	}
	kernels := cuda.Cache{Dir: t.TempDir()}
	for _, c := range []struct {
		name string
		opts cudabackend.Options
		tol  float64 // relative to the largest |logit|
	}{
		{"f32 cache", cudabackend.Options{CacheF32: true, KernelCache: kernels}, 1e-4},
		{"f16 cache", cudabackend.Options{KernelCache: kernels}, 5e-3},
	} {
		be, err := cudabackend.NewWith(drv, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer be.Close()
		gpu := open(be)
		got, err := model.Logits(gpu, prompt)
		if err != nil {
			t.Fatal(err)
		}
		scale, worst := 0.0, 0.0
		for i := range want {
			scale = math.Max(scale, math.Abs(float64(want[i])))
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		}
		if worst > c.tol*scale {
			t.Errorf("%s: prompt logits differ by %.3g (bound %.3g)", c.name, worst, c.tol*scale)
		} else {
			t.Logf("%s: prompt logits within %.3g of the CPU backend's (bound %.3g)", c.name, worst, c.tol*scale)
		}
		// Greedy continuation, one token per forward pass, on both backends.
		greedy := func(m model.Model) []int32 {
			cache := m.NewCache(64)
			last, err := m.Forward(cache, prompt, false)
			if err != nil {
				t.Fatal(err)
			}
			var out []int32
			for len(out) < 12 {
				tok := int32(sample.Argmax(last))
				out = append(out, tok)
				if last, err = m.Forward(cache, []int32{tok}, false); err != nil {
					t.Fatal(err)
				}
			}
			return out
		}
		a, b := greedy(cpuModel), greedy(gpu)
		for i := range a {
			if a[i] != b[i] {
				t.Errorf("%s: greedy tokens %v on CUDA, %v on the CPU", c.name, b, a)
				break
			}
		}
	}
}

// `rpiq generate --device cuda` runs on the CUDA backend (here the emulator behind a fake
// libcuda named by RPIQ_CUDA_LIB) and prints the same greedy text as the CPU.
func TestGenerateDeviceCUDAOnEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("emulated CUDA is slow; skipped in -short")
	}
	if _, err := exec.LookPath("g++"); err != nil {
		if cuda.NVRTCRequired() {
			t.Fatalf("g++ is needed for the CUDA emulator: %v", err)
		}
		t.Skip("no g++ for the CUDA emulator")
	}
	if _, err := cuda.LoadNVRTC(); err != nil {
		if cuda.NVRTCRequired() {
			t.Fatal(err)
		}
		t.Skipf("no NVRTC: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "stories260K")
	if err := llama2c.Convert(shareddata.Path(t, "llama2c/stories260K.bin"), shareddata.Path(t, "llama2c/tok512.bin"), dir); err != nil {
		t.Fatal(err)
	}
	lib, err := cudakernels.BuildEmulator(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Each run is a child process: a driver library loaded into this process would stay there
	// (dlopen by soname) and turn the other tests' --device auto into the emulator.
	cache := t.TempDir()
	gen := func(device string) string {
		args := []string{"generate", "--model", dir, "--device", device, "--temperature", "0", "--max-tokens", "24"}
		cmd := exec.Command(os.Args[0], "-test.run=^TestGenerateChildProcess$")
		cmd.Env = append(os.Environ(), "RPIQ_GENERATE_CHILD_ARGS="+strings.Join(args, "\x1f"),
			"RPIQ_CUDA_LIB="+lib, cuda.CacheEnv+"="+cache)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("--device %s: %v: %s", device, err, errb.String())
		}
		return out.String()
	}
	cpuText, gpuText := gen("cpu"), gen("cuda")
	if cpuText != gpuText || len(cpuText) < 20 {
		t.Fatalf("--device cuda printed %q, --device cpu %q", gpuText, cpuText)
	}
}

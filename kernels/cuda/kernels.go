// Package cudakernels holds the project's CUDA C kernels as source, embedded in the binary and
// compiled at first use by NVRTC for the GPU at hand (the runtime's CUDA backend does that through
// device/cuda and caches the result on disk). It also holds float64 references of the kernels
// whose semantics are not the backend interface's own (the GPTQ-layout matmuls, sampling), so a
// GPU run can be checked against them.
//
// The sources use no CUDA toolkit header (NVRTC-only installs have none): half and bfloat16 are
// 16-bit structs converted with PTX cvt, see common.cuh. Every kernel is extern "C" so its PTX
// entry name is the name listed here.
package cudakernels

import (
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

//go:embed *.cu *.cuh
var sources embed.FS

// HeaderName is the file every kernel source includes.
const HeaderName = "common.cuh"

// File is one translation unit and the kernels it defines.
type File struct {
	Name    string
	Source  string
	Kernels []string
	// MinArch is the lowest sm_XY the file is meant for (tensor-core files need sm_80).
	MinArch int
}

// kernelsOf lists each file's entry points; a test checks it against the sources.
var kernelsOf = map[string]struct {
	kernels []string
	minArch int
}{
	"gemv.cu":        {[]string{"gemv_q4", "gemv_q8", "gemv_f32", "gemv_f16", "gemv_bf16"}, 70},
	"gemm.cu":        {[]string{"gemm_f32", "gemm_f16", "gemm_bf16", "gemm_q4", "gemm_q8", "mma_peak"}, 80},
	"norm.cu":        {[]string{"rmsnorm", "layernorm"}, 70},
	"rope.cu":        {[]string{"rope"}, 70},
	"attention.cu":   {[]string{"kv_store_f16", "kv_store_f32", "attention_decode_f16", "attention_decode_f32", "attention_prefill_f16", "attention_prefill_f32", "attention_decode_part_f16", "attention_decode_part_f32", "attention_decode_combine"}, 70},
	"elementwise.cu": {[]string{"add_f32", "add_bias", "silu_mul", "relu", "gelu", "gelu_tanh", "embedding_f32", "embedding_f16", "embedding_bf16", "f16_to_f32_array", "bf16_to_f32_array", "fill_random_u32", "im2col"}, 70},
	"sample.cu":      {[]string{"argmax", "sample_topk_topp"}, 70},
}

// Files returns every kernel source, sorted by name.
func Files() []File {
	var out []File
	for name, k := range kernelsOf {
		b, err := sources.ReadFile(name)
		if err != nil {
			panic(fmt.Sprintf("cudakernels: %s is listed but not embedded: %v", name, err))
		}
		out = append(out, File{Name: name, Source: string(b), Kernels: k.kernels, MinArch: k.minArch})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Header returns common.cuh's source.
func Header() string {
	b, err := sources.ReadFile(HeaderName)
	if err != nil {
		panic("cudakernels: common.cuh not embedded")
	}
	return string(b)
}

//go:embed emu/emu.h emu/emu.cpp
var emuSources embed.FS

// WriteEmulatorSources writes the CPU emulator (emu/emu.cpp, emu/emu.h: a fake libcuda that runs
// these kernels on CPU threads) and every kernel source into dir, ready for
//
//	g++ -std=c++20 -O1 -shared -fPIC -pthread -I dir dir/emu.cpp -o libcudaemu.so
func WriteEmulatorSources(dir string) error {
	write := func(fs embed.FS, from, to string) error {
		b, err := fs.ReadFile(from)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, to), b, 0o644)
	}
	for _, f := range []string{"emu.h", "emu.cpp"} {
		if err := write(emuSources, "emu/"+f, f); err != nil {
			return err
		}
	}
	for _, f := range append(Files(), File{Name: HeaderName}) {
		if err := write(sources, f.Name, f.Name); err != nil {
			return err
		}
	}
	return nil
}

// BuildEmulator writes the emulator's sources into dir and compiles them with g++ into
// dir/libcudaemu.so, a driver library for cuda.LoadDriverFrom that runs the kernels on CPU
// threads (tests only: it is slow, and says nothing about speed).
func BuildEmulator(dir string) (string, error) {
	if err := WriteEmulatorSources(dir); err != nil {
		return "", err
	}
	lib := filepath.Join(dir, "libcudaemu.so")
	cmd := exec.Command("g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-Wall", "-Wno-unknown-pragmas",
		"-Wno-sign-compare", "-I", dir, filepath.Join(dir, "emu.cpp"), "-o", lib)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &EmulatorBuildError{Err: err, Output: string(out)}
	}
	return lib, nil
}

// EmulatorBuildError is a failed g++ run: the kernels or the emulator do not compile as C++.
type EmulatorBuildError struct {
	Err    error
	Output string
}

func (e *EmulatorBuildError) Error() string { return "g++ emu.cpp: " + e.Err.Error() + "\n" + e.Output }

// Options are the NVRTC options every file is compiled with (besides the architecture). No
// fast-math: the backend's conformance tolerances (1e-5) need IEEE expf/erff/sqrtf.
func Options() []string { return []string{"--std=c++17"} }

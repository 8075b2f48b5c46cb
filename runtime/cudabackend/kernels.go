package cudabackend

import (
	"fmt"

	"github.com/rpiq/rpiq/device/cuda"
	cudakernels "github.com/rpiq/rpiq/kernels/cuda"
)

// Program turns a kernel file into an NVRTC program with the shared header.
func Program(f cudakernels.File) cuda.Program {
	return cuda.Program{
		Name:    f.Name,
		Source:  f.Source,
		Headers: []cuda.Header{{Name: cudakernels.HeaderName, Source: cudakernels.Header()}},
		Options: cudakernels.Options(),
	}
}

// TargetFor picks the code to build for a GPU of compute capability arch: a CUBIN when this NVRTC
// knows the architecture (no JIT at load), else PTX for the newest architecture it knows, which
// the driver JIT-compiles for the newer GPU.
func TargetFor(nv *cuda.NVRTC, arch int) cuda.Target {
	archs, err := nv.SupportedArchs()
	if err != nil || len(archs) == 0 {
		return cuda.Target{Arch: arch, PTX: true}
	}
	best := 0
	for _, a := range archs {
		if a == arch {
			return cuda.Target{Arch: arch}
		}
		if a < arch && a > best {
			best = a
		}
	}
	if best == 0 {
		best = arch
	}
	return cuda.Target{Arch: best, PTX: true}
}

// CompileAll compiles every kernel file for t through the cache. Files whose MinArch is above
// t.Arch are skipped (the tensor-core GEMM on a pre-Ampere GPU).
func CompileAll(nv *cuda.NVRTC, cache cuda.Cache, t cuda.Target, driverVersion int) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range filesFor(t.Arch) {
		img, _, err := nv.CompileCached(cache, Program(f), t, driverVersion)
		if err != nil {
			return nil, fmt.Errorf("cudabackend: compiling %s for %s: %w", f.Name, t, err)
		}
		out[f.Name] = img
	}
	return out, nil
}

// filesFor lists the kernel files meant for architecture arch.
func filesFor(arch int) []cudakernels.File {
	var out []cudakernels.File
	for _, f := range cudakernels.Files() {
		if arch >= f.MinArch {
			out = append(out, f)
		}
	}
	return out
}

// Kernels are the loaded entry points by name.
type Kernels struct {
	modules []cuda.Module
	fn      map[string]cuda.Function
}

// LoadKernels compiles (or takes from the cache) and loads every kernel file on c's device.
func LoadKernels(c *cuda.Ctx, nv *cuda.NVRTC, cache cuda.Cache, info cuda.Info) (*Kernels, error) {
	images, err := CompileAll(nv, cache, TargetFor(nv, info.Arch()), info.DriverVersion)
	if err != nil {
		return nil, err
	}
	k := &Kernels{fn: map[string]cuda.Function{}}
	for _, f := range cudakernels.Files() {
		img, ok := images[f.Name]
		if !ok {
			continue
		}
		m, err := c.LoadModule(img)
		if err != nil {
			return nil, fmt.Errorf("cudabackend: loading %s: %w", f.Name, err)
		}
		k.modules = append(k.modules, m)
		for _, name := range f.Kernels {
			fn, err := c.Function(m, name)
			if err != nil {
				return nil, fmt.Errorf("cudabackend: %s: %w", f.Name, err)
			}
			k.fn[name] = fn
		}
	}
	return k, nil
}

// Get returns a kernel by name; a missing one is a programming error of this package.
func (k *Kernels) Get(name string) cuda.Function {
	f, ok := k.fn[name]
	if !ok {
		panic("cudabackend: kernel " + name + " is not loaded")
	}
	return f
}

// Has reports whether a kernel was loaded (the tensor-core ones need sm_80).
func (k *Kernels) Has(name string) bool { _, ok := k.fn[name]; return ok }

package cuda

import (
	"fmt"
	"os"
	"sync"

	"github.com/ebitengine/purego"
)

// Driver is the CUDA driver API, bound once. Its zero value is unusable; get one from LoadDriver.
type Driver struct {
	lib string // the library that was opened, for messages

	cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGet, cuDeviceGetName     uintptr
	cuDeviceGetAttribute, cuDeviceTotalMem, cuDevicePrimaryCtxRetain               uintptr
	cuDevicePrimaryCtxRelease, cuCtxSetCurrent, cuCtxSynchronize                   uintptr
	cuMemAlloc, cuMemFree, cuMemAllocHost, cuMemFreeHost, cuMemGetInfo             uintptr
	cuMemcpyHtoD, cuMemcpyDtoH, cuMemcpyDtoD, cuMemcpyHtoDAsync, cuMemcpyDtoHAsync uintptr
	cuMemcpyDtoDAsync, cuMemsetD8, cuMemsetD32Async                                uintptr
	cuStreamCreate, cuStreamDestroy, cuStreamSynchronize                           uintptr
	cuEventCreate, cuEventDestroy, cuEventRecord, cuEventSynchronize               uintptr
	cuEventElapsedTime                                                             uintptr
	cuModuleLoadData, cuModuleUnload, cuModuleGetFunction, cuFuncSetAttribute      uintptr
	cuLaunchKernel                                                                 uintptr
	cuStreamBeginCapture, cuStreamEndCapture, cuGraphInstantiateWithFlags          uintptr
	cuGraphLaunch, cuGraphExecDestroy, cuGraphDestroy                              uintptr
}

// driverCandidates are tried in order: the driver's soname, then the development link name.
var driverCandidates = []string{"libcuda.so.1", "libcuda.so"}

// DriverEnv names the environment variable that points at a specific libcuda file.
const DriverEnv = "RPIQ_CUDA_LIB"

var (
	driverOnce sync.Once
	driverVal  *Driver
	driverErr  error
)

// LoadDriver opens libcuda once per process: the file named by RPIQ_CUDA_LIB when set, else
// libcuda.so.1. Without an NVIDIA driver the error wraps ErrNoDriver.
func LoadDriver() (*Driver, error) {
	driverOnce.Do(func() {
		if p := os.Getenv(DriverEnv); p != "" {
			driverVal, driverErr = LoadDriverFrom(p)
			return
		}
		driverVal, driverErr = loadDriver(driverCandidates)
	})
	return driverVal, driverErr
}

// LoadDriverFrom opens a driver library by path (each call opens it anew): another install
// location, or the CPU emulator of kernels/cuda/emu that the tests build.
func LoadDriverFrom(path string) (*Driver, error) { return loadDriver([]string{path}) }

func loadDriver(candidates []string) (*Driver, error) {
	h, name, err := openLibrary(candidates)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDriver, err)
	}
	return newDriver(name, dlsymTable(h))
}

// newDriver binds every entry point from sym; the versioned _v2 names are the ones cuda.h's
// macros select, so binding the plain names would call the old 32-bit ABI.
func newDriver(lib string, sym symbolTable) (*Driver, error) {
	d := &Driver{lib: lib}
	syms := []symbol{
		{"cuInit", &d.cuInit, false},
		{"cuDriverGetVersion", &d.cuDriverGetVersion, false},
		{"cuDeviceGetCount", &d.cuDeviceGetCount, false},
		{"cuDeviceGet", &d.cuDeviceGet, false},
		{"cuDeviceGetName", &d.cuDeviceGetName, false},
		{"cuDeviceGetAttribute", &d.cuDeviceGetAttribute, false},
		{"cuDeviceTotalMem_v2", &d.cuDeviceTotalMem, false},
		{"cuDevicePrimaryCtxRetain", &d.cuDevicePrimaryCtxRetain, false},
		{"cuDevicePrimaryCtxRelease_v2", &d.cuDevicePrimaryCtxRelease, false},
		{"cuCtxSetCurrent", &d.cuCtxSetCurrent, false},
		{"cuCtxSynchronize", &d.cuCtxSynchronize, false},
		{"cuMemAlloc_v2", &d.cuMemAlloc, false},
		{"cuMemFree_v2", &d.cuMemFree, false},
		{"cuMemAllocHost_v2", &d.cuMemAllocHost, false},
		{"cuMemFreeHost", &d.cuMemFreeHost, false},
		{"cuMemGetInfo_v2", &d.cuMemGetInfo, false},
		{"cuMemcpyHtoD_v2", &d.cuMemcpyHtoD, false},
		{"cuMemcpyDtoH_v2", &d.cuMemcpyDtoH, false},
		{"cuMemcpyDtoD_v2", &d.cuMemcpyDtoD, false},
		{"cuMemcpyHtoDAsync_v2", &d.cuMemcpyHtoDAsync, false},
		{"cuMemcpyDtoHAsync_v2", &d.cuMemcpyDtoHAsync, false},
		{"cuMemcpyDtoDAsync_v2", &d.cuMemcpyDtoDAsync, false},
		{"cuMemsetD8_v2", &d.cuMemsetD8, false},
		{"cuMemsetD32Async", &d.cuMemsetD32Async, false},
		{"cuStreamCreate", &d.cuStreamCreate, false},
		{"cuStreamDestroy_v2", &d.cuStreamDestroy, false},
		{"cuStreamSynchronize", &d.cuStreamSynchronize, false},
		{"cuEventCreate", &d.cuEventCreate, false},
		{"cuEventDestroy_v2", &d.cuEventDestroy, false},
		{"cuEventRecord", &d.cuEventRecord, false},
		{"cuEventSynchronize", &d.cuEventSynchronize, false},
		{"cuEventElapsedTime", &d.cuEventElapsedTime, false},
		{"cuModuleLoadData", &d.cuModuleLoadData, false},
		{"cuModuleUnload", &d.cuModuleUnload, false},
		{"cuModuleGetFunction", &d.cuModuleGetFunction, false},
		{"cuFuncSetAttribute", &d.cuFuncSetAttribute, false},
		{"cuLaunchKernel", &d.cuLaunchKernel, false},
		// Graphs (CUDA 11.4+); without them the decode step is launched kernel by kernel.
		{"cuStreamBeginCapture_v2", &d.cuStreamBeginCapture, true},
		{"cuStreamEndCapture", &d.cuStreamEndCapture, true},
		{"cuGraphInstantiateWithFlags", &d.cuGraphInstantiateWithFlags, true},
		{"cuGraphLaunch", &d.cuGraphLaunch, true},
		{"cuGraphExecDestroy", &d.cuGraphExecDestroy, true},
		{"cuGraphDestroy", &d.cuGraphDestroy, true},
	}
	if err := bindSymbols(lib, sym, syms); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDriver, err)
	}
	return d, nil
}

// call invokes fn and turns its CUresult into an *Error naming the call. uintptrescapes moves
// anything whose address is passed here to the heap, so a stack copy cannot leave C writing to a
// stale address.
//
//go:uintptrescapes
func (d *Driver) call(name string, fn uintptr, args ...uintptr) error {
	if fn == 0 {
		return fmt.Errorf("%w: %s is missing from %s", ErrUnsupported, name, d.lib)
	}
	r, _, _ := purego.SyscallN(fn, args...)
	return cuError(name, r)
}

// Library reports which file was opened.
func (d *Driver) Library() string { return d.lib }

// SupportsGraphs reports whether stream capture and graph launch are available.
func (d *Driver) SupportsGraphs() bool {
	return d.cuStreamBeginCapture != 0 && d.cuStreamEndCapture != 0 && d.cuGraphInstantiateWithFlags != 0 &&
		d.cuGraphLaunch != 0 && d.cuGraphExecDestroy != 0 && d.cuGraphDestroy != 0
}

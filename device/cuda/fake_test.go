package cuda

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// fakeDriver is a CUDA driver made of Go callbacks, reached through the same purego.SyscallN path
// as the real one. Device memory is a map of Go byte slices keyed by fake addresses. Callbacks
// are never freed, so the table is built once and its behaviour is switched through fields.
type fakeDriver struct {
	mu         sync.Mutex
	fail       map[string]int // symbol → CUresult to return
	devices    int
	budget     int // bytes cuMemAlloc may hand out before CUDA_ERROR_OUT_OF_MEMORY
	next       uint64
	mem        map[uint64][]byte
	allocs     int
	frees      int
	launches   []fakeLaunch
	paramCount int // how many kernel parameters the fake "kernel" reads
	missing    map[string]bool
}

type fakeLaunch struct {
	fn          uintptr
	grid, block [3]uint32
	shared      uint32
	stream      uintptr
	params      []uint64
}

var (
	fake      = &fakeDriver{}
	fakeOnce  sync.Once
	fakeTable map[string]uintptr
)

func (f *fakeDriver) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = map[string]int{}
	f.devices = 1
	f.budget = 1 << 20
	f.next = 0x10000
	f.mem = map[uint64][]byte{}
	f.allocs, f.frees = 0, 0
	f.launches = nil
	f.paramCount = 0
	f.missing = map[string]bool{}
}

func (f *fakeDriver) result(name string) uintptr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return uintptr(f.fail[name])
}

func put32(p uintptr, v int32)        { *(*int32)(ptrOf(p)) = v }
func put64(p uintptr, v uint64)       { *(*uint64)(ptrOf(p)) = v }
func bytesAt(p uintptr, n int) []byte { return unsafe.Slice((*byte)(ptrOf(p)), n) }

// find returns the fake allocation holding device address a.
func (f *fakeDriver) find(a uint64, n int) []byte {
	for base, b := range f.mem {
		if a >= base && a+uint64(n) <= base+uint64(len(b)) {
			return b[a-base : a-base+uint64(n)]
		}
	}
	panic(fmt.Sprintf("fake driver: %#x+%d is not device memory", a, n))
}

func buildFakeTable() map[string]uintptr {
	ok := func(name string) func() uintptr { return func() uintptr { return fake.result(name) } }
	cb := purego.NewCallback
	t := map[string]uintptr{
		"cuInit":             cb(func(flags uintptr) uintptr { return fake.result("cuInit") }),
		"cuDriverGetVersion": cb(func(p uintptr) uintptr { put32(p, 12060); return fake.result("cuDriverGetVersion") }),
		"cuDeviceGetCount": cb(func(p uintptr) uintptr {
			put32(p, int32(fake.devices))
			return fake.result("cuDeviceGetCount")
		}),
		"cuDeviceGet": cb(func(p, ord uintptr) uintptr { put32(p, int32(ord)); return fake.result("cuDeviceGet") }),
		"cuDeviceGetName": cb(func(p, n, dev uintptr) uintptr {
			copy(bytesAt(p, int(n)), "Fake Orin\x00")
			return fake.result("cuDeviceGetName")
		}),
		"cuDeviceGetAttribute": cb(func(p, attr, dev uintptr) uintptr {
			v := map[uintptr]int32{attrComputeCapabilityMajor: 8, attrComputeCapabilityMinor: 7, attrMultiprocessorCount: 16}[attr]
			put32(p, v)
			return fake.result("cuDeviceGetAttribute")
		}),
		"cuDeviceTotalMem_v2":          cb(func(p, dev uintptr) uintptr { put64(p, 8<<30); return fake.result("cuDeviceTotalMem_v2") }),
		"cuDevicePrimaryCtxRetain":     cb(func(p, dev uintptr) uintptr { put64(p, 0xC0); return fake.result("cuDevicePrimaryCtxRetain") }),
		"cuDevicePrimaryCtxRelease_v2": cb(func(dev uintptr) uintptr { return fake.result("cuDevicePrimaryCtxRelease_v2") }),
		"cuCtxSetCurrent":              cb(func(h uintptr) uintptr { return fake.result("cuCtxSetCurrent") }),
		"cuCtxSynchronize":             cb(ok("cuCtxSynchronize")),
		"cuMemAlloc_v2": cb(func(p, n uintptr) uintptr {
			if r := fake.result("cuMemAlloc_v2"); r != 0 {
				return r
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			used := 0
			for _, b := range fake.mem {
				used += len(b)
			}
			if used+int(n) > fake.budget {
				return cudaErrorOutOfMemory
			}
			a := fake.next
			fake.next += uint64(n+255) &^ 255
			fake.mem[a] = make([]byte, n)
			fake.allocs++
			put64(p, a)
			return 0
		}),
		"cuMemFree_v2": cb(func(a uintptr) uintptr {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if _, ok := fake.mem[uint64(a)]; !ok {
				return 1 // CUDA_ERROR_INVALID_VALUE
			}
			delete(fake.mem, uint64(a))
			fake.frees++
			return 0
		}),
		"cuMemAllocHost_v2": cb(func(p, n uintptr) uintptr { return 2 }),
		"cuMemFreeHost":     cb(func(p uintptr) uintptr { return 0 }),
		"cuMemGetInfo_v2": cb(func(free, total uintptr) uintptr {
			put64(free, 1<<20)
			put64(total, 8<<30)
			return fake.result("cuMemGetInfo_v2")
		}),
		"cuMemcpyHtoD_v2": cb(func(dst, src, n uintptr) uintptr {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			copy(fake.find(uint64(dst), int(n)), bytesAt(src, int(n)))
			return 0
		}),
		"cuMemcpyDtoH_v2": cb(func(dst, src, n uintptr) uintptr {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			copy(bytesAt(dst, int(n)), fake.find(uint64(src), int(n)))
			return 0
		}),
		"cuMemcpyDtoD_v2":      cb(func(dst, src, n uintptr) uintptr { return 0 }),
		"cuMemcpyHtoDAsync_v2": cb(func(dst, src, n, s uintptr) uintptr { return 0 }),
		"cuMemcpyDtoHAsync_v2": cb(func(dst, src, n, s uintptr) uintptr { return 0 }),
		"cuMemcpyDtoDAsync_v2": cb(func(dst, src, n, s uintptr) uintptr { return 0 }),
		"cuMemsetD8_v2":        cb(func(dst, v, n uintptr) uintptr { return 0 }),
		"cuMemsetD32Async":     cb(func(dst, v, n, s uintptr) uintptr { return 0 }),
		"cuStreamCreate":       cb(func(p, flags uintptr) uintptr { put64(p, 0x5); return fake.result("cuStreamCreate") }),
		"cuStreamDestroy_v2":   cb(func(s uintptr) uintptr { return 0 }),
		"cuStreamSynchronize":  cb(func(s uintptr) uintptr { return fake.result("cuStreamSynchronize") }),
		"cuEventCreate":        cb(func(p, flags uintptr) uintptr { put64(p, 0xE); return 0 }),
		"cuEventDestroy_v2":    cb(func(e uintptr) uintptr { return 0 }),
		"cuEventRecord":        cb(func(e, s uintptr) uintptr { return 0 }),
		"cuEventSynchronize":   cb(func(e uintptr) uintptr { return 0 }),
		"cuEventElapsedTime": cb(func(p, a, b uintptr) uintptr {
			*(*float32)(ptrOf(p)) = 1.5
			return 0
		}),
		"cuModuleLoadData": cb(func(p, image uintptr) uintptr {
			put64(p, 0x3)
			return fake.result("cuModuleLoadData")
		}),
		"cuModuleUnload": cb(func(m uintptr) uintptr { return 0 }),
		"cuModuleGetFunction": cb(func(p, m, name uintptr) uintptr {
			if goString(name, 256) == "missing_kernel" {
				return 500 // CUDA_ERROR_NOT_FOUND
			}
			put64(p, 0xF0)
			return 0
		}),
		"cuFuncSetAttribute": cb(func(f, attr, v uintptr) uintptr { return 0 }),
		"cuLaunchKernel": cb(func(f, gx, gy, gz, bx, by, bz, shm, s, params, extra uintptr) uintptr {
			if r := fake.result("cuLaunchKernel"); r != 0 {
				return r
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			l := fakeLaunch{fn: f, grid: [3]uint32{uint32(gx), uint32(gy), uint32(gz)},
				block: [3]uint32{uint32(bx), uint32(by), uint32(bz)}, shared: uint32(shm), stream: s}
			ptrs := unsafe.Slice((*uintptr)(ptrOf(params)), fake.paramCount)
			for _, p := range ptrs {
				l.params = append(l.params, *(*uint64)(ptrOf(p)))
			}
			fake.launches = append(fake.launches, l)
			return 0
		}),
		"cuStreamBeginCapture_v2":     cb(func(s, mode uintptr) uintptr { return fake.result("cuStreamBeginCapture_v2") }),
		"cuStreamEndCapture":          cb(func(s, p uintptr) uintptr { put64(p, 0x6); return 0 }),
		"cuGraphInstantiateWithFlags": cb(func(p, g, flags uintptr) uintptr { put64(p, 0x7); return 0 }),
		"cuGraphLaunch":               cb(func(g, s uintptr) uintptr { return fake.result("cuGraphLaunch") }),
		"cuGraphExecDestroy":          cb(func(g uintptr) uintptr { return 0 }),
		"cuGraphDestroy":              cb(func(g uintptr) uintptr { return 0 }),
	}
	return t
}

// fakeSymbols returns the table as a symbolTable, honouring fake.missing.
func fakeSymbols() symbolTable {
	fakeOnce.Do(func() { fakeTable = buildFakeTable() })
	return func(name string) (uintptr, error) {
		fake.mu.Lock()
		gone := fake.missing[name]
		fake.mu.Unlock()
		p, ok := fakeTable[name]
		if !ok || gone {
			return 0, fmt.Errorf("undefined symbol: %s", name)
		}
		return p, nil
	}
}

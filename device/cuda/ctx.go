package cuda

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/ebitengine/purego"
)

// DevPtr is a device address (CUdeviceptr).
type DevPtr uint64

// Ctx is the device's context as seen from its owning thread. Use it only inside Device.Run.
type Ctx struct {
	drv      *Driver
	handle   uintptr // CUcontext
	dev      int32   // CUdevice
	pool     pool
	arena    *launchArena
	pin      runtime.Pinner
	closeErr error
}

// maxParams bounds a kernel's parameter count; our kernels take at most a couple of dozen.
const maxParams = 48

// launchArena holds kernel parameters for cuLaunchKernel: vals are the values, ptrs the void*
// array pointing at them. It is pinned for the context's life and reused by every launch: the
// driver copies the parameters during the call (and into the graph node during capture).
type launchArena struct {
	vals [maxParams]uint64
	ptrs [maxParams]uintptr
}

func newCtx(d *Driver, h uintptr, dev int32) *Ctx {
	c := &Ctx{drv: d, handle: h, dev: dev, arena: new(launchArena)}
	c.pool = pool{alloc: c.rawAlloc, free: c.rawFree, live: map[DevPtr]int{}, free_: map[int][]DevPtr{}}
	c.pin.Pin(c.arena)
	for i := range c.arena.vals {
		c.arena.ptrs[i] = uintptr(unsafe.Pointer(&c.arena.vals[i]))
	}
	return c
}

func (c *Ctx) release() {
	c.closeErr = c.pool.trim()
	c.pin.Unpin()
	if err := c.drv.call("cuDevicePrimaryCtxRelease_v2", c.drv.cuDevicePrimaryCtxRelease, uintptr(c.dev)); err != nil && c.closeErr == nil {
		c.closeErr = err
	}
}

// Synchronize waits for all work on the context.
func (c *Ctx) Synchronize() error { return c.drv.call("cuCtxSynchronize", c.drv.cuCtxSynchronize) }

// MemInfo returns the device's free and total memory in bytes.
func (c *Ctx) MemInfo() (free, total uint64, err error) {
	err = c.drv.call("cuMemGetInfo_v2", c.drv.cuMemGetInfo, uintptr(unsafe.Pointer(&free)), uintptr(unsafe.Pointer(&total)))
	return
}

// ---- memory ----

func (c *Ctx) rawAlloc(n int) (DevPtr, error) {
	var p DevPtr
	err := c.drv.call("cuMemAlloc_v2", c.drv.cuMemAlloc, uintptr(unsafe.Pointer(&p)), uintptr(n))
	return p, err
}

func (c *Ctx) rawFree(p DevPtr) error { return c.drv.call("cuMemFree_v2", c.drv.cuMemFree, uintptr(p)) }

// Alloc returns n bytes of device memory from the pool (256-byte aligned, contents undefined).
func (c *Ctx) Alloc(n int) (DevPtr, error) { return c.pool.get(n) }

// Free returns p to the pool for reuse; it stays allocated on the device until TrimPool.
func (c *Ctx) Free(p DevPtr) error { return c.pool.put(p) }

// TrimPool hands every cached block back to the driver.
func (c *Ctx) TrimPool() error { return c.pool.trim() }

// PoolStats reports the bytes in use and the bytes cached for reuse.
func (c *Ctx) PoolStats() (inUse, cached int) { return c.pool.inUse, c.pool.cached }

// CopyToDevice copies a Go slice into device memory (synchronously).
func CopyToDevice[T any](c *Ctx, dst DevPtr, src []T) error {
	if len(src) == 0 {
		return nil
	}
	n := len(src) * int(unsafe.Sizeof(src[0]))
	return c.drv.call("cuMemcpyHtoD_v2", c.drv.cuMemcpyHtoD, uintptr(dst), uintptr(unsafe.Pointer(&src[0])), uintptr(n))
}

// CopyToDeviceAsync copies a Go slice into device memory in stream order. The driver stages
// pageable memory before it returns, so src may be reused at once; a synchronous copy would run
// on the legacy stream, which a non-blocking stream's kernels do not wait for. Not for use while
// s is being captured (the graph would keep the Go address).
func CopyToDeviceAsync[T any](c *Ctx, dst DevPtr, src []T, s Stream) error {
	if len(src) == 0 {
		return nil
	}
	n := len(src) * int(unsafe.Sizeof(src[0]))
	return c.drv.call("cuMemcpyHtoDAsync_v2", c.drv.cuMemcpyHtoDAsync, uintptr(dst), uintptr(unsafe.Pointer(&src[0])), uintptr(n), s.h)
}

// CopyFromDevice copies device memory into a Go slice (synchronously, after all prior work on
// the legacy default stream).
func CopyFromDevice[T any](c *Ctx, dst []T, src DevPtr) error {
	if len(dst) == 0 {
		return nil
	}
	n := len(dst) * int(unsafe.Sizeof(dst[0]))
	return c.drv.call("cuMemcpyDtoH_v2", c.drv.cuMemcpyDtoH, uintptr(unsafe.Pointer(&dst[0])), uintptr(src), uintptr(n))
}

// CopyDeviceAsync copies n bytes between device buffers on stream s.
func (c *Ctx) CopyDeviceAsync(dst, src DevPtr, n int, s Stream) error {
	return c.drv.call("cuMemcpyDtoDAsync_v2", c.drv.cuMemcpyDtoDAsync, uintptr(dst), uintptr(src), uintptr(n), s.h)
}

// Memset8 fills n bytes with b (synchronously).
func (c *Ctx) Memset8(dst DevPtr, b byte, n int) error {
	return c.drv.call("cuMemsetD8_v2", c.drv.cuMemsetD8, uintptr(dst), uintptr(b), uintptr(n))
}

// Memset32Async fills n 32-bit words with v on stream s.
func (c *Ctx) Memset32Async(dst DevPtr, v uint32, n int, s Stream) error {
	return c.drv.call("cuMemsetD32Async", c.drv.cuMemsetD32Async, uintptr(dst), uintptr(v), uintptr(n), s.h)
}

// HostBuffer is page-locked host memory: the only host memory async copies may use, since the
// copy runs after the call returns and Go memory could be gone or reused by then.
type HostBuffer struct {
	ptr uintptr
	n   int
}

// AllocHost allocates n bytes of page-locked host memory.
func (c *Ctx) AllocHost(n int) (HostBuffer, error) {
	var p uintptr
	if err := c.drv.call("cuMemAllocHost_v2", c.drv.cuMemAllocHost, uintptr(unsafe.Pointer(&p)), uintptr(n)); err != nil {
		return HostBuffer{}, err
	}
	return HostBuffer{ptr: p, n: n}, nil
}

// Bytes views the buffer (valid until FreeHost).
func (h HostBuffer) Bytes() []byte {
	if h.ptr == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(ptrOf(h.ptr)), h.n)
}

// FreeHost frees page-locked memory.
func (c *Ctx) FreeHost(h HostBuffer) error {
	return c.drv.call("cuMemFreeHost", c.drv.cuMemFreeHost, h.ptr)
}

// CopyToHostAsync copies n bytes from src into h on stream s.
func (c *Ctx) CopyToHostAsync(h HostBuffer, src DevPtr, n int, s Stream) error {
	if n > h.n {
		return fmt.Errorf("cuda: CopyToHostAsync of %d bytes into a %d-byte host buffer", n, h.n)
	}
	return c.drv.call("cuMemcpyDtoHAsync_v2", c.drv.cuMemcpyDtoHAsync, h.ptr, uintptr(src), uintptr(n), s.h)
}

// CopyFromHostAsync copies n bytes from h into dst on stream s.
func (c *Ctx) CopyFromHostAsync(dst DevPtr, h HostBuffer, n int, s Stream) error {
	if n > h.n {
		return fmt.Errorf("cuda: CopyFromHostAsync of %d bytes from a %d-byte host buffer", n, h.n)
	}
	return c.drv.call("cuMemcpyHtoDAsync_v2", c.drv.cuMemcpyHtoDAsync, uintptr(dst), h.ptr, uintptr(n), s.h)
}

// ---- streams and events ----

// Stream is a CUDA stream. The zero Stream is the legacy default stream (which cannot be captured).
type Stream struct{ h uintptr }

// NewStream creates a non-blocking stream.
func (c *Ctx) NewStream() (Stream, error) {
	var h uintptr
	err := c.drv.call("cuStreamCreate", c.drv.cuStreamCreate, uintptr(unsafe.Pointer(&h)), streamNonBlocking)
	return Stream{h}, err
}

// Sync waits for the stream's work.
func (c *Ctx) Sync(s Stream) error {
	return c.drv.call("cuStreamSynchronize", c.drv.cuStreamSynchronize, s.h)
}

// DestroyStream releases s.
func (c *Ctx) DestroyStream(s Stream) error {
	if s.h == 0 {
		return nil
	}
	return c.drv.call("cuStreamDestroy_v2", c.drv.cuStreamDestroy, s.h)
}

// Event is a CUDA event used for timing and ordering.
type Event struct{ h uintptr }

// NewEvent creates an event that records time.
func (c *Ctx) NewEvent() (Event, error) {
	var h uintptr
	err := c.drv.call("cuEventCreate", c.drv.cuEventCreate, uintptr(unsafe.Pointer(&h)), 0)
	return Event{h}, err
}

// Record enqueues e on s.
func (c *Ctx) Record(e Event, s Stream) error {
	return c.drv.call("cuEventRecord", c.drv.cuEventRecord, e.h, s.h)
}

// WaitEvent blocks the host until e has happened.
func (c *Ctx) WaitEvent(e Event) error {
	return c.drv.call("cuEventSynchronize", c.drv.cuEventSynchronize, e.h)
}

// Elapsed returns the milliseconds between two recorded, completed events.
func (c *Ctx) Elapsed(start, end Event) (float32, error) {
	var ms float32
	err := c.drv.call("cuEventElapsedTime", c.drv.cuEventElapsedTime, uintptr(unsafe.Pointer(&ms)), start.h, end.h)
	return ms, err
}

// DestroyEvent releases e.
func (c *Ctx) DestroyEvent(e Event) error {
	return c.drv.call("cuEventDestroy_v2", c.drv.cuEventDestroy, e.h)
}

// ---- modules and launches ----

// Module is a loaded CUBIN or PTX image.
type Module struct{ h uintptr }

// Function is a kernel entry point.
type Function struct {
	h    uintptr
	name string
}

// Name is the kernel's entry name.
func (f Function) Name() string { return f.name }

// LoadModule loads a CUBIN, or PTX text (a terminating NUL is added when missing).
func (c *Ctx) LoadModule(image []byte) (Module, error) {
	if len(image) == 0 {
		return Module{}, fmt.Errorf("cuda: LoadModule: empty image")
	}
	if !isELF(image) && image[len(image)-1] != 0 {
		image = append(image[:len(image):len(image)], 0)
	}
	var h uintptr
	err := c.drv.call("cuModuleLoadData", c.drv.cuModuleLoadData, uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&image[0])))
	return Module{h}, err
}

func isELF(b []byte) bool { return len(b) >= 4 && string(b[:4]) == "\x7fELF" }

// UnloadModule releases m.
func (c *Ctx) UnloadModule(m Module) error {
	return c.drv.call("cuModuleUnload", c.drv.cuModuleUnload, m.h)
}

// Function looks up a kernel (extern "C" name) in m.
func (c *Ctx) Function(m Module, name string) (Function, error) {
	var h uintptr
	cname := cString(name)
	if err := c.drv.call("cuModuleGetFunction", c.drv.cuModuleGetFunction, uintptr(unsafe.Pointer(&h)), m.h, uintptr(unsafe.Pointer(&cname[0]))); err != nil {
		if e, ok := err.(*Error); ok {
			e.Call += "(" + name + ")"
		}
		return Function{}, err
	}
	return Function{h: h, name: name}, nil
}

// SetMaxDynamicShared lets f use up to n bytes of dynamic shared memory (above 48 KiB needs it).
func (c *Ctx) SetMaxDynamicShared(f Function, n int) error {
	return c.drv.call("cuFuncSetAttribute", c.drv.cuFuncSetAttribute, f.h, funcAttrMaxDynamicSharedMem, uintptr(n))
}

// Dim3 is a grid or block shape.
type Dim3 struct{ X, Y, Z uint32 }

// D1 is a one-dimensional shape.
func D1(x int) Dim3 { return Dim3{uint32(x), 1, 1} }

// D2 is a two-dimensional shape.
func D2(x, y int) Dim3 { return Dim3{uint32(x), uint32(y), 1} }

// Kernel arguments are passed as 64-bit slots; each helper puts a C value in the low bytes (both
// amd64 and arm64 are little-endian, so a 4-byte parameter reads its low half).
func Ptr(p DevPtr) uint64  { return uint64(p) }
func I32(v int) uint64     { return uint64(uint32(int32(v))) }
func U32(v uint32) uint64  { return uint64(v) }
func F32(v float32) uint64 { return uint64(math.Float32bits(v)) }
func U64(v uint64) uint64  { return v }

// Launch enqueues f on s with the given parameters (see Ptr, I32, F32). This is the hot path: one
// purego.SyscallN, no allocation for the parameters.
func (c *Ctx) Launch(f Function, grid, block Dim3, sharedBytes int, s Stream, args ...uint64) error {
	if len(args) > maxParams {
		return fmt.Errorf("cuda: launch of %s with %d parameters (at most %d)", f.name, len(args), maxParams)
	}
	copy(c.arena.vals[:], args)
	r, _, _ := purego.SyscallN(c.drv.cuLaunchKernel, f.h,
		uintptr(grid.X), uintptr(grid.Y), uintptr(grid.Z),
		uintptr(block.X), uintptr(block.Y), uintptr(block.Z),
		uintptr(sharedBytes), s.h, uintptr(unsafe.Pointer(&c.arena.ptrs[0])), 0)
	if r != 0 {
		err := cuError("cuLaunchKernel", r).(*Error)
		err.Call += "(" + f.name + ")"
		return err
	}
	return nil
}

// ---- graphs ----

// Graph is an instantiated CUDA graph: a captured sequence of launches replayed with one call.
type Graph struct{ graph, exec uintptr }

// Relaxed: allocations (cuMemAlloc) stay allowed while a step is captured.
const captureModeRelaxed = 2

// BeginCapture starts recording s's work into a graph instead of running it.
func (c *Ctx) BeginCapture(s Stream) error {
	if s.h == 0 {
		return fmt.Errorf("cuda: BeginCapture: the legacy default stream cannot be captured; use NewStream")
	}
	return c.drv.call("cuStreamBeginCapture_v2", c.drv.cuStreamBeginCapture, s.h, captureModeRelaxed)
}

// EndCapture stops recording and instantiates the graph.
func (c *Ctx) EndCapture(s Stream) (*Graph, error) {
	g := &Graph{}
	if err := c.drv.call("cuStreamEndCapture", c.drv.cuStreamEndCapture, s.h, uintptr(unsafe.Pointer(&g.graph))); err != nil {
		return nil, err
	}
	if err := c.drv.call("cuGraphInstantiateWithFlags", c.drv.cuGraphInstantiateWithFlags, uintptr(unsafe.Pointer(&g.exec)), g.graph, 0); err != nil {
		_ = c.drv.call("cuGraphDestroy", c.drv.cuGraphDestroy, g.graph)
		return nil, err
	}
	return g, nil
}

// LaunchGraph replays g on s.
func (c *Ctx) LaunchGraph(g *Graph, s Stream) error {
	return c.drv.call("cuGraphLaunch", c.drv.cuGraphLaunch, g.exec, s.h)
}

// DestroyGraph releases g.
func (c *Ctx) DestroyGraph(g *Graph) error {
	err := c.drv.call("cuGraphExecDestroy", c.drv.cuGraphExecDestroy, g.exec)
	if e := c.drv.call("cuGraphDestroy", c.drv.cuGraphDestroy, g.graph); err == nil {
		err = e
	}
	return err
}

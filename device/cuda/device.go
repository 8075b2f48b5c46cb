package cuda

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Device attribute numbers from cuda.h's CUdevice_attribute.
const (
	attrMaxThreadsPerBlock      = 1
	attrMaxSharedPerBlock       = 8
	attrClockRate               = 13
	attrMultiprocessorCount     = 16
	attrMemoryClockRate         = 36
	attrGlobalMemoryBusWidth    = 37
	attrL2CacheSize             = 38
	attrComputeCapabilityMajor  = 75
	attrComputeCapabilityMinor  = 76
	attrMaxSharedPerBlockOptin  = 97
	ctxSchedBlockingSync        = 0x04
	eventDisableTiming          = 0x2
	streamNonBlocking           = 0x1
	funcAttrMaxDynamicSharedMem = 8
)

// Info describes a device.
type Info struct {
	Ordinal           int
	Name              string
	Major, Minor      int // compute capability, e.g. 8.7 for Jetson Orin
	Multiprocessors   int
	TotalMemory       uint64
	MaxSharedPerBlock int // opt-in maximum of dynamic shared memory per block
	MemoryBusBits     int
	MemoryClockKHz    int
	DriverVersion     int // e.g. 12060 for CUDA 12.6
}

// Arch is the compute capability as NVRTC's sm_XY number (87, 90, ...).
func (i Info) Arch() int { return i.Major*10 + i.Minor }

// Device is one GPU whose primary context is owned by a goroutine locked to its OS thread.
type Device struct {
	info Info
	work chan func()
	done chan struct{}
	ctx  *Ctx
	mu   sync.RWMutex // guards shut and the sends on work
	shut bool
}

// Count returns how many CUDA devices the driver sees. No driver → ErrNoDriver.
func Count() (int, error) {
	d, err := LoadDriver()
	if err != nil {
		return 0, err
	}
	return countDevices(d)
}

func countDevices(d *Driver) (int, error) {
	if err := d.call("cuInit", d.cuInit, 0); err != nil {
		return 0, err
	}
	var n int32
	if err := d.call("cuDeviceGetCount", d.cuDeviceGetCount, uintptr(unsafe.Pointer(&n))); err != nil {
		return 0, err
	}
	return int(n), nil
}

// Open takes device ordinal and makes its primary context current on a dedicated OS thread.
// Without a driver the error wraps ErrNoDriver; without a GPU it wraps ErrNoDevice.
func Open(ordinal int) (*Device, error) {
	d, err := LoadDriver()
	if err != nil {
		return nil, err
	}
	return openWith(d, ordinal)
}

// OpenWith is Open through a given driver (see LoadDriverFrom).
func OpenWith(d *Driver, ordinal int) (*Device, error) { return openWith(d, ordinal) }

func openWith(drv *Driver, ordinal int) (*Device, error) {
	dev := &Device{work: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go dev.own(drv, ordinal, started)
	if err := <-started; err != nil {
		return nil, err
	}
	return dev, nil
}

// own is the owning goroutine: it never unlocks its thread, so every driver call made through
// Run sees the same current context.
func (dev *Device) own(drv *Driver, ordinal int, started chan<- error) {
	runtime.LockOSThread()
	defer close(dev.done)
	ctx, info, err := initContext(drv, ordinal)
	if err != nil {
		started <- err
		return
	}
	dev.ctx, dev.info = ctx, info
	started <- nil
	for fn := range dev.work {
		fn()
	}
	ctx.release()
}

func initContext(d *Driver, ordinal int) (*Ctx, Info, error) {
	n, err := countDevices(d)
	if err != nil {
		return nil, Info{}, err
	}
	if n == 0 {
		return nil, Info{}, fmt.Errorf("%w: the driver (%s) sees no GPU", ErrNoDevice, d.lib)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, Info{}, fmt.Errorf("%w: ordinal %d, the driver sees %d device(s)", ErrNoDevice, ordinal, n)
	}
	var dev int32
	if err := d.call("cuDeviceGet", d.cuDeviceGet, uintptr(unsafe.Pointer(&dev)), uintptr(ordinal)); err != nil {
		return nil, Info{}, err
	}
	info := Info{Ordinal: ordinal}
	var name [256]byte
	if err := d.call("cuDeviceGetName", d.cuDeviceGetName, uintptr(unsafe.Pointer(&name[0])), uintptr(len(name)), uintptr(dev)); err != nil {
		return nil, Info{}, err
	}
	info.Name = goString(uintptr(unsafe.Pointer(&name[0])), len(name))
	attrs := []struct {
		attr int
		dst  *int
	}{
		{attrComputeCapabilityMajor, &info.Major}, {attrComputeCapabilityMinor, &info.Minor},
		{attrMultiprocessorCount, &info.Multiprocessors}, {attrMaxSharedPerBlockOptin, &info.MaxSharedPerBlock},
		{attrGlobalMemoryBusWidth, &info.MemoryBusBits}, {attrMemoryClockRate, &info.MemoryClockKHz},
	}
	for _, a := range attrs {
		var v int32
		if err := d.call("cuDeviceGetAttribute", d.cuDeviceGetAttribute, uintptr(unsafe.Pointer(&v)), uintptr(a.attr), uintptr(dev)); err != nil {
			return nil, Info{}, err
		}
		*a.dst = int(v)
	}
	var total uint64
	if err := d.call("cuDeviceTotalMem_v2", d.cuDeviceTotalMem, uintptr(unsafe.Pointer(&total)), uintptr(dev)); err != nil {
		return nil, Info{}, err
	}
	info.TotalMemory = total
	var ver int32
	if err := d.call("cuDriverGetVersion", d.cuDriverGetVersion, uintptr(unsafe.Pointer(&ver))); err != nil {
		return nil, Info{}, err
	}
	info.DriverVersion = int(ver)
	var h uintptr
	if err := d.call("cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain, uintptr(unsafe.Pointer(&h)), uintptr(dev)); err != nil {
		return nil, Info{}, err
	}
	if err := d.call("cuCtxSetCurrent", d.cuCtxSetCurrent, h); err != nil {
		_ = d.call("cuDevicePrimaryCtxRelease_v2", d.cuDevicePrimaryCtxRelease, uintptr(dev))
		return nil, Info{}, err
	}
	return newCtx(d, h, dev), info, nil
}

// Info returns what the device reported when it was opened.
func (dev *Device) Info() Info { return dev.info }

// Run executes fn on the device's thread with its context current and waits for it. Batch the
// work of a whole step into one Run: each Run costs a channel round trip. fn must not call Run.
func (dev *Device) Run(fn func(c *Ctx) error) error {
	reply := make(chan error, 1)
	job := func() {
		defer func() {
			if r := recover(); r != nil {
				reply <- fmt.Errorf("cuda: panic on the device thread: %v", r)
			}
		}()
		reply <- fn(dev.ctx)
	}
	dev.mu.RLock()
	if dev.shut {
		dev.mu.RUnlock()
		return ErrClosed
	}
	dev.work <- job
	dev.mu.RUnlock()
	return <-reply
}

// Close frees the pool, unpins the launch arena and releases the primary context. Objects made
// through the context must not be used afterwards.
func (dev *Device) Close() error {
	dev.mu.Lock()
	if dev.shut {
		dev.mu.Unlock()
		return nil
	}
	dev.shut = true
	close(dev.work)
	dev.mu.Unlock()
	<-dev.done
	return dev.ctx.closeErr
}

package cuda

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
)

func openFake(t *testing.T) (*Device, *Driver) {
	t.Helper()
	fake.reset()
	drv, err := newDriver("fake-libcuda", fakeSymbols())
	if err != nil {
		t.Fatal(err)
	}
	dev, err := openWith(drv, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev, drv
}

func TestNoDriverLibrary(t *testing.T) {
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		t.Skip("this machine has an NVIDIA device")
	}
	_, err := LoadDriver()
	if err == nil {
		t.Skip("a libcuda is installed here (perhaps a stub); nothing to test")
	}
	if !errors.Is(err, ErrNoDriver) {
		t.Fatalf("LoadDriver error %v does not wrap ErrNoDriver", err)
	}
	if !strings.Contains(err.Error(), "libcuda.so.1") {
		t.Errorf("error %q does not name libcuda.so.1", err)
	}
	if _, err := Open(0); !errors.Is(err, ErrNoDriver) {
		t.Errorf("Open without a driver: %v, want ErrNoDriver", err)
	}
	if _, err := Count(); !errors.Is(err, ErrNoDriver) {
		t.Errorf("Count without a driver: %v, want ErrNoDriver", err)
	}
}

func TestMissingSymbolNamed(t *testing.T) {
	fake.reset()
	fake.missing["cuMemAlloc_v2"] = true
	fake.missing["cuGraphLaunch"] = true // optional: must not be reported
	_, err := newDriver("fake-libcuda", fakeSymbols())
	if err == nil || !strings.Contains(err.Error(), "fake-libcuda lacks cuMemAlloc_v2") || strings.Contains(err.Error(), "cuGraphLaunch") {
		t.Fatalf("got %v, want an error naming only the required symbol cuMemAlloc_v2", err)
	}
	if !errors.Is(err, ErrNoDriver) {
		t.Errorf("%v does not wrap ErrNoDriver", err)
	}
}

func TestNoDevice(t *testing.T) {
	fake.reset()
	drv, err := newDriver("fake-libcuda", fakeSymbols())
	if err != nil {
		t.Fatal(err)
	}
	// A driver without a GPU: cuInit itself says CUDA_ERROR_NO_DEVICE.
	fake.fail["cuInit"] = cudaErrorNoDevice
	_, err = openWith(drv, 0)
	var ce *Error
	if !errors.Is(err, ErrNoDevice) || !errors.As(err, &ce) || ce.Call != "cuInit" || ce.Name != "CUDA_ERROR_NO_DEVICE" {
		t.Fatalf("got %v, want cuInit failing with CUDA_ERROR_NO_DEVICE", err)
	}
	if want := "cuda: cuInit failed: CUDA_ERROR_NO_DEVICE (100)"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	// A driver that initialises but counts no GPU.
	fake.fail["cuInit"] = 0
	fake.devices = 0
	if _, err = openWith(drv, 0); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("zero devices: %v, want ErrNoDevice", err)
	}
	fake.devices = 1
	if _, err = openWith(drv, 3); !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "ordinal 3") {
		t.Fatalf("bad ordinal: %v", err)
	}
}

func TestOpenReportsInfo(t *testing.T) {
	dev, _ := openFake(t)
	info := dev.Info()
	if info.Name != "Fake Orin" || info.Arch() != 87 || info.Multiprocessors != 16 || info.TotalMemory != 8<<30 || info.DriverVersion != 12060 {
		t.Fatalf("info %+v", info)
	}
}

func TestCopyRoundTripThroughFakeMemory(t *testing.T) {
	dev, _ := openFake(t)
	src := []float32{1, -2.5, 3.25, float32(math.Pi)}
	got := make([]float32, len(src))
	err := dev.Run(func(c *Ctx) error {
		p, err := c.Alloc(len(src) * 4)
		if err != nil {
			return err
		}
		if err := CopyToDevice(c, p, src); err != nil {
			return err
		}
		return CopyFromDevice(c, got, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range src {
		if got[i] != src[i] {
			t.Fatalf("round trip %v, want %v", got, src)
		}
	}
}

func TestPoolReusesAndTrimsOnOOM(t *testing.T) {
	dev, _ := openFake(t)
	err := dev.Run(func(c *Ctx) error {
		a, err := c.Alloc(1000)
		if err != nil {
			return err
		}
		if err := c.Free(a); err != nil {
			return err
		}
		b, err := c.Alloc(900) // same 1024-byte class: must reuse a
		if err != nil {
			return err
		}
		if b != a || fake.allocs != 1 {
			t.Errorf("Alloc after Free: got %#x (allocs %d), want reuse of %#x", b, fake.allocs, a)
		}
		if err := c.Free(b); err != nil {
			return err
		}
		if err := c.Free(b); err == nil {
			t.Error("double Free was accepted")
		}
		// Fill the cache, then ask for more than the device has left: the pool must trim and retry.
		fake.budget = 600 << 10
		x, err := c.Alloc(300 << 10)
		if err != nil {
			return err
		}
		if err := c.Free(x); err != nil {
			return err
		}
		y, err := c.Alloc(500 << 10)
		if err != nil {
			t.Errorf("Alloc after trim-and-retry failed: %v", err)
		}
		inUse, cached := c.PoolStats()
		if inUse != sizeClass(500<<10) || cached != 0 {
			t.Errorf("pool stats in use %d cached %d", inUse, cached)
		}
		_ = c.Free(y)
		// Truly out of memory: the error is named and matches ErrOutOfMemory.
		_, err = c.Alloc(2 << 20)
		var ce *Error
		if !errors.Is(err, ErrOutOfMemory) || !errors.As(err, &ce) || ce.Call != "cuMemAlloc_v2" {
			t.Errorf("OOM: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLaunchPassesParameters(t *testing.T) {
	dev, _ := openFake(t)
	fake.paramCount = 4
	err := dev.Run(func(c *Ctx) error {
		m, err := c.LoadModule([]byte("// ptx"))
		if err != nil {
			return err
		}
		f, err := c.Function(m, "gemv_q4")
		if err != nil {
			return err
		}
		s, err := c.NewStream()
		if err != nil {
			return err
		}
		return c.Launch(f, D2(448, 2), D1(256), 1024, s, Ptr(0xABCDEF0123), I32(-7), F32(0.5), U32(4096))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(fake.launches) != 1 {
		t.Fatalf("%d launches recorded", len(fake.launches))
	}
	l := fake.launches[0]
	if l.fn != 0xF0 || l.grid != [3]uint32{448, 2, 1} || l.block != [3]uint32{256, 1, 1} || l.shared != 1024 || l.stream != 0x5 {
		t.Errorf("launch shape %+v", l)
	}
	if l.params[0] != 0xABCDEF0123 || int32(uint32(l.params[1])) != -7 || math.Float32frombits(uint32(l.params[2])) != 0.5 || uint32(l.params[3]) != 4096 {
		t.Errorf("parameters %#x", l.params)
	}
}

func TestFailingCallsAreNamed(t *testing.T) {
	dev, _ := openFake(t)
	fake.fail["cuLaunchKernel"] = 719
	fake.fail["cuStreamSynchronize"] = 700
	err := dev.Run(func(c *Ctx) error {
		m, _ := c.LoadModule([]byte("x"))
		if _, err := c.Function(m, "missing_kernel"); err == nil || !strings.Contains(err.Error(), "cuModuleGetFunction(missing_kernel) failed: CUDA_ERROR_NOT_FOUND (500)") {
			t.Errorf("missing kernel: %v", err)
		}
		f, _ := c.Function(m, "rmsnorm")
		err := c.Launch(f, D1(1), D1(32), 0, Stream{})
		if err == nil || err.Error() != "cuda: cuLaunchKernel(rmsnorm) failed: CUDA_ERROR_LAUNCH_FAILED (719)" {
			t.Errorf("launch: %v", err)
		}
		if err := c.Sync(Stream{}); err == nil || !strings.Contains(err.Error(), "CUDA_ERROR_ILLEGAL_ADDRESS") {
			t.Errorf("sync: %v", err)
		}
		if err := c.Launch(f, D1(1), D1(1), 0, Stream{}, make([]uint64, maxParams+1)...); err == nil {
			t.Error("too many parameters accepted")
		}
		if _, err := c.AllocHost(16); err == nil || !strings.Contains(err.Error(), "cuMemAllocHost_v2") {
			t.Errorf("AllocHost: %v", err)
		}
		if _, err := c.LoadModule(nil); err == nil {
			t.Error("empty module image accepted")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGraphs(t *testing.T) {
	dev, drv := openFake(t)
	if !drv.SupportsGraphs() {
		t.Fatal("fake driver has graph symbols")
	}
	err := dev.Run(func(c *Ctx) error {
		if err := c.BeginCapture(Stream{}); err == nil {
			t.Error("capture of the legacy stream accepted")
		}
		s, _ := c.NewStream()
		if err := c.BeginCapture(s); err != nil {
			return err
		}
		g, err := c.EndCapture(s)
		if err != nil {
			return err
		}
		if err := c.LaunchGraph(g, s); err != nil {
			return err
		}
		return c.DestroyGraph(g)
	})
	if err != nil {
		t.Fatal(err)
	}
	// A driver without graph entry points loads, and says so when a graph is asked for.
	fake.missing["cuGraphLaunch"] = true
	old, err := newDriver("old-libcuda", fakeSymbols())
	if err != nil {
		t.Fatal(err)
	}
	if old.SupportsGraphs() {
		t.Error("SupportsGraphs with cuGraphLaunch missing")
	}
	odev, err := openWith(old, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer odev.Close()
	err = odev.Run(func(c *Ctx) error { return c.LaunchGraph(&Graph{}, Stream{}) })
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "cuGraphLaunch") {
		t.Errorf("graph launch on an old driver: %v", err)
	}
}

func TestRunAfterCloseAndPanics(t *testing.T) {
	dev, _ := openFake(t)
	if err := dev.Run(func(c *Ctx) error { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panic on the device thread: %v", err)
	}
	if err := dev.Run(func(c *Ctx) error { return nil }); err != nil {
		t.Errorf("device unusable after a recovered panic: %v", err)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dev.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := dev.Run(func(c *Ctx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
}

func TestSizeClass(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 4096, 4097, 5000, 1 << 20, 1<<20 + 1, 3 << 30} {
		checkSizeClass(t, n)
	}
}

func checkSizeClass(t *testing.T, n int) {
	c := sizeClass(n)
	if c < n || c%256 != 0 {
		t.Fatalf("sizeClass(%d) = %d: below n or not 256-aligned", n, c)
	}
	if n > 4096 && float64(c-n) > float64(n)/8 {
		t.Fatalf("sizeClass(%d) = %d wastes more than 1/8", n, c)
	}
	if sizeClass(c) != c {
		t.Fatalf("sizeClass(%d) = %d is not a fixed point", n, c)
	}
}

func FuzzSizeClass(f *testing.F) {
	f.Add(uint32(1))
	f.Add(uint32(4097))
	f.Add(uint32(1<<31 - 1))
	f.Fuzz(func(t *testing.T, n uint32) { checkSizeClass(t, int(n)) })
}

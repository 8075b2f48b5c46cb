package cuda

import (
	"testing"

	"github.com/ebitengine/purego"
)

// BenchmarkLaunch is the Go side of a kernel launch: filling the pinned parameter arena and one
// purego.SyscallN with cuLaunchKernel's 11 arguments, into libc's abs (which reads the first, 0
// here, and returns it: CUDA_SUCCESS) so the number is the binding's cost, not a driver's.
func BenchmarkLaunch(b *testing.B) {
	libc, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW)
	if err != nil {
		b.Skip(err)
	}
	abs, err := purego.Dlsym(libc, "abs")
	if err != nil {
		b.Skip(err)
	}
	fake.reset()
	drv, err := newDriver("fake-libcuda", fakeSymbols())
	if err != nil {
		b.Fatal(err)
	}
	dev, err := openWith(drv, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	drv.cuLaunchKernel = abs
	err = dev.Run(func(c *Ctx) error {
		f := Function{h: 0, name: "bench"}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := c.Launch(f, D2(112, 8), Dim3{32, 8, 1}, 0, Stream{}, Ptr(1), Ptr(2), Ptr(3), Ptr(4), Ptr(5), Ptr(6), Ptr(7),
				I32(4096), I32(14336), I32(128), I32(1), I32(0)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRun is one round trip to the device thread, what each backend op pays on top of its
// launch (a captured step pays it once per token).
func BenchmarkRun(b *testing.B) {
	fake.reset()
	drv, err := newDriver("fake-libcuda", fakeSymbols())
	if err != nil {
		b.Fatal(err)
	}
	dev, err := openWith(drv, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := dev.Run(func(c *Ctx) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

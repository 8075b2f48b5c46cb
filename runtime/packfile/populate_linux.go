package packfile

import (
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// readAnon reads the first size bytes of f into anonymous memory outside the Go heap, in
// transparent huge pages where the kernel allows (MADV_HUGEPAGE, then MADV_POPULATE_WRITE so the
// pages are made in one pass in the kernel, not one fault at a time). Measured on the 1B shape on
// this VM (docs/BENCHMARKS.md): decoding from the file mapped in place cost about 1.7× the CPU per
// token of weights in anonymous memory, and 4 KiB pages cost a fault each (~260,000, seconds of
// system time here); one copy into huge pages costs less than either.
func readAnon(f *os.File, size int) ([]byte, func() error, error) {
	b, err := cpu.MapAnon(size)
	if err != nil {
		return nil, nil, err
	}
	_ = unix.Madvise(b, unix.MADV_POPULATE_WRITE) // Linux 5.14+; else the reads fault pages in
	const parts = 2
	var wg sync.WaitGroup
	errs := make([]error, parts)
	chunk := (size/parts + 4095) &^ 4095
	for i := 0; i < parts; i++ {
		lo, hi := min(i*chunk, size), min((i+1)*chunk, size)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = io.ReadFull(io.NewSectionReader(f, int64(lo), int64(hi-lo)), b[lo:hi])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			cpu.Unmap(b)
			return nil, nil, err
		}
	}
	return b, func() error { return cpu.Unmap(b) }, nil
}

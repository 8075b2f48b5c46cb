package packfile

import "golang.org/x/sys/unix"

// populate maps every page of b in now (MADV_POPULATE_READ, Linux 5.14+; best effort), so the
// first forward pass does not take a page fault per 64 KiB of weights: a loader that opens the
// pack while it parses the tokenizer on another core gets that work done in parallel.
func populate(b []byte) {
	if len(b) > 0 {
		_ = unix.Madvise(b, unix.MADV_POPULATE_READ)
	}
}

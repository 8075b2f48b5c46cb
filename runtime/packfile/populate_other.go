//go:build !linux

package packfile

import (
	"io"
	"os"
)

// readAnon reads the first size bytes of f into memory.
func readAnon(f *os.File, size int) ([]byte, func() error, error) {
	b := alignedBytes(size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, nil, err
	}
	return b, func() error { return nil }, nil
}

//go:build !linux

package packfile

// populate does nothing here: the first use faults pages in.
func populate([]byte) {}

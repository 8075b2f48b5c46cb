//go:build !linux

package cpu

import "errors"

// MapAnon is Linux-only; elsewhere callers allocate in the heap instead.
func MapAnon(n int) ([]byte, error) {
	return nil, errors.New("cpu: anonymous mappings are Linux-only here")
}

// Unmap releases memory from MapAnon.
func Unmap(b []byte) error { return nil }

// MakeHuge is make: transparent huge pages are Linux-only.
func MakeHuge[T any](n int) []T { return make([]T, n) }

package cpu

import "testing"

// MakeHuge gives a slice of the length asked, zero, and writable end to end, for element sizes
// that do and do not divide 2 MiB, below and above the size it advises from.
func TestMakeHuge(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 1 << 20, 3<<20 + 7} {
		f := MakeHuge[float32](n)
		b := MakeHuge[[3]byte](n)
		if len(f) != n || len(b) != n {
			t.Fatalf("n=%d: lengths %d, %d", n, len(f), len(b))
		}
		for i := range f {
			if f[i] != 0 || b[i] != [3]byte{} {
				t.Fatalf("n=%d: element %d not zero", n, i)
			}
			f[i], b[i] = 1, [3]byte{1, 2, 3}
		}
	}
}

package cpu

import (
	"testing"
	"time"
)

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

// BenchmarkFreshPages measures what writing memory costs the first time: one byte per 4 KiB of
// a new 256 MiB mapping (fresh-GB/s), then of another mapped right after the first is unmapped
// (reused-GB/s: the kernel hands back the pages just freed). On a VM whose balloon reports
// freed pages to the host, the first is a host fault per page. Run it with -benchtime 1x: later
// iterations get pages the earlier ones freed.
func BenchmarkFreshPages(b *testing.B) {
	const size = 256 << 20
	touch := func() (float64, []byte) {
		m, err := MapAnon(size)
		if err != nil {
			b.Skip(err)
		}
		t0 := time.Now()
		for i := 0; i < size; i += 4096 {
			m[i] = 1
		}
		return size / time.Since(t0).Seconds() / 1e9, m
	}
	var fresh, reused float64
	for b.Loop() {
		f, m := touch()
		if err := Unmap(m); err != nil {
			b.Fatal(err)
		}
		r, m := touch()
		if err := Unmap(m); err != nil {
			b.Fatal(err)
		}
		fresh, reused = fresh+f, reused+r
	}
	b.ReportMetric(fresh/float64(b.N), "fresh-GB/s")
	b.ReportMetric(reused/float64(b.N), "reused-GB/s")
}

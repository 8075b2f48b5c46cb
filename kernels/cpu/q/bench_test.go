package q

import (
	"os"
	"regexp"
	"testing"
)

// BenchmarkKernels runs Bench (the same cases `rpiq bench` prints) for each variant this machine
// has: go test -run '^$' -bench Kernels ./kernels/cpu/q (RPIQ_BENCH_FILTER narrows the cases).
func BenchmarkKernels(b *testing.B) {
	var filter func(string) bool
	if f := os.Getenv("RPIQ_BENCH_FILTER"); f != "" {
		re := regexp.MustCompile(f)
		filter = re.MatchString
	}
	old := Active()
	defer Use(old)
	for _, k := range Kernels() {
		if k == "generic" && os.Getenv("RPIQ_BENCH_GENERIC") == "" {
			continue
		}
		b.Run(k, func(b *testing.B) {
			if err := Use(k); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				res, err := Bench(BenchOptions{Threads: []int{1, 2}, Filter: filter})
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					b.Log(r)
				}
			}
		})
	}
}

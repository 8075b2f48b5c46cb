package main

import (
	"fmt"

	"github.com/rpiq/rpiq/models/smolvlm"
)

func init() {
	benchSuites = append(benchSuites, benchSuite{"smolvlm", func(threads int, want func(string) bool) ([]fmt.Stringer, error) {
		rs, err := smolvlm.Bench(smolvlm.BenchOptions{Threads: threads, Filter: want})
		return stringers(rs), err
	}})
}

package main

import (
	"fmt"

	"github.com/rpiq/rpiq/models/cogvlm2"
)

func init() {
	benchSuites = append(benchSuites, benchSuite{"cogvlm2", func(threads int, want func(string) bool) ([]fmt.Stringer, error) {
		rs, err := cogvlm2.Bench(cogvlm2.BenchOptions{Threads: threads, Filter: want})
		return stringers(rs), err
	}})
}

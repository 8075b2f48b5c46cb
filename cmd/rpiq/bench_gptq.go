package main

import (
	"fmt"

	"github.com/rpiq/rpiq/models/llama"
)

// The quantized decode suite (issue 4): random 4-bit GPTQ models of Llama-3.2-1B's shape and,
// only when --filter names it (it needs ~10 GB while loading), Llama-3-8B's, through the same
// loader and kernels as a real checkpoint.
func init() {
	benchSuites = append(benchSuites, benchSuite{"gptq-decode", func(threads int, want func(string) bool) ([]fmt.Stringer, error) {
		filtered := !want("\x00no benchmark is named this") // no --filter: want matches everything
		var all []fmt.Stringer
		for _, s := range []llama.Shape{llama.ShapeLlama32_1B, llama.ShapeLlama3_8B} {
			if s == llama.ShapeLlama3_8B && !filtered {
				continue
			}
			rs, err := llama.BenchGPTQ(llama.BenchOptions{Shape: s, Threads: threads, Filter: want}, 4)
			if err != nil {
				return all, err
			}
			all = append(all, stringers(rs)...)
		}
		return all, nil
	}})
}

// Package bench holds the benchmark harnesses `rpiq bench` runs: random models of real shapes
// built in memory (dense and 4-bit LLaMA decode, CogVLM2 and SmolVLM vision + decode) and the
// kernel and quantizer suites, each reporting ARCHITECTURE.md's result format. They live here,
// not in the model packages (a model package is only its architecture) and not under runtime/
// (runtime may not import models). `go test -bench . ./bench` runs the small shapes.
package bench

import (
	"fmt"
	"os"
	"strconv"

	"github.com/rpiq/rpiq/kernels/cpu/q"
	"github.com/rpiq/rpiq/models/quant/quantbench"
)

// Suite is one group of benchmarks; Run returns its results (each a struct with the JSON fields
// of the result format and a String method for the text output), running only those whose name
// want accepts.
type Suite struct {
	Name string
	Run  func(threads int, want func(string) bool) ([]fmt.Stringer, error)
}

// Suites lists every suite in the order rpiq bench runs them.
func Suites() []Suite {
	return []Suite{
		{"kernels", func(threads int, want func(string) bool) ([]fmt.Stringer, error) {
			rs, err := q.Bench(q.BenchOptions{Threads: []int{threads}, Filter: want})
			return stringers(rs), err
		}},
		{"dense-decode", func(threads int, want func(string) bool) ([]fmt.Stringer, error) {
			rs, err := Llama(LlamaOptions{Threads: threads, Filter: want})
			return stringers(rs), err
		}},
		{"cogvlm2", func(threads int, want func(string) bool) ([]fmt.Stringer, error) {
			rs, err := CogVLM2(CogVLM2Options{Threads: threads, Filter: want})
			return stringers(rs), err
		}},
		// The quantized decode suite (issue 4): random 4-bit GPTQ models of Llama-3.2-1B's shape
		// and, only when a filter is given (it needs ~10 GB while loading), Llama-3-8B's, through
		// the same loader and kernels as a real checkpoint.
		{"gptq-decode", func(threads int, want func(string) bool) ([]fmt.Stringer, error) {
			filtered := !want("\x00no benchmark is named this") // no filter: want matches everything
			var all []fmt.Stringer
			for _, s := range []Shape{ShapeLlama32_1B, ShapeLlama3_8B} {
				if s == ShapeLlama3_8B && !filtered {
					continue
				}
				rs, err := LlamaGPTQ(LlamaOptions{Shape: s, Threads: threads, Filter: want}, 4)
				if err != nil {
					return all, err
				}
				all = append(all, stringers(rs)...)
			}
			return all, nil
		}},
		{"smolvlm", func(threads int, want func(string) bool) ([]fmt.Stringer, error) {
			rs, err := SmolVLM(SmolVLMOptions{Threads: threads, Filter: want})
			return stringers(rs), err
		}},
		{"quantize", quantize},
	}
}

// quantize is the quantizer's cost benchmark: RPIQ_BENCH_LAYERS (default 1) TinyLlama-shaped
// layers, RPIQ_BENCH_WINDOWS (default 8) windows of 512 tokens, with the extrapolation to the
// issue's 128 windows.
func quantize(threads int, want func(string) bool) ([]fmt.Stringer, error) {
	w, err := positiveEnv("RPIQ_BENCH_WINDOWS", 8)
	if err != nil {
		return nil, err
	}
	l, err := positiveEnv("RPIQ_BENCH_LAYERS", 1)
	if err != nil {
		return nil, err
	}
	o := quantbench.Options{Layers: l, Windows: w, Tokens: 512, Threads: threads}
	if !want(o.Name()) {
		return nil, nil
	}
	r, err := quantbench.Run(o)
	if err != nil {
		return nil, err
	}
	return []fmt.Stringer{r}, nil
}

// positiveEnv is the environment variable's positive integer, or def when it is unset.
func positiveEnv(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return 0, &BadEnv{Var: name, Value: s, Want: "a positive number"}
	}
	return v, nil
}

// BadEnv is an environment setting a benchmark cannot use (bad input: exit status 2).
type BadEnv struct{ Var, Value, Want string }

func (e *BadEnv) Error() string  { return fmt.Sprintf("%s=%q: want %s", e.Var, e.Value, e.Want) }
func (e *BadEnv) BadInput() bool { return true }

func stringers[T fmt.Stringer](rs []T) []fmt.Stringer {
	out := make([]fmt.Stringer, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

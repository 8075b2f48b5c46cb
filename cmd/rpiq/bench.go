package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/kernels/cpu/q"
	"github.com/rpiq/rpiq/models/llama"
)

func init() {
	register("bench", "kernel, quantizer and decode benchmarks on this machine", runBench)
}

// benchSuite is one group of benchmarks; run returns its results (each a struct with the JSON
// fields of ARCHITECTURE.md's result format and a String method for the text output).
type benchSuite struct {
	name string
	run  func(threads int, want func(string) bool) ([]fmt.Stringer, error)
}

// benchSuites lists every suite in the order they run; files for other parts append to it.
var benchSuites = []benchSuite{
	{"kernels", func(threads int, want func(string) bool) ([]fmt.Stringer, error) {
		rs, err := q.Bench(q.BenchOptions{Threads: []int{threads}, Filter: want})
		return stringers(rs), err
	}},
	{"dense-decode", func(threads int, want func(string) bool) ([]fmt.Stringer, error) {
		rs, err := llama.Bench(llama.BenchOptions{Threads: threads, Filter: want})
		return stringers(rs), err
	}},
}

func stringers[T fmt.Stringer](rs []T) []fmt.Stringer {
	out := make([]fmt.Stringer, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	filter := fs.String("filter", "", "run only benchmarks whose name matches this regular expression")
	threads := fs.Int("threads", 0, "worker threads (0: RPIQ_THREADS or the CPU count)")
	asJSON := fs.Bool("json", false, `print {"results": [...]} on stdout`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bench: unexpected arguments %v (select benchmarks with --filter REGEX)", fs.Args())
	}
	var re *regexp.Regexp
	if *filter != "" {
		var err error
		if re, err = regexp.Compile(*filter); err != nil {
			return usagef("--filter: %v", err)
		}
	}
	want := func(name string) bool { return re == nil || re.MatchString(name) }
	th := *threads
	if th <= 0 {
		th = cpu.DefaultThreads()
	}
	var all []fmt.Stringer
	for _, s := range benchSuites {
		fmt.Fprintf(stderr, "bench: %s...\n", s.name)
		rs, err := s.run(th, want)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		for _, r := range rs {
			if !*asJSON {
				fmt.Fprintln(stdout, r)
			}
		}
		all = append(all, rs...)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"results": all})
	}
	return nil
}

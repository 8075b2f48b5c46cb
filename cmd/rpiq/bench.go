package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"

	"github.com/rpiq/rpiq/bench"
	"github.com/rpiq/rpiq/kernels/cpu"
)

func init() {
	register("bench", "kernel, quantizer and decode benchmarks on this machine", runBench)
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
	for _, s := range bench.Suites() {
		fmt.Fprintf(stderr, "bench: %s...\n", s.Name)
		rs, err := s.Run(th, want)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
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

// Command assist is the wearable assistant: run (the daemon), ask (one question about one
// picture), check (validate a caregiver's configuration) and doctor (what works on this machine).
//
// It needs cgo and Debian packages (OpenCV, ALSA; eSpeak NG, Tesseract and PocketSphinx are
// loaded at run time): scripts/setup.sh installs them. Text results go to stdout; logs and
// timings to stderr. Exit status: 0 success, 1 runtime failure, 2 bad usage or bad input.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"syscall"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/imagefile"
	"github.com/rpiq/rpiq/assist/ocr"
)

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) error) {
	if _, dup := commands[name]; dup {
		panic("assist: duplicate command " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

// ErrBadInput marks errors caused by the user's input: exit status 2.
var ErrBadInput = errors.New("bad input")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// errReported is an error already printed in full (e.g. the problems of a config file).
type errReported struct{ err error }

func (e errReported) Error() string { return e.err.Error() }
func (e errReported) Unwrap() error { return e.err }

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("assist "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue), errors.Is(err, ErrBadInput), errors.Is(err, config.ErrBadConfig), errors.Is(err, imagefile.ErrBadImage):
		return 2
	default:
		return 1
	}
}

func main() {
	singleThreadOpenMP()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// singleThreadOpenMP re-executes the program with OMP_THREAD_LIMIT=1 unless the user set the
// OpenMP threads. OpenCV links libgomp, which reads the limit once at load time, before main;
// without it Tesseract's spinning OpenMP workers make OCR 3-10x slower on a busy 2-core device
// (measured: 0.7-1.2 s instead of 0.13 s for examples/sample.png).
func singleThreadOpenMP() {
	_, limit := os.LookupEnv("OMP_THREAD_LIMIT")
	_, num := os.LookupEnv("OMP_NUM_THREADS")
	if limit || num {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	syscall.Exec(exe, os.Args, append(os.Environ(), ocr.OMPThreadLimitEnv)) // returns only on failure
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "assist: unknown command %q\n", args[0])
		printUsage(stderr)
		return 2
	}
	err := c.run(args[1:], stdout, stderr)
	var rep errReported
	if err != nil && !errors.Is(err, flag.ErrHelp) && !errors.As(err, &rep) {
		fmt.Fprintf(stderr, "assist %s: %v\n", args[0], err)
	}
	return exitCode(err)
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: assist COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-7s %s\n", n, commands[n].summary)
	}
}

// loadConfig reads the configuration, or the defaults when path is empty. Problems are printed
// one per line (file:line: field: what is wrong) and returned as an errReported.
func loadConfig(path string, stderr io.Writer) (config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	cfg, err := config.Load(path)
	var ps config.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(stderr, p)
		}
		return cfg, errReported{err}
	}
	if err != nil {
		return cfg, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	return cfg, nil
}

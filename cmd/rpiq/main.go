// Command rpiq is the model tool: inspect, convert, tokenize, quantize, eval, generate, vqa,
// export and bench. It builds with CGO_ENABLED=0 and needs no system package.
//
// Each subcommand lives in its own file and registers itself in init(). Text results go to
// stdout; progress, timings and logs to stderr. Exit status: 0 success, 1 runtime failure, 2 bad
// usage or bad input.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
)

// command is one subcommand. run parses args itself (with newFlags) and returns an error;
// a *usageError or an error wrapping ErrBadInput exits with status 2.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) error) {
	if _, dup := commands[name]; dup {
		panic("rpiq: duplicate command " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

// ErrBadInput marks errors caused by the user's input (a bad file, a bad flag value):
// wrap it (fmt.Errorf("%w: ...", ErrBadInput)) or return a usageError to exit with status 2.
var ErrBadInput = errors.New("bad input")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rpiq "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// exitCode maps an error to the CLI contract's exit status.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue), errors.Is(err, ErrBadInput), isBadInput(err):
		return 2
	default:
		return 1
	}
}

// badInputChecks lets packages' error types count as bad input (e.g. a parse error naming a
// file); subcommand files append to it. Errors with a `BadInput() bool` method (the convention of
// models/hf, models/tokenizer and others) and missing files count without registering.
var badInputChecks []func(error) bool

type badInputer interface{ BadInput() bool }

func isBadInput(err error) bool {
	var b badInputer
	if errors.As(err, &b) && b.BadInput() {
		return true
	}
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	for _, f := range badInputChecks {
		if f(err) {
			return true
		}
	}
	return false
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
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
		fmt.Fprintf(stderr, "rpiq: unknown command %q\n", args[0])
		printUsage(stderr)
		return 2
	}
	err := c.run(args[1:], stdout, stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "rpiq %s: %v\n", args[0], err)
	}
	return exitCode(err)
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: rpiq COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
}

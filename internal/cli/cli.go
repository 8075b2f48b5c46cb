// Package cli is the subcommand plumbing both programs (rpiq, assist) share: a registry of
// commands, flag sets that report instead of exiting, and the exit-status contract of
// ARCHITECTURE.md (0 success, 1 runtime failure, 2 bad usage or bad input).
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
)

// ErrBadInput marks errors caused by the user's input (a bad file, a bad flag value): wrap it
// (fmt.Errorf("%w: ...", cli.ErrBadInput)) to exit with status 2.
var ErrBadInput = errors.New("bad input")

// UsageError is a mistake in the command line; it exits with status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError.
func Usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// Reported wraps an error the command has already printed in full (e.g. a config file's
// problems, one per line): Run does not print it again.
type Reported struct{ Err error }

func (e Reported) Error() string { return e.Err.Error() }
func (e Reported) Unwrap() error { return e.Err }

// RunFunc is one subcommand: it parses its own args and returns an error.
type RunFunc func(args []string, stdout, stderr io.Writer) error

type command struct {
	summary string
	run     RunFunc
}

// App is a program made of subcommands.
type App struct {
	name     string
	commands map[string]command
	badInput []func(error) bool
}

// New returns an empty program called name.
func New(name string) *App { return &App{name: name, commands: map[string]command{}} }

// Register adds a subcommand; a duplicate name is a programming error and panics.
func (a *App) Register(name, summary string, run RunFunc) {
	if _, dup := a.commands[name]; dup {
		panic(a.name + ": duplicate command " + name)
	}
	a.commands[name] = command{summary: summary, run: run}
}

// BadInputIf makes errors matching f exit with status 2, besides usage errors and ErrBadInput.
func (a *App) BadInputIf(f func(error) bool) { a.badInput = append(a.badInput, f) }

// NewFlags returns a flag set for a subcommand that reports errors instead of exiting.
func (a *App) NewFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(a.name+" "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// Parse parses args with fs; a flag the set does not define, a missing value or a value its
// type cannot parse ("--max-tokens 1e12") is bad use, exit status 2. flag has already printed
// the message and the usage, so the error is Reported. -h/--help stays flag.ErrHelp (status 0).
func Parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return Reported{Err: &UsageError{Msg: err.Error()}}
}

// ParseInterspersed is Parse for flags that may come before, between or after positional
// arguments ("rpiq inspect MODEL --json"), which flag.FlagSet alone stops at. It returns the
// positional arguments; everything after "--" is positional.
func ParseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := Parse(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// ExitCode maps an error to the exit-status contract.
func (a *App) ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue), errors.Is(err, ErrBadInput):
		return 2
	}
	for _, f := range a.badInput {
		if f(err) {
			return 2
		}
	}
	return 1
}

// Run dispatches args[0] to its subcommand, prints its error (unless Reported) and returns the
// exit status.
func (a *App) Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		a.PrintUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := a.commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n", a.name, args[0])
		a.PrintUsage(stderr)
		return 2
	}
	err := c.run(args[1:], stdout, stderr)
	var rep Reported
	if err != nil && !errors.Is(err, flag.ErrHelp) && !errors.As(err, &rep) {
		fmt.Fprintf(stderr, "%s %s: %v\n", a.name, args[0], err)
	}
	return a.ExitCode(err)
}

// Commands lists the subcommands' names, sorted (the exit-status tests run every one).
func (a *App) Commands() []string {
	names := make([]string, 0, len(a.commands))
	for n := range a.commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PrintUsage lists the subcommands with their summaries.
func (a *App) PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s COMMAND [flags]\n\ncommands:\n", a.name)
	names := make([]string, 0, len(a.commands))
	width := 0
	for n := range a.commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, a.commands[n].summary)
	}
}

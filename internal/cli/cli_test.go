package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestExitStatusContract(t *testing.T) {
	a := New("prog")
	errCustom := errors.New("custom bad input")
	a.BadInputIf(func(err error) bool { return errors.Is(err, errCustom) })
	results := map[string]error{
		"ok":       nil,
		"usage":    Usagef("--x is required"),
		"bad":      fmt.Errorf("%w: file.bin: truncated", ErrBadInput),
		"custom":   fmt.Errorf("wrapped: %w", errCustom),
		"failure":  errors.New("disk full"),
		"reported": Reported{fmt.Errorf("%w: 3 problems", ErrBadInput)},
	}
	for name, err := range results {
		a.Register(name, "returns "+name, func(args []string, stdout, stderr io.Writer) error { return err })
	}
	want := map[string]int{"ok": 0, "usage": 2, "bad": 2, "custom": 2, "failure": 1, "reported": 2}
	for name, code := range want {
		var out, errb bytes.Buffer
		if got := a.Run([]string{name}, &out, &errb); got != code {
			t.Errorf("%s: exit %d, want %d", name, got, code)
		}
		printed := strings.Contains(errb.String(), "prog "+name+":")
		if wantPrinted := code != 0 && name != "reported"; printed != wantPrinted {
			t.Errorf("%s: error printed %v, want %v (%q)", name, printed, wantPrinted, errb.String())
		}
	}
	var errb bytes.Buffer
	if got := a.Run(nil, io.Discard, &errb); got != 2 || !strings.Contains(errb.String(), "returns failure") {
		t.Errorf("no command: exit %d, usage %q", got, errb.String())
	}
	if got := a.Run([]string{"nope"}, io.Discard, io.Discard); got != 2 {
		t.Errorf("unknown command: exit %d", got)
	}
	if got := a.Run([]string{"--help"}, io.Discard, io.Discard); got != 0 {
		t.Errorf("--help: exit %d", got)
	}
}

// Issue 14: a flag value that did not parse ("--max-tokens 1e12") exited 1; every flag parse
// error is bad use (2), printed once (by flag), and -h is still 0.
func TestParseErrorsAreUsage(t *testing.T) {
	a := New("prog")
	a.Register("cmd", "parses flags", func(args []string, stdout, stderr io.Writer) error {
		fs := a.NewFlags("cmd", stderr)
		fs.Int("n", 0, "a number")
		pos, err := ParseInterspersed(fs, args)
		if err == nil && len(pos) != 1 {
			return Usagef("want one argument, got %v", pos)
		}
		return err
	})
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"cmd", "x", "-n", "3"}, 0},
		{[]string{"cmd", "-n", "1e12", "x"}, 2},
		{[]string{"cmd", "x", "-n"}, 2},
		{[]string{"cmd", "--nope", "x"}, 2},
		{[]string{"cmd", "x", "--", "-n"}, 2}, // two positional arguments
		{[]string{"cmd", "-h"}, 0},
	} {
		var errb bytes.Buffer
		if got := a.Run(c.args, io.Discard, &errb); got != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, got, c.code, errb.String())
		}
		if c.code == 2 && strings.Count(errb.String(), "prog cmd:") > 1 {
			t.Errorf("%v: error printed twice: %s", c.args, errb.String())
		}
	}
}

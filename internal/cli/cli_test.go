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

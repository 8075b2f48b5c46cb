package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/rpiq/rpiq/assist/config"
)

func init() { register("check", "validate a caregiver's configuration file", runCheck) }

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	path := fs.String("config", "", "configuration file (TOML)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		if fs.NArg() != 1 {
			return usagef("usage: assist check --config FILE")
		}
		*path = fs.Arg(0)
	}
	_, err := config.Load(*path)
	var ps config.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(stdout, p)
		}
		s := "s"
		if len(ps) == 1 {
			s = ""
		}
		fmt.Fprintf(stdout, "%s: %d problem%s; the assistant keeps its previous settings until they are fixed\n", *path, len(ps), s)
		return errReported{Err: err}
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	fmt.Fprintf(stdout, "%s: OK\n", *path)
	return nil
}

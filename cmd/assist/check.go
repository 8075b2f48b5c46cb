package main

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
)

func init() {
	register("check", "validate a caregiver's configuration file: its shape and what it means here (--deep loads the models)", runCheck)
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	path := fs.String("config", "", "configuration file (TOML)")
	deep := fs.Bool("deep", false, "also load what the settings name: OCR data, models, the speech recogniser, the voice (slower)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		if fs.NArg() != 1 {
			return usagef("usage: assist check [--deep] --config FILE")
		}
		*path = fs.Arg(0)
	} else if fs.NArg() != 0 {
		return usagef("usage: assist check [--deep] --config FILE")
	}
	cfg, err := config.Load(*path)
	var ps config.Problems
	if err != nil && !errors.As(err, &ps) {
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	// Then what it means on this machine (files, voice, language, models), also when some
	// values were wrong (those keep their defaults).
	ps = append(ps, config.Locate(*path, assist.CheckSettings(cfg, *deep, ps))...)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	if len(ps) > 0 {
		for _, p := range ps {
			fmt.Fprintln(stdout, p)
		}
		s := "s"
		if len(ps) == 1 {
			s = ""
		}
		fmt.Fprintf(stdout, "%s: %d problem%s; the assistant keeps its previous settings until they are fixed\n", *path, len(ps), s)
		return errReported{Err: fmt.Errorf("%w: %s has %d problem%s", ErrBadInput, *path, len(ps), s)}
	}
	what := "OK"
	if *deep {
		what = "OK (models, recogniser and voice loaded)"
	}
	fmt.Fprintf(stdout, "%s: %s\n", *path, what)
	for _, n := range assist.ModelNotes(cfg) {
		fmt.Fprintln(stdout, n)
	}
	return nil
}

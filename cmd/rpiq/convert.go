package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/rpiq/rpiq/internal/cli"
	"github.com/rpiq/rpiq/models/llama2c"
)

func init() {
	register("convert", "convert a llama2.c checkpoint into a Hugging Face LLaMA folder", runConvert)
}

func runConvert(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("convert", stderr)
	from := fl.String("from", "", "source format: llama2c")
	tok := fl.String("tokenizer", "", "llama2.c tokenizer.bin matching the checkpoint")
	out := fl.String("out", "", "output folder (must not exist); written atomically")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: rpiq convert --from llama2c CKPT --tokenizer TOK --out DIR")
		fl.PrintDefaults()
	}
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return err
	}
	switch {
	case *from != "llama2c":
		return usagef("convert: --from must be llama2c, got %q", *from)
	case len(pos) != 1:
		return usagef("convert: want one checkpoint file, got %d arguments", len(pos))
	case *tok == "":
		return usagef("convert: --tokenizer is required")
	case *out == "":
		return usagef("convert: --out is required")
	}
	// The finished folder is renamed into place from beside it: its parent must be writable.
	if err := cli.CheckOutputFolder(*out, false); err != nil {
		return err
	}
	sweepTarget(stderr, "convert", *out)
	stop := onInterrupt(stderr, "convert", func() string {
		// Made once no write can finish any more (tempfiles.Abandon): what is there now stays.
		if entries, err := os.ReadDir(*out); err == nil && len(entries) > 0 {
			return *out + " was written in full just before the signal: nothing to redo"
		}
		return *out + " was not created: run the same command again"
	})
	err = llama2c.Convert(pos[0], *tok, *out)
	stop()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		return err
	}
	rep, err := inspectModel(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s, %s parameters, %d tensors, %s\n", *out, rep.Architecture, humanCount(rep.Parameters), rep.Tensors, humanBytes(rep.Bytes))
	return nil
}

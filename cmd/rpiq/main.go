// Command rpiq is the model tool: inspect, convert, tokenize, quantize, eval, generate, vqa,
// export, bench and cuda. It builds with CGO_ENABLED=0 and needs no system package.
//
// Each subcommand lives in its own file and registers itself in init(). Text results go to
// stdout; progress, timings and logs to stderr. Exit status: 0 success, 1 runtime failure, 2 bad
// usage or bad input.
package main

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"runtime/pprof"

	"github.com/rpiq/rpiq/internal/cli"
	"github.com/rpiq/rpiq/models/hfmodel"
)

var app = cli.New("rpiq")

// The subcommand files use these names.
var (
	register    = app.Register
	newFlags    = app.NewFlags
	usagef      = cli.Usagef
	ErrBadInput = cli.ErrBadInput
	// parseFlags and parseInterspersed make every flag parse error exit status 2.
	parseFlags        = cli.Parse
	parseInterspersed = cli.ParseInterspersed
)

func init() {
	// Errors about a file's content carry BadInput() (models/hf, safetensors, llama2c,
	// tokenizer, cogvlm2, ...); a missing file is bad input too.
	app.BadInputIf(func(err error) bool {
		var b interface{ BadInput() bool }
		return errors.As(err, &b) && b.BadInput()
	})
	app.BadInputIf(func(err error) bool { return errors.Is(err, fs.ErrNotExist) })
}

func main() {
	// The command writes a GPTQ model's pre-packed layout beside it on its first load (RPIQ_PACK
	// to turn that off); library callers and tests only read existing ones.
	hfmodel.WritePacked = true
	if p := os.Getenv("RPIQ_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err == nil {
			pprof.StartCPUProfile(f)
		}
	}
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	pprof.StopCPUProfile()
	if interrupting.Load() {
		select {} // the signal handler prints how to resume and exits (interrupt.go)
	}
	os.Exit(code)
}

func run(args []string, stdout, stderr io.Writer) int { return app.Run(args, stdout, stderr) }

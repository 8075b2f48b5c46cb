// Command assist is the wearable assistant: run (the daemon), ask (one question about one
// picture), check (validate a caregiver's configuration) and doctor (what works on this machine).
//
// It needs cgo and Debian packages (OpenCV, ALSA; eSpeak NG, Tesseract and PocketSphinx are
// loaded at run time): scripts/setup.sh installs them. Text results go to stdout; logs and
// timings to stderr. Exit status: 0 success, 1 runtime failure, 2 bad usage or bad input.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/imagefile"
	"github.com/rpiq/rpiq/assist/ocr"
	"github.com/rpiq/rpiq/internal/cli"
	"github.com/rpiq/rpiq/internal/nativelog"
)

var app = cli.New("assist")

// The subcommand files use these names.
var (
	register    = app.Register
	newFlags    = app.NewFlags
	usagef      = cli.Usagef
	ErrBadInput = cli.ErrBadInput
	parseFlags  = cli.Parse // every flag parse error is exit status 2
)

// errReported is an error already printed in full (e.g. the problems of a config file).
type errReported = cli.Reported

func init() {
	app.BadInputIf(func(err error) bool {
		return errors.Is(err, config.ErrBadConfig) || errors.Is(err, imagefile.ErrBadImage)
	})
}

func main() {
	singleThreadOpenMP()
	// ALSA and OpenCV write straight to fd 2 (17-50 lines for a missing sound card): keep that
	// off the terminal and say in one line what it was, when the command did not succeed.
	stderr, native := nativelog.Start()
	code := run(os.Args[1:], os.Stdout, stderr)
	native.Stop()
	if s := native.Summary(); s != "" && code != 0 {
		fmt.Fprintln(stderr, "assist: "+s)
	}
	os.Exit(code)
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

func run(args []string, stdout, stderr io.Writer) int { return app.Run(args, stdout, stderr) }

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
		return cfg, errReported{Err: err}
	}
	if err != nil {
		return cfg, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	return cfg, nil
}

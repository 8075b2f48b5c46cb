package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/cudabackend"
)

// deviceFlag adds --device to a command: where the model runs.
func deviceFlag(fs *flag.FlagSet) *string {
	return fs.String("device", "auto", "cpu, cuda, or auto (CUDA when a GPU is usable, else the CPU)")
}

// openBackend returns the backend for --device and a function that releases it. "auto" falls
// back to the CPU with one log line on stderr when no driver or GPU is there; "cuda" makes that
// an error.
func openBackend(device string, threads int, stderr io.Writer) (backend.Backend, func(), error) {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	switch device {
	case "cpu":
		return cpubackend.New(threads), func() {}, nil
	case "cuda":
		b, err := cudabackend.New(cudabackend.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("--device cuda: %w", err)
		}
		return b, func() { b.Close() }, nil
	case "auto":
		be := cudabackend.OpenOrCPU(cudabackend.Options{}, threads, log)
		if b, ok := be.(*cudabackend.Backend); ok {
			return b, func() { b.Close() }, nil
		}
		return be, func() {}, nil
	}
	return nil, nil, usagef("--device must be cpu, cuda or auto, got %q", device)
}

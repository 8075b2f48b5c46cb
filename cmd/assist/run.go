package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/rpiq/rpiq/assist/daemon"
	"golang.org/x/term"
)

func init() { register("run", "run the assistant (the daemon) until SIGINT or SIGTERM", runRun) }

func runRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML); watched for edits")
	keys := fs.Bool("keys", term.IsTerminal(int(os.Stdin.Fd())), "read button presses from the terminal (default when stdin is a terminal)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || fs.NArg() != 0 {
		return usagef("usage: assist run --config FILE")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var in io.Reader
	if *keys {
		in = os.Stdin
	}
	log.Info("assistant starting", "config", *cfgPath, "camera", cfg.Camera.Source)
	err = daemon.RunDaemon(ctx, daemon.DaemonOptions{Config: cfg, ConfigPath: *cfgPath, Log: log, Keys: in, Greeting: "Ready."})
	log.Info("assistant stopped")
	return err
}

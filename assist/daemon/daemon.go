// Package daemon is `assist run`: it opens this machine's camera, sound card, button and
// microphone (through assist/devices), starts the triggers the configuration asks for, and runs
// the assistant's loop (assist.Assistant) on them until it is told to stop, reopening what a
// configuration edit changes.
package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/devices"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/trigger"
	"github.com/rpiq/rpiq/device/audio"
)

// DaemonOptions wires the daemon to this machine's devices.
type DaemonOptions struct {
	Config     config.Config
	ConfigPath string
	Log        *slog.Logger
	Keys       io.Reader // the keyboard; nil: no keyboard trigger
	// Results, when set, receives each handled command (tests).
	Results chan<- assist.Result
	// Greeting is spoken once at start ("Ready."); empty: nothing.
	Greeting string
}

// RunDaemon runs the assistant until ctx ends. Devices that are missing (camera, sound card,
// microphone) are logged and, where speech works, said; the daemon keeps running with what it
// has, and a request that needs a missing device says so. A configuration edit that changes the
// camera or the triggers reopens them.
func RunDaemon(ctx context.Context, o DaemonOptions) error {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	cfg := o.Config
	synth, err := assist.OpenSynthesizer(cfg)
	if err != nil {
		return fmt.Errorf("speech: %w", err)
	}
	var sink speech.Sink
	spk, err := devices.OpenSpeaker(synth.SampleRate())
	if err != nil {
		log.Error("no speaker: answers are not heard (connect a sound card, or use assist ask --wav)", "err", err)
		sink = nullSink{}
	} else {
		sink = spk
	}
	cam, err := devices.OpenCamera(cfg.Camera.Source, cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.Burst)
	if err != nil {
		return fmt.Errorf("camera: %w", err)
	}
	d := &daemon{ctx: ctx, log: log, keys: o.Keys, events: make(chan trigger.Event, 8), cam: cam}
	defer d.closeCamera()

	a, err := assist.New(assist.Options{
		Config: cfg, ConfigPath: o.ConfigPath, Frames: cam, Synth: synth, Sink: sink, Log: log, Results: o.Results,
		OnReload: d.reload,
		// The engines load in the background from the start (and after each reload), so the
		// first "read this" after switching on does not wait for Tesseract (issue 11).
		Warm: true,
	})
	if err != nil {
		return err
	}
	d.a = a

	// The keyboard is read for the daemon's whole life (a blocked terminal read cannot be
	// cancelled, so it is never restarted); the button and the microphone follow the config.
	if o.Keys != nil {
		go trigger.Merge(ctx, d.events, &trigger.Terminal{In: o.Keys, Keys: assist.KeyMap(cfg)})
	}
	warnings := d.startTriggers(cfg)
	if o.Greeting != "" || len(warnings) > 0 {
		msg := o.Greeting
		for _, w := range warnings {
			msg += " " + w
		}
		a.Announce(ctx, strings.TrimSpace(msg)) // a key pressed meanwhile interrupts it
	}
	err = a.Run(ctx, d.events)
	d.stopTriggers()
	return err
}

// daemon holds what a configuration reload may replace.
type daemon struct {
	ctx    context.Context
	log    *slog.Logger
	keys   io.Reader
	events chan trigger.Event
	a      *assist.Assistant

	mu   sync.Mutex
	cam  *devices.Camera
	trig *triggerSet
}

type triggerSet struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startTriggers starts the button and voice triggers of cfg (replacing those running).
func (d *daemon) startTriggers(cfg config.Config) []string {
	d.stopTriggers()
	ts, closeAll, warnings := buildTriggers(cfg, d.log)
	tctx, cancel := context.WithCancel(d.ctx)
	set := &triggerSet{cancel: cancel, done: make(chan struct{})}
	if len(ts) == 0 && d.keys == nil {
		d.log.Error("no trigger works: no keyboard, button or microphone; waiting for the stop signal")
	}
	go func() {
		defer close(set.done)
		defer closeAll()
		if len(ts) == 0 {
			return
		}
		if err := trigger.Merge(tctx, d.events, ts...); err != nil && tctx.Err() == nil {
			d.log.Error("trigger stopped", "err", err)
			d.a.Speaker().Say(d.ctx, "The button or the microphone stopped working.")
		}
	}()
	d.mu.Lock()
	d.trig = set
	d.mu.Unlock()
	return warnings
}

func (d *daemon) stopTriggers() {
	d.mu.Lock()
	set := d.trig
	d.trig = nil
	d.mu.Unlock()
	if set != nil {
		set.cancel()
		<-set.done
	}
}

func (d *daemon) closeCamera() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cam != nil {
		d.cam.Close()
	}
}

// reload reopens what a configuration edit changed.
func (d *daemon) reload(old, cfg config.Config) {
	if !reflect.DeepEqual(old.Camera, cfg.Camera) {
		cam, err := devices.OpenCamera(cfg.Camera.Source, cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.Burst)
		if err != nil {
			d.log.Error("new camera setting not usable; keeping the previous camera", "err", err)
		} else {
			d.a.SetFrames(cam)
			d.mu.Lock()
			prev := d.cam
			d.cam = cam
			d.mu.Unlock()
			prev.Close() // a capture in progress on it ends with an error, which is said
			d.log.Info("camera reopened", "source", cfg.Camera.Source)
		}
	}
	if !reflect.DeepEqual(old.Trigger, cfg.Trigger) || !reflect.DeepEqual(old.Models, cfg.Models) {
		for _, w := range d.startTriggers(cfg) {
			d.log.Warn(w)
		}
		d.log.Info("triggers restarted")
	}
}

// buildTriggers makes the keyboard, button and voice triggers the configuration asks for. A
// trigger whose device is missing is left out with a spoken warning.
func buildTriggers(cfg config.Config, log *slog.Logger) (ts []trigger.Trigger, closeAll func(), warnings []string) {
	var closers []func()
	closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	km := assist.KeyMap(cfg)
	if cfg.Trigger.InputDevice != "" {
		if _, err := os.Stat(cfg.Trigger.InputDevice); err != nil {
			log.Error("button device missing", "device", cfg.Trigger.InputDevice, "err", err)
			warnings = append(warnings, "The button is not connected.")
		} else {
			ts = append(ts, &trigger.Evdev{Path: cfg.Trigger.InputDevice, Keys: km})
		}
	}
	if cfg.Trigger.Voice {
		sp, err := trigger.NewSpotter(trigger.SpotterOptions{
			ModelDir: cfg.Models.Speech, Dictionary: cfg.Models.Dict,
			Phrases: assist.Phrases(cfg), Sensitivity: cfg.Trigger.Sensitivity,
		})
		if err != nil {
			log.Error("voice commands off: the recogniser cannot start", "err", err)
			warnings = append(warnings, "Voice commands are off: the speech recogniser is not installed.")
			return ts, closeAll, warnings
		}
		closers = append(closers, func() { sp.Close() })
		mic, err := audio.OpenMicrophone(audio.MicOptions{SampleRate: trigger.SampleRate})
		if err != nil {
			log.Error("voice commands off: no microphone", "err", err)
			warnings = append(warnings, "Voice commands are off: there is no microphone.")
			return ts, closeAll, warnings
		}
		closers = append([]func(){func() { mic.Close() }}, closers...)
		ts = append(ts, &trigger.Voice{Source: mic, Spotter: sp})
	}
	return ts, closeAll, warnings
}

// nullSink stands in for a missing sound card: the daemon still answers (and logs), silently,
// at the pace speech would take, so barge-in and timing behave as with a card.
type nullSink struct{}

func (nullSink) Play(ctx context.Context, p speech.PCM) error {
	select {
	case <-time.After(p.Duration()):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

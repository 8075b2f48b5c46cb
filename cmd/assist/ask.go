package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/rpiq/rpiq/internal/cli"
	"image"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/devices"
	"github.com/rpiq/rpiq/assist/imagefile"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/device/audio"
)

// fallbackWAV is where ask writes the spoken answer when the machine has no sound card.
const fallbackWAV = "assist-answer.wav"

func init() {
	register("ask", "answer one question about one picture, aloud or into a WAV", runAsk)
}

// runAsk is the daemon's own answer path (assist.Assistant: route, engine, speech, spoken
// faults) with a one-picture source and a WAV file or the speaker as the sink.
func runAsk(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ask", stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML); default settings when empty")
	imgPath := fs.String("image", "", "the picture (PNG, JPEG, GIF, TIFF, BMP, WebP)")
	question := fs.String("question", "read this", `the question: "read this", "what is in front of me", or any question`)
	wavPath := fs.String("wav", "", "write the spoken answer to this WAV file instead of the speaker\n(without a sound card the answer goes to "+fallbackWAV+")")
	verbose := fs.Bool("v", false, "log details to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *imgPath == "" || fs.NArg() != 0 {
		return usagef("usage: assist ask --config FILE --image IMG [--question TEXT] [--wav OUT.wav]")
	}
	level := slog.LevelError + 4 // the outcome is printed; the log only with -v
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	if *wavPath != "" {
		if err := cli.CheckOutputFile(*wavPath); err != nil {
			return fmt.Errorf("--wav: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The voice: a WAV file, or the speaker. Without either the text still goes to stdout.
	synth, sinkErr := assist.OpenSynthesizer(cfg)
	var sink speech.Sink
	var wav *devices.WAV
	fallback := false // the answer goes to fallbackWAV because there is no sound card
	switch {
	case sinkErr != nil:
		synth, sink = mute{}, &speech.Recorder{}
	case *wavPath != "":
		wav = &devices.WAV{}
		sink = wav
	default:
		spk, err := devices.OpenSpeaker(synth.SampleRate())
		switch {
		case errors.Is(err, audio.ErrNoSoundCard):
			// A machine without sound (a fresh server, CI) still gets the spoken answer, in a file.
			*wavPath = fallbackWAV
			fallback = true
			wav = &devices.WAV{}
			sink = wav
			fmt.Fprintf(stderr, "assist ask: no sound card; the spoken answer goes to %s\n", fallbackWAV)
		case err != nil:
			sinkErr = fmt.Errorf("%w (write the answer to a file with --wav OUT.wav)", err)
			sink = &speech.Recorder{}
		default:
			sink = spk
		}
	}
	cfg.Speech.Earcons = false // one answer on request: no listening tone or ticks
	a, err := assist.New(assist.Options{Config: cfg, Frames: picture(*imgPath), Synth: synth, Sink: sink, Log: log, Text: stdout})
	if err != nil {
		return err
	}
	res := a.Ask(ctx, *question)
	if res.Engine != "" && res.Err == nil {
		// Only the engine that answers is built (on first use), so its build is part of the
		// time to the first speech.
		t := res.Trace
		fmt.Fprintf(stderr, "assist ask: %s by %s; engine built in %v; image decoded in %v, first text %v later, first speech %v after the question, total %v\n",
			res.Intent, res.Engine, ms(t.Route), ms(t.Capture), ms(t.Engine), ms(t.FirstSample), ms(t.Total))
	}
	err = res.Err
	if fallback && err != nil && app.ExitCode(err) == 2 {
		wav = nil // bad input: the error is printed; no answer file is left in the working folder
	}
	if wav != nil {
		// Written even after a fault: the fault was spoken into it.
		if werr := wav.Write(*wavPath, synth.SampleRate()); werr != nil {
			if err == nil {
				err = werr
			}
		} else {
			fmt.Fprintf(stderr, "assist ask: wrote %s (%v of speech)\n", *wavPath, ms(wav.PCM().Duration()))
		}
	}
	if err == nil && sinkErr != nil {
		err = fmt.Errorf("the answer was not spoken: %w", sinkErr)
	}
	return err
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// picture is ask's one-picture frame source: the image file, decoded in Go. Its faults are bad
// input (exit status 2) with the words the assistant says for them.
type picture string

func (p picture) Capture(ctx context.Context) (image.Image, error) {
	img, err := imagefile.Load(string(p))
	if err == nil {
		return img, nil
	}
	var say string
	switch {
	case errors.Is(err, imagefile.ErrNotPicture):
		say = "That file is not a picture."
	case errors.Is(err, imagefile.ErrTooLarge):
		say = "The picture is too large to read."
	case errors.Is(err, imagefile.ErrBadImage):
		say = "The picture cannot be read: the image file is damaged."
	default:
		say = "The picture file cannot be opened."
	}
	return nil, &assist.SpokenError{Say: say, Err: fmt.Errorf("%w: %w", ErrBadInput, err)}
}

// mute stands in for a missing speech engine: the answer is printed, not spoken.
type mute struct{}

func (mute) SampleRate() int { return 22050 }
func (mute) Synthesize(ctx context.Context, text string, v speech.Voice, chunk func([]int16) bool) error {
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
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

func runAsk(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ask", stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML); default settings when empty")
	imgPath := fs.String("image", "", "the picture (PNG, JPEG, GIF, TIFF, BMP, WebP)")
	question := fs.String("question", "read this", `the question: "read this", "what is in front of me", or any question`)
	wavPath := fs.String("wav", "", "write the spoken answer to this WAV file instead of the speaker\n(without a sound card the answer goes to "+fallbackWAV+")")
	verbose := fs.Bool("v", false, "log details to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *imgPath == "" || fs.NArg() != 0 {
		return usagef("usage: assist ask --config FILE --image IMG [--question TEXT] [--wav OUT.wav]")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The voice: a WAV file, or the speaker. Without either the text still goes to stdout.
	synth, synthErr := assist.OpenSynthesizer(cfg)
	var sink speech.Sink
	var wav *devices.WAV
	var sinkErr error
	switch {
	case synthErr != nil:
		sinkErr = synthErr
	case *wavPath != "":
		wav = &devices.WAV{}
		sink = wav
	default:
		spk, err := devices.OpenSpeaker(synth.SampleRate())
		switch {
		case errors.Is(err, audio.ErrNoSoundCard):
			// A machine without sound (a fresh server, CI) still gets the spoken answer, in a file.
			*wavPath = fallbackWAV
			wav = &devices.WAV{}
			sink = wav
			fmt.Fprintf(stderr, "assist ask: no sound card; the spoken answer goes to %s\n", fallbackWAV)
		case err != nil:
			sinkErr = fmt.Errorf("%w (write the answer to a file with --wav OUT.wav)", err)
		default:
			sink = spk
		}
	}
	var speaker *speech.Speaker
	if sink != nil {
		speaker = speech.NewSpeaker(synth, sink, assist.VoiceOf(cfg), false)
	}
	say := func(text string) error {
		if speaker == nil {
			return nil
		}
		return speaker.Say(ctx, text)
	}
	finish := func(err error) error {
		if wav != nil {
			if werr := wav.Write(*wavPath, synth.SampleRate()); werr != nil && err == nil {
				err = werr
			}
		}
		if err == nil && sinkErr != nil {
			err = fmt.Errorf("the answer was not spoken: %w", sinkErr)
		}
		return err
	}

	start := time.Now()
	img, err := imagefile.Load(*imgPath)
	if err != nil {
		msg := "The picture cannot be read: the image file is damaged."
		if !errors.Is(err, imagefile.ErrBadImage) {
			msg = "The picture file cannot be opened."
		}
		fmt.Fprintln(stdout, msg)
		say(msg)
		return finish(fmt.Errorf("%w: %v", ErrBadInput, err))
	}
	decoded := time.Since(start)
	intent := assist.IntentOf(*question)
	router := assist.NewRouter(cfg)
	ready := time.Since(start) - decoded
	for name, err := range router.Missing() {
		log.Info("engine unavailable", "engine", name, "err", err)
	}
	engine, err := router.Route(intent)
	if err != nil {
		msg := assist.SpokenMessage(err)
		fmt.Fprintln(stdout, msg)
		say(msg)
		return finish(err)
	}
	q := intent.Question()
	if intent == assist.Ask {
		q = *question
	}
	var u *speech.Utterance
	if speaker != nil {
		u = speaker.Begin(ctx)
	}
	var text strings.Builder
	var first time.Duration
	err = engine.Answer(ctx, img, q, func(p assist.Piece) error {
		if first == 0 {
			first = time.Since(start)
		}
		text.WriteString(p.Text)
		io.WriteString(stdout, p.Text)
		if u != nil {
			u.Write(p.Text)
		}
		return ctx.Err()
	})
	if t := text.String(); t != "" && !strings.HasSuffix(t, "\n") {
		fmt.Fprintln(stdout)
	}
	if err != nil {
		if u != nil {
			u.Cancel()
			u.Close()
		}
		msg := "Sorry, that did not work. The details are in the log."
		fmt.Fprintln(stdout, msg)
		say(msg)
		return finish(fmt.Errorf("%s engine: %w", engine.Name(), err))
	}
	var speechErr error
	var firstAudio time.Duration
	if u != nil {
		speechErr = u.Close()
		if fa := u.FirstAudio(); !fa.IsZero() {
			firstAudio = fa.Sub(start)
		}
	}
	fmt.Fprintf(stderr, "assist ask: %s by %s; image decoded in %v, engines loaded in %v; from start: first text %v, first speech %v, total %v\n",
		intent, engine.Name(), decoded.Round(time.Millisecond), ready.Round(time.Millisecond), first.Round(time.Millisecond), firstAudio.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if speechErr != nil {
		return finish(fmt.Errorf("speech: %w", speechErr))
	}
	if wav != nil {
		fmt.Fprintf(stderr, "assist ask: wrote %s (%v of speech)\n", *wavPath, wav.PCM().Duration().Round(time.Millisecond))
	}
	return finish(nil)
}

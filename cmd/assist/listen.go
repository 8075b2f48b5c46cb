package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/trigger"
	"github.com/rpiq/rpiq/device/audio"
)

func init() {
	register("listen", "run the voice trigger on a recording and print each command it hears, with time and score", runListen)
}

// heard is one command found in the recording (the --json form).
type heard struct {
	Time      float64 `json:"time_s"`  // where the phrase ended
	Start     float64 `json:"start_s"` // where it began
	Command   string  `json:"command"`
	Phrase    string  `json:"phrase"`
	Score     float64 `json:"score"`     // log10 of how much better the phrase fits than other speech
	Threshold float64 `json:"threshold"` // the score needed at this sensitivity
}

// runListen is what the daemon's microphone trigger does, on a WAV file: the same spotter,
// phrases and sensitivity as the configuration, so a caregiver can hear what sets it off and
// tune trigger.sensitivity.
func runListen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("listen", stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML); default settings when empty")
	wavPath := fs.String("wav", "", "the recording (WAV: any rate, mono or stereo)")
	sens := fs.Float64("sensitivity", -1, "override trigger.sensitivity (0..1) to try another value")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *wavPath == "" || fs.NArg() != 0 {
		return usagef("usage: assist listen --wav FILE [--config FILE] [--sensitivity S] [--json]")
	}
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	if *sens != -1 {
		if *sens < 0 || *sens > 1 || *sens != *sens {
			return usagef("assist listen: --sensitivity %v is outside 0..1", *sens)
		}
		cfg.Trigger.Sensitivity = *sens
	}
	pcm, err := audio.ReadWAVFile(*wavPath)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	pcm, err = audio.Resample(pcm.Mono(), trigger.SampleRate)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadInput, *wavPath, err)
	}
	sp, err := trigger.NewSpotter(trigger.SpotterOptions{
		ModelDir: cfg.Models.Speech, Dictionary: cfg.Models.Dict,
		Phrases: assist.Phrases(cfg), Sensitivity: cfg.Trigger.Sensitivity,
	})
	if err != nil {
		if !errors.Is(err, trigger.ErrNoRecognizer) {
			err = fmt.Errorf("%w: %v", ErrBadInput, err) // the phrases or model settings
		}
		return err
	}
	defer sp.Close()
	var events []trigger.Event
	const chunk = trigger.SampleRate / 10 // 100 ms, as the microphone delivers
	for i := 0; i < len(pcm.Samples); i += chunk {
		evs, err := sp.Process(pcm.Samples[i:min(i+chunk, len(pcm.Samples))])
		if err != nil {
			return err
		}
		events = append(events, evs...)
	}
	evs, err := sp.Flush()
	if err != nil {
		return err
	}
	events = append(events, evs...)

	out := make([]heard, len(events))
	for i, e := range events {
		out[i] = heard{Time: round2(e.Offset.Seconds()), Start: round2(e.Start.Seconds()), Command: e.Command.String(), Phrase: e.Phrase, Score: round2(e.Score), Threshold: e.Threshold}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			File        string  `json:"file"`
			Duration    float64 `json:"duration_s"`
			Sensitivity float64 `json:"sensitivity"`
			Commands    []heard `json:"commands"`
		}{*wavPath, round2(pcm.Duration().Seconds()), cfg.Trigger.Sensitivity, out})
	}
	for _, h := range out {
		fmt.Fprintf(stdout, "%7.2f s  %-8s %-24q score %6.1f (needs %.0f)\n", h.Time, h.Command, h.Phrase, h.Score, h.Threshold)
	}
	fmt.Fprintf(stdout, "%d command(s) heard in %v of audio at sensitivity %.2f\n", len(out), pcm.Duration().Round(10*time.Millisecond), cfg.Trigger.Sensitivity)
	return nil
}

func round2(x float64) float64 { return float64(int64(x*100+copysign(0.5, x))) / 100 }

func copysign(a, b float64) float64 {
	if b < 0 {
		return -a
	}
	return a
}

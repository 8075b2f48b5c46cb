package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/devices"
	"github.com/rpiq/rpiq/assist/ocr"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/trigger"
	"github.com/rpiq/rpiq/device/audio"
	"github.com/rpiq/rpiq/device/camera"
	"github.com/rpiq/rpiq/device/cuda"
)

func init() {
	register("doctor", "check camera, microphone, speaker, GPU, models, speech and OCR", runDoctor)
}

// check is one line of the doctor's report.
type check struct {
	name   string
	ok     bool
	needed bool   // the configuration uses it: a failure makes the exit status 1
	detail string // what works, or what is wrong and what to install
}

func runDoctor(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML); default settings when empty")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("usage: assist doctor [--config FILE]")
	}
	var checks []check
	cfg := config.Default()
	badConfig := false // a file that does not load is bad input (exit 2); the checks still run
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			badConfig = true
			n := strings.Count(err.Error(), "\n") + 1
			checks = append(checks, check{"config", false, true, fmt.Sprintf("%s has %d problem(s); run assist check --config %s", *cfgPath, n, *cfgPath)})
		} else if ps := assist.CheckSettings(c, false, nil); len(ps) > 0 {
			cfg = c
			checks = append(checks, check{"config", false, true, fmt.Sprintf("%s: %d setting(s) do not work here (%s); run assist check --config %s", *cfgPath, len(ps), ps[0].Field, *cfgPath)})
		} else {
			cfg = c
			checks = append(checks, check{"config", true, true, *cfgPath})
		}
	}
	checks = append(checks,
		checkCamera(cfg),
		checkMicrophone(cfg),
		checkSpeaker(),
		checkGPU(cfg),
		checkSpeech(cfg),
		checkOCR(cfg),
		checkRecogniser(cfg),
		checkVLM(cfg),
	)
	checks = append(checks, modelChecks(cfg)...)
	failed := 0
	for _, c := range checks {
		mark := "OK  "
		if !c.ok {
			mark = "FAIL"
			if !c.needed {
				mark = "--  "
			} else {
				failed++
			}
		}
		fmt.Fprintf(stdout, "%s %-11s %s\n", mark, c.name, c.detail)
	}
	if badConfig {
		return errReported{Err: fmt.Errorf("%w: %s does not load (%d check(s) failed)", ErrBadInput, *cfgPath, failed)}
	}
	if failed > 0 {
		return errReported{Err: fmt.Errorf("%d check(s) failed", failed)}
	}
	return nil
}

func checkCamera(cfg config.Config) check {
	src := cfg.Camera.Source
	size, err := camera.Probe(src)
	if err != nil {
		hint := "connect the camera (ls /dev/video*), or set camera.source to a video or image file"
		if errors.Is(err, camera.ErrBadSource) {
			hint = "fix camera.source in the configuration"
		}
		return check{"camera", false, true, fmt.Sprintf("%s: %v; %s", src, err, hint)}
	}
	return check{"camera", true, true, fmt.Sprintf("%s gives %dx%d pictures", src, size.X, size.Y)}
}

func checkMicrophone(cfg config.Config) check {
	peak, err := audio.CheckMicrophone(300 * time.Millisecond)
	if err != nil {
		return check{"microphone", false, cfg.Trigger.Voice, fmt.Sprintf("%v; connect a microphone (arecord -l lists them) or set trigger.voice = false and use the button", err)}
	}
	return check{"microphone", true, cfg.Trigger.Voice, fmt.Sprintf("records (peak level %d of 32767)", peak)}
}

func checkSpeaker() check {
	spk, err := devices.OpenSpeaker(22050)
	if err != nil {
		return check{"speaker", false, true, fmt.Sprintf("%v; connect a sound card or earpiece (aplay -l lists them); meanwhile assist ask --wav OUT.wav writes the answer to a file", err)}
	}
	if err := spk.Play(context.Background(), speech.PCM{Rate: 22050, Samples: make([]int16, 2205)}); err != nil {
		return check{"speaker", false, true, fmt.Sprintf("opens but does not play: %v", err)}
	}
	return check{"speaker", true, true, "plays"}
}

func checkGPU(cfg config.Config) check {
	n, err := cuda.Count()
	if err != nil || n == 0 {
		detail := "no NVIDIA GPU; models run on the CPU (slower)"
		if err != nil {
			detail = fmt.Sprintf("%v; models run on the CPU (install the NVIDIA driver for the GPU)", err)
		}
		return check{"gpu", false, false, detail}
	}
	dev, err := cuda.Open(0)
	if err != nil {
		return check{"gpu", false, false, fmt.Sprintf("%d device(s), but device 0 does not open: %v", n, err)}
	}
	defer dev.Close()
	i := dev.Info()
	return check{"gpu", true, false, fmt.Sprintf("%s, compute %d.%d, %d MiB", i.Name, i.Major, i.Minor, i.TotalMemory>>20)}
}

func checkSpeech(cfg config.Config) check {
	synth, err := assist.OpenSynthesizer(cfg)
	if err != nil {
		return check{"speech", false, true, fmt.Sprintf("%v; run scripts/setup.sh", err)}
	}
	what := "the espeak-ng program"
	if e, ok := synth.(*speech.ESpeak); ok {
		what = "eSpeak NG " + e.Version()
	}
	v := assist.VoiceOf(cfg)
	if es, ok := synth.(*speech.ESpeak); ok {
		// eSpeak falls back to a default voice for a name it does not know: check the list.
		info, found := es.FindVoice(v.Name)
		if !found {
			return check{"speech", false, true, fmt.Sprintf("%s has no voice %q (espeak-ng --voices lists them); fix speech.voice", what, v.Name)}
		}
		if !info.SpeaksLanguage(cfg.Language) {
			return check{"speech", false, true, fmt.Sprintf("%s: voice %q is the %s voice, not one for language %q; fix speech.voice", what, v.Name, info.Name, cfg.Language)}
		}
	}
	p, err := speech.SynthesizeAll(context.Background(), synth, "test", v)
	if err != nil || len(p.Samples) == 0 {
		return check{"speech", false, true, fmt.Sprintf("%s loads but voice %q does not speak: %v (espeak-ng --voices lists the voices)", what, v.Name, err)}
	}
	return check{"speech", true, true, fmt.Sprintf("%s, voice %q at %d words per minute", what, v.Name, v.RateWPM)}
}

func checkOCR(cfg config.Config) check {
	needed := cfg.Engines.Read == "ocr"
	ver, err := ocr.Version()
	if err != nil {
		return check{"ocr", false, needed, fmt.Sprintf("%v; run scripts/setup.sh", err)}
	}
	lang, err := assist.TesseractLanguage(cfg.Language)
	if err != nil {
		return check{"ocr", false, needed, err.Error()}
	}
	e, err := ocr.New(ocr.Options{Language: lang, Tessdata: cfg.Models.Tessdata})
	if err != nil {
		return check{"ocr", false, needed, err.Error()}
	}
	e.Close()
	return check{"ocr", true, needed, fmt.Sprintf("Tesseract %s with %q data", ver, lang)}
}

func checkRecogniser(cfg config.Config) check {
	sp, err := trigger.NewSpotter(trigger.SpotterOptions{ModelDir: cfg.Models.Speech, Dictionary: cfg.Models.Dict, Phrases: assist.Phrases(cfg), Sensitivity: cfg.Trigger.Sensitivity})
	if errors.Is(err, trigger.ErrNoRecognizer) {
		return check{"voice", false, cfg.Trigger.Voice, fmt.Sprintf("%v; apt-get install pocketsphinx pocketsphinx-en-us libpocketsphinx3 (scripts/setup.sh)", err)}
	}
	if err != nil { // the phrases or the model settings: nothing to install
		return check{"voice", false, cfg.Trigger.Voice, fmt.Sprintf("%v; fix trigger.phrases or models.speech/models.dict (assist check names the line)", err)}
	}
	sp.Close()
	return check{"voice", true, cfg.Trigger.Voice, fmt.Sprintf("PocketSphinx spots %d phrases", len(assist.Phrases(cfg)))}
}

func checkVLM(cfg config.Config) check {
	needed := cfg.Engines.Describe == "vlm" || cfg.Engines.Ask == "vlm"
	if cfg.Models.VLM == "" {
		return check{"vlm", false, false, "no vision-language model configured (models.vlm): \"what is in front of me\" says it cannot answer; \"read this\" uses OCR"}
	}
	if _, err := os.Stat(filepath.Join(cfg.Models.VLM, "config.json")); err != nil {
		return check{"vlm", false, needed, fmt.Sprintf("%s: no config.json (%v); point models.vlm at a model folder", cfg.Models.VLM, err)}
	}
	r := assist.NewRouter(cfg)
	if err, bad := r.Missing()["vlm"]; bad {
		return check{"vlm", false, needed, fmt.Sprintf("%s: %v", cfg.Models.VLM, err)}
	}
	return check{"vlm", true, needed, cfg.Models.VLM}
}

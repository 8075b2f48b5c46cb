package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/rpiq/rpiq/assist/textrec"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/models"
	"github.com/rpiq/rpiq/assist/scene"
	"github.com/rpiq/rpiq/internal/cli"
	"github.com/rpiq/rpiq/internal/progress"
	"github.com/rpiq/rpiq/internal/tempfiles"
)

func init() {
	register("models", "install a model file (models install FILE|URL --sha256 HEX) or list the installed ones (models list)", runModels)
}

const modelsUsage = `usage: assist models install [--config FILE] [--dir DIR] [--name NAME] --sha256 HEX FILE|URL
       assist models list [--config FILE]`

func runModels(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("%s", modelsUsage)
	}
	switch args[0] {
	case "install":
		return runModelsInstall(args[1:], stdout, stderr)
	case "list":
		return runModelsList(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, modelsUsage)
		return nil
	}
	return usagef("assist models: unknown action %q\n%s", args[0], modelsUsage)
}

func runModelsInstall(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("models install", stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML): its models.dir is the folder; default settings when empty")
	dir := fs.String("dir", "", "the model folder (overrides the configuration's models.dir)")
	name := fs.String("name", "", "the file name in the model folder (default: the source's)")
	sum := fs.String("sha256", "", "the file's SHA-256, 64 hexadecimal digits (required)")
	fs.Bool("resume", true, "resume an interrupted download (always done; accepted for symmetry with rpiq)")
	pos, err := cli.ParseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *sum == "" {
		return usagef("%s", modelsUsage)
	}
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	folder := cfg.Models.Folder()
	if *dir != "" {
		folder = *dir
	}
	if err := cli.CheckOutputFolder(folder, true); err != nil { // before the download
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var bar *progress.Bar
	var shown int64
	label := *name
	if label == "" {
		label = filepath.Base(pos[0])
	}
	res, err := models.Install(ctx, models.Options{
		Source: pos[0], SHA256: *sum, Dir: folder, Name: *name,
		Progress: func(done, total int64) {
			if bar == nil {
				bar = progress.New(stderr, int(max(total, done, 1)), label)
				shown = 0
			}
			bar.Add(int(done - shown))
			shown = done
		},
	})
	bar.Finish()
	if msg := tempfiles.Summary(res.Swept); msg != "" {
		fmt.Fprintf(stderr, "assist models install: %s\n", msg)
	}
	var ie *models.InterruptedError
	switch {
	case errors.As(err, &ie):
		fmt.Fprintf(stderr, "assist models install: %v\n", err)
		return errReported{Err: err}
	case errors.Is(err, models.ErrBadInput):
		return fmt.Errorf("%w: %v", ErrBadInput, strings.TrimPrefix(err.Error(), "bad input: "))
	case err != nil:
		return err
	}
	switch {
	case res.Unchanged:
		fmt.Fprintf(stdout, "%s is already installed (checksum matches)\n", res.Path)
	case res.Resumed > 0:
		fmt.Fprintf(stdout, "installed %s (%d bytes, resumed after %d; checksum verified)\n", res.Path, res.Bytes, res.Resumed)
	default:
		fmt.Fprintf(stdout, "installed %s (%d bytes; checksum verified)\n", res.Path, res.Bytes)
	}
	return nil
}

func runModelsList(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("models list", stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML); default settings when empty")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("%s", modelsUsage)
	}
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	for _, c := range modelChecks(cfg) {
		mark := "OK  "
		if !c.ok {
			mark = "--  "
		}
		fmt.Fprintf(stdout, "%s %-11s %s\n", mark, c.name, c.detail)
	}
	switch _, err := os.Stat(filepath.Join(cfg.Models.VLM, "config.json")); {
	case cfg.Models.VLM == "":
		fmt.Fprintf(stdout, "--   %-11s no vision-language model configured (models.vlm): the detectors describe\n", "vlm")
	case err != nil:
		fmt.Fprintf(stdout, "--   %-11s %s has no config.json: not a model folder\n", "vlm", cfg.Models.VLM)
	default:
		fmt.Fprintf(stdout, "OK   %-11s %s: answers \"describe\" (with the detectors' findings) and open questions (not loaded here; assist check --deep loads it)\n", "vlm", cfg.Models.VLM)
	}
	// Files in the folder that the settings do not name (installed for later, or left over).
	used := map[string]bool{}
	for _, f := range cfg.ModelFiles() {
		used[f.Path] = true
	}
	es, _ := os.ReadDir(cfg.Models.Folder())
	for _, e := range es {
		p := filepath.Join(cfg.Models.Folder(), e.Name())
		if strings.HasPrefix(e.Name(), ".") || used[p] {
			continue
		}
		fmt.Fprintf(stdout, "     %-11s %s: not named in the settings\n", "(unused)", p)
	}
	return nil
}

// modelChecks says for each detector whether its files are installed and load, and what it
// answers (assist doctor and assist models list).
func modelChecks(cfg config.Config) []check {
	m := cfg.Models
	needed := cfg.Engines.Describe == "scene"
	e := scene.New(scene.Options{
		Objects: m.Path(m.Objects), Classes: m.Path(m.Classes),
		Faces: m.Path(m.Faces), FacesConfig: m.Path(m.FacesConfig), TextDetector: m.Path(m.TextDetector),
		Log: quietLog(),
	})
	defer e.Close()
	var cs []check
	for _, c := range e.Capabilities() {
		var files []string
		for _, f := range c.Files {
			if f != "" {
				files = append(files, f)
			}
		}
		needed := needed && c.Name != "textdet" // without it a model-free check answers
		switch {
		case len(c.Files) == 0:
			cs = append(cs, check{c.Name, true, false, "answers " + c.Answers})
		case c.Err == nil:
			cs = append(cs, check{c.Name, true, needed, fmt.Sprintf("%s: answers %s", strings.Join(files, " + "), c.Answers)})
		case len(files) < len(c.Files):
			cs = append(cs, check{c.Name, false, false, fmt.Sprintf("%s is off: %v", c.What(), c.Err)})
		default:
			cs = append(cs, check{c.Name, false, needed, fmt.Sprintf("%s is off: %v; install the file with assist models install FILE|URL --sha256 HEX (folder %s)", c.What(), c.Err, m.Folder())})
		}
	}
	return append(cs, textChecks(cfg)...)
}

// textChecks says whether the text-recognition network's files are installed and load. It is
// never needed: without it Tesseract reads alone.
func textChecks(cfg config.Config) []check {
	m := cfg.Models
	if m.TextRecognizer == "" || m.TextDictionary == "" {
		return []check{{"text", false, false, "the text-recognition network is switched off (models.text_recognizer is empty); Tesseract reads alone"}}
	}
	rec, dict := m.Path(m.TextRecognizer), m.Path(m.TextDictionary)
	if _, err := textrec.Load(rec, dict); err != nil {
		return []check{{"text", false, false, fmt.Sprintf("the text-recognition network is off: %v; Tesseract reads alone (install the files with assist models install FILE|URL --sha256 HEX, folder %s)", err, m.Folder())}}
	}
	return []check{{"text", true, false, fmt.Sprintf("%s + %s: re-reads the words Tesseract is unsure of", rec, dict)}}
}

// quietLog discards log lines (the checks print what matters).
func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

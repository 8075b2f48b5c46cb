package assist

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/trigger"
)

// CheckSettings checks what a loaded configuration means on this machine, beyond its shape
// (config.Load checked that): the files and folders it names exist, the voice is an installed
// eSpeak NG voice for the configured language, and Tesseract has data for that language. With
// deep, it also loads what the settings name: the answer engines (OCR data, models), the speech
// recogniser with the phrases, and the voice. Problems carry Field and Msg; config.Locate adds
// the file and line. known are the problems config.Load found: the deep checks skip what they
// concern. It never panics and opens no device (the doctor does that).
func CheckSettings(cfg config.Config, deep bool, known []config.Problem) []config.Problem {
	var ps []config.Problem
	bad := func(field, format string, a ...any) {
		ps = append(ps, config.Problem{Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if path, ok := cameraFile(cfg.Camera.Source); ok {
		if _, err := os.Stat(path); err != nil {
			bad("camera.source", "the file %s does not exist (file names are relative to the configuration's folder)", path)
		}
	}
	folder := func(field, path string) {
		if path == "" {
			return
		}
		if st, err := os.Stat(path); err != nil {
			bad(field, "the folder %s does not exist", path)
		} else if !st.IsDir() {
			bad(field, "%s is a file; a folder is expected", path)
		}
	}
	folder("models.vlm", cfg.Models.VLM)
	folder("models.tessdata", cfg.Models.Tessdata)
	folder("models.speech", cfg.Models.Speech)
	if cfg.Models.Dict != "" {
		if st, err := os.Stat(cfg.Models.Dict); err != nil || st.IsDir() {
			bad("models.dict", "the dictionary file %s does not exist", cfg.Models.Dict)
		}
	}
	ps = append(ps, checkModelFiles(cfg)...)
	ps = append(ps, checkVoice(cfg)...)
	if cfg.Engines.Read == "ocr" {
		ps = append(ps, checkOCRLanguage(cfg)...)
	}
	if deep {
		flagged := map[string]bool{}
		for _, p := range append(ps, known...) {
			flagged[p.Field] = true
		}
		ps = append(ps, checkDeep(cfg, flagged)...)
	}
	return ps
}

// cameraFile reports whether source names a file (not a camera index, a /dev node, a URL or a
// GStreamer pipeline), and the file.
func cameraFile(source string) (string, bool) {
	s := strings.TrimSpace(source)
	if _, err := strconv.Atoi(s); err == nil || s == "" || strings.Contains(s, "://") || strings.Contains(s, "!") || strings.HasPrefix(s, "/dev/") {
		return "", false
	}
	return s, true
}

// voiceField is the setting that chose the voice: speech.voice, or language when it is empty.
func voiceField(cfg config.Config) string {
	if cfg.Speech.Voice != "" {
		return "speech.voice"
	}
	return "language"
}

func checkVoice(cfg config.Config) []config.Problem {
	e, err := speech.OpenESpeak()
	if err != nil {
		return nil // the doctor reports a missing eSpeak NG; the setting cannot be judged here
	}
	name := VoiceOf(cfg).Name
	field := voiceField(cfg)
	v, ok := e.FindVoice(name)
	if !ok {
		return []config.Problem{{Field: field, Msg: fmt.Sprintf("eSpeak NG has no voice %q (espeak-ng --voices lists them; for English: \"en-gb\", \"en-us\")", name)}}
	}
	if !v.SpeaksLanguage(cfg.Language) {
		msg := fmt.Sprintf("%q is eSpeak NG's %s voice (language %s), not a voice for language %q: it would read the answers with %s pronunciation", name, v.Name, strings.Join(v.Languages, ", "), cfg.Language, v.Name)
		if hasLanguageVoice(e, cfg.Language) {
			msg += fmt.Sprintf("; choose a voice for %q (espeak-ng --voices=%s lists them)", cfg.Language, baseLanguage(cfg.Language))
		} else {
			msg += fmt.Sprintf("; eSpeak NG has no voice at all for language %q", cfg.Language)
		}
		return []config.Problem{{Field: field, Msg: msg}}
	}
	return nil
}

func hasLanguageVoice(e *speech.ESpeak, lang string) bool {
	for _, v := range e.Voices() {
		if v.SpeaksLanguage(lang) {
			return true
		}
	}
	return false
}

func baseLanguage(lang string) string {
	b, _, _ := strings.Cut(strings.ToLower(lang), "-")
	return b
}

// tessdataDirs are where Tesseract looks for language data when models.tessdata is empty.
func tessdataDirs() []string {
	var dirs []string
	if p := os.Getenv("TESSDATA_PREFIX"); p != "" {
		dirs = append(dirs, p, filepath.Join(p, "tessdata"))
	}
	return append(dirs, "/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata", "/usr/share/tessdata", "/usr/local/share/tessdata")
}

func checkOCRLanguage(cfg config.Config) []config.Problem {
	lang, err := TesseractLanguage(cfg.Language)
	if err != nil {
		return []config.Problem{{Field: "language", Msg: fmt.Sprintf("the text reader (Tesseract) has no language %q; the languages it can read are %s", cfg.Language, strings.Join(tesseractLanguages(), ", "))}}
	}
	dirs := tessdataDirs()
	if cfg.Models.Tessdata != "" {
		dirs = []string{cfg.Models.Tessdata}
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, lang+".traineddata")); err == nil {
			return nil
		}
	}
	if _, err := os.Stat(dirs[0]); err != nil && cfg.Models.Tessdata == "" {
		return nil // no Tesseract at all: the doctor says what to install
	}
	where := "the system's Tesseract data"
	if cfg.Models.Tessdata != "" {
		where = cfg.Models.Tessdata
	}
	return []config.Problem{{Field: "language", Msg: fmt.Sprintf("Tesseract's %s data for language %q is not installed in %s (apt-get install tesseract-ocr-%s)", lang, cfg.Language, where, lang)}}
}

func tesseractLanguages() []string {
	var out []string
	for k := range tesseractLang {
		out = append(out, strconv.Quote(k))
	}
	sort.Strings(out)
	return out
}

// checkDeep loads what the settings name, except what the quick checks already flagged.
func checkDeep(cfg config.Config, flagged map[string]bool) []config.Problem {
	var ps []config.Problem
	r := NewRouter(cfg)
	fields := map[string]string{}
	for field, name := range map[string]string{"engines.ask": cfg.Engines.Ask, "engines.describe": cfg.Engines.Describe, "engines.read": cfg.Engines.Read} {
		if prev, ok := fields[name]; !ok || field > prev {
			fields[name] = field
		}
	}
	for name, err := range r.Missing() {
		field := fields[name]
		if name == "vlm" {
			if cfg.Models.VLM == "" {
				continue // no model installed: the assistant says so when asked; not a mistake
			}
			field = "models.vlm"
		}
		if flagged[field] || name == "ocr" && (flagged["language"] || flagged["models.tessdata"]) {
			continue
		}
		ps = append(ps, config.Problem{Field: field, Msg: fmt.Sprintf("the %s engine does not load: %v", name, err)})
	}
	for _, e := range r.Engines() {
		if mc, ok := e.(ModelChecker); ok {
			for _, p := range mc.ModelProblems() {
				if !flagged[p.Field] {
					ps = append(ps, p)
				}
			}
		}
		if c, ok := e.(interface{ Close() error }); ok {
			c.Close()
		}
	}
	if cfg.Trigger.Voice && !flagged["models.speech"] && !flagged["models.dict"] && !anyPrefix(flagged, "trigger.phrases") {
		sp, err := trigger.NewSpotter(trigger.SpotterOptions{ModelDir: cfg.Models.Speech, Dictionary: cfg.Models.Dict, Phrases: Phrases(cfg), Sensitivity: cfg.Trigger.Sensitivity})
		switch {
		case errors.Is(err, trigger.ErrNoRecognizer):
			ps = append(ps, config.Problem{Field: "trigger.voice", Msg: fmt.Sprintf("voice commands are on, but %v", err)})
		case err != nil:
			ps = append(ps, config.Problem{Field: "trigger.phrases", Msg: err.Error()})
		default:
			sp.Close()
		}
	}
	if flagged[voiceField(cfg)] {
		return ps
	}
	if synth, err := OpenSynthesizer(cfg); err != nil {
		ps = append(ps, config.Problem{Field: "speech.engine", Msg: err.Error()})
	} else if p, err := speech.SynthesizeAll(context.Background(), synth, "test", VoiceOf(cfg)); err != nil || len(p.Samples) == 0 {
		ps = append(ps, config.Problem{Field: voiceField(cfg), Msg: fmt.Sprintf("the voice does not speak: %v", err)})
	}
	return ps
}

func anyPrefix(set map[string]bool, prefix string) bool {
	for k := range set {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

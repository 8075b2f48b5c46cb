package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/rpiq/rpiq/assist/trigger"
)

// Limits of the speech settings (eSpeak NG's own ranges; the rate range is what the issue asks).
const (
	MinRateWPM = 80
	MaxRateWPM = 450
	MaxPitch   = 99
	MaxVolume  = 200
	MaxHistory = 100
	MaxBurst   = 30
)

var (
	verbosities     = []string{"brief", "normal", "detailed"}
	readEngines     = []string{"ocr", "vlm", "none"}
	speechEngines   = []string{"library", "program"}
	describeEngines = []string{"scene", "vlm", "none"}
	askEngines      = []string{"vlm", "none"}
)

// validate checks the values; the caller fills in file and line.
func validate(c *Config) []Problem {
	var ps []Problem
	bad := func(field, format string, a ...any) {
		ps = append(ps, Problem{Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	oneOf := func(field, v string, allowed []string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		msg := fmt.Sprintf("%q is not one of %s", v, strings.Join(quoteAll(allowed), ", "))
		if s := suggest(v, allowed); s != "" && v != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		bad(field, "%s", msg)
	}
	if c.Language == "" {
		bad("language", "must not be empty; use a language code such as \"en\"")
	} else if !isLangCode(c.Language) {
		bad("language", "%q is not a language code; use letters and '-' only, such as \"en\" or \"en-us\"", c.Language)
	}
	oneOf("verbosity", c.Verbosity, verbosities)

	if strings.TrimSpace(c.Camera.Source) == "" {
		bad("camera.source", "must name a camera (\"0\" or \"/dev/video0\"), a video file, a URL or an image")
	}
	if c.Camera.Width < 16 || c.Camera.Width > 8192 {
		bad("camera.width", "%d is out of range; use 16 to 8192 pixels", c.Camera.Width)
	}
	if c.Camera.Height < 16 || c.Camera.Height > 8192 {
		bad("camera.height", "%d is out of range; use 16 to 8192 pixels", c.Camera.Height)
	}
	if c.Camera.Burst < 1 || c.Camera.Burst > MaxBurst {
		bad("camera.burst", "%d is out of range; use 1 to %d frames", c.Camera.Burst, MaxBurst)
	}
	if c.Audio.Output == "" {
		bad("audio.output", "must not be empty; use \"default\"")
	}
	if c.Audio.Input == "" {
		bad("audio.input", "must not be empty; use \"default\"")
	}

	if math.IsNaN(c.Trigger.Sensitivity) || c.Trigger.Sensitivity < 0 || c.Trigger.Sensitivity > 1 {
		bad("trigger.sensitivity", "%v is out of range; use a number from 0 (fewest false triggers) to 1 (catches the most)", c.Trigger.Sensitivity)
	}
	for i, k := range c.Trigger.Keys {
		if strings.TrimSpace(k) == "" {
			bad("trigger.keys", "key %d is empty", i+1)
		} else if err := (trigger.KeyMap{k: trigger.ReadThis}).Validate(); err != nil {
			bad("trigger.keys", "%s", strings.TrimPrefix(err.Error(), "trigger: "))
		}
	}
	names := make([]string, 0, len(c.Trigger.Phrases))
	for n := range c.Trigger.Phrases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		field := "trigger.phrases." + n
		if !contains(Commands, n) {
			msg := "is not a command; the commands are " + strings.Join(Commands, ", ")
			if sg := suggest(n, Commands); sg != "" {
				msg = fmt.Sprintf("is not a command; did you mean %q?", sg)
			}
			bad(field, "%s", msg)
			continue
		}
		if len(c.Trigger.Phrases[n]) == 0 {
			bad(field, "needs at least one phrase")
		}
		for _, ph := range c.Trigger.Phrases[n] {
			if !isPhrase(ph) {
				bad(field, "%q is not a phrase of plain words (letters, spaces and apostrophes)", ph)
			}
		}
	}
	// A phrase can start one command only: the spotter could not tell which was meant.
	defaults := Default().Trigger.Phrases
	allDefault := func(cmds []string) bool {
		for _, o := range cmds {
			if !reflect.DeepEqual(c.Trigger.Phrases[o], defaults[o]) {
				return false
			}
		}
		return true
	}
	owners := map[string][]string{}
	for _, n := range names {
		if !contains(Commands, n) {
			continue
		}
		seen := map[string]bool{}
		for _, ph := range c.Trigger.Phrases[n] {
			norm := strings.Join(strings.Fields(strings.ToLower(ph)), " ")
			if norm != "" && !seen[norm] {
				seen[norm] = true
				owners[norm] = append(owners[norm], n)
			}
		}
	}
	for _, n := range names {
		if !contains(Commands, n) {
			continue
		}
		for _, ph := range c.Trigger.Phrases[n] {
			norm := strings.Join(strings.Fields(strings.ToLower(ph)), " ")
			var others []string
			for _, o := range owners[norm] {
				if o != n {
					others = append(others, o)
				}
			}
			// Reported on the command the file changed (a default phrase list is not the mistake).
			if len(others) > 0 && (!reflect.DeepEqual(c.Trigger.Phrases[n], defaults[n]) || allDefault(others)) {
				bad("trigger.phrases."+n, "%q is also a phrase of the %s command; a phrase can start only one command", ph, strings.Join(others, " and "))
			}
		}
	}

	s := c.Speech
	oneOf("speech.engine", s.Engine, speechEngines)
	if s.RateWPM < MinRateWPM || s.RateWPM > MaxRateWPM {
		bad("speech.rate_wpm", "%d words per minute is out of range; use %d to %d", s.RateWPM, MinRateWPM, MaxRateWPM)
	}
	if s.Pitch < 0 || s.Pitch > MaxPitch {
		bad("speech.pitch", "%d is out of range; use 0 to %d (50 is normal)", s.Pitch, MaxPitch)
	}
	if s.Volume < 0 || s.Volume > MaxVolume {
		bad("speech.volume", "%d is out of range; use 0 to %d percent (100 is normal)", s.Volume, MaxVolume)
	}
	if s.History < 1 || s.History > MaxHistory {
		bad("speech.history", "%d is out of range; keep 1 to %d answers", s.History, MaxHistory)
	}
	if s.Voice != "" && !isLangCode(strings.ReplaceAll(strings.ReplaceAll(s.Voice, "+", "-"), "_", "-")) {
		bad("speech.voice", "%q is not an eSpeak NG voice name (letters, digits, '-' and '+' only)", s.Voice)
	}

	oneOf("engines.read", c.Engines.Read, readEngines)
	oneOf("engines.describe", c.Engines.Describe, describeEngines)
	oneOf("engines.ask", c.Engines.Ask, askEngines)
	if math.IsNaN(c.Engines.VLMWait) || c.Engines.VLMWait < 0.5 || c.Engines.VLMWait > 600 {
		bad("engines.vlm_wait", "%v seconds is out of range; use 0.5 to 600", c.Engines.VLMWait)
	}
	validateModels(c, bad)
	if math.IsNaN(c.Engines.MinConfidence) || c.Engines.MinConfidence < 0 || c.Engines.MinConfidence > 100 {
		bad("engines.min_confidence", "%v is out of range; use 0 to 100", c.Engines.MinConfidence)
	}

	if c.Privacy.DebugCapture && c.Privacy.DebugDir == "" {
		bad("privacy.debug_dir", "debug_capture is on, so debug_dir must name the folder for the frames")
	}
	return ps
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return q
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func isLangCode(s string) bool {
	if len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return s != "" && s[0] != '-'
}

func isPhrase(s string) bool {
	if strings.TrimSpace(s) == "" || len(s) > 80 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == ' ' || r == '\'') {
			return false
		}
	}
	return true
}

// validateModels checks the [models] names without touching the disk (a missing file is not a
// mistake in the settings: the assistant says that capability is off; `assist check` and
// `assist doctor` name the file).
func validateModels(c *Config, bad func(field, format string, a ...any)) {
	m := c.Models
	pair := func(f1, v1, f2, v2, what string) {
		if (v1 == "") != (v2 == "") {
			empty := f1
			if v2 == "" {
				empty = f2
			}
			bad(empty, "%s needs both %s and %s; set both, or leave both empty to switch it off", what, f1, f2)
		}
	}
	pair("models.objects", m.Objects, "models.classes", m.Classes, "object recognition")
	pair("models.faces", m.Faces, "models.faces_config", m.FacesConfig, "face detection")
	pair("models.text_recognizer", m.TextRecognizer, "models.text_dictionary", m.TextDictionary, "the text-recognition network")
	name := func(field, v string, exts ...string) {
		if v == "" {
			return
		}
		if strings.TrimSpace(v) != v || strings.ContainsAny(v, "\x00\n\r") {
			bad(field, "%q is not a file name (no leading or trailing spaces, no line breaks)", v)
			return
		}
		if strings.HasSuffix(v, "/") {
			bad(field, "%q names a folder; name the model file", v)
			return
		}
		for _, e := range exts {
			if strings.HasSuffix(strings.ToLower(v), e) {
				return
			}
		}
		bad(field, "%q is not a %s file", v, strings.Join(exts, " or "))
	}
	name("models.objects", m.Objects, ".onnx")
	name("models.classes", m.Classes, ".names", ".txt")
	name("models.faces", m.Faces, ".pb")
	name("models.faces_config", m.FacesConfig, ".pbtxt")
	name("models.text_recognizer", m.TextRecognizer, ".onnx")
	name("models.text_dictionary", m.TextDictionary, ".txt")
	name("models.text_detector", m.TextDetector, ".onnx")
	if m.VLM != "" {
		low := strings.ToLower(m.VLM)
		switch {
		case strings.TrimSpace(m.VLM) != m.VLM || strings.ContainsAny(m.VLM, "\x00\n\r"):
			bad("models.vlm", "%q is not a folder name (no leading or trailing spaces, no line breaks)", m.VLM)
		case strings.HasSuffix(low, ".gguf") || strings.HasSuffix(low, ".safetensors") || strings.HasSuffix(low, ".json") || strings.HasSuffix(low, ".onnx"):
			bad("models.vlm", "%q is a file; name the model's folder (the one holding config.json)", m.VLM)
		}
	}
	if m.Dir != "" && strings.ContainsAny(m.Dir, "\x00\n\r") {
		bad("models.dir", "%q is not a folder name", m.Dir)
	}
}

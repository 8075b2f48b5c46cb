// Package config is the caregiver's configuration of the assistant: one TOML file (documented by
// examples/assist.toml) read, validated and reloaded here.
//
// Load never panics on bad input. It returns every problem it finds at once as Problems, each
// naming the line and the field in plain words, so that `assist check` can list them for a
// caregiver who is not a programmer. Unknown keys are errors with a "did you mean" suggestion,
// because a misspelt key silently ignored is a setting that never takes effect.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Config is the whole caregiver file. Field tags are the TOML keys.
type Config struct {
	Language  string  `toml:"language"`  // BCP-47-ish language code for speech and OCR ("en", "en-us", "de")
	Verbosity string  `toml:"verbosity"` // "brief", "normal" or "detailed"
	Camera    Camera  `toml:"camera"`
	Audio     Audio   `toml:"audio"`
	Trigger   Trigger `toml:"trigger"`
	Speech    Speech  `toml:"speech"`
	Engines   Engines `toml:"engines"`
	Models    Models  `toml:"models"`
	Privacy   Privacy `toml:"privacy"`
}

// Camera says where frames come from.
type Camera struct {
	// Source is a V4L2 index ("0") or path ("/dev/video0"), a video file, an rtsp:// or http://
	// URL, or a still image.
	Source string `toml:"source"`
	Width  int    `toml:"width"`
	Height int    `toml:"height"`
	Burst  int    `toml:"burst"` // frames captured per trigger; the sharpest is used
}

// Audio names the ALSA devices ("default" unless the caregiver pins an earpiece).
type Audio struct {
	Output string `toml:"output"`
	Input  string `toml:"input"`
}

// Trigger configures the button and the voice commands.
type Trigger struct {
	Keys        []string            `toml:"keys"`         // key names that mean "read this" (button)
	InputDevice string              `toml:"input_device"` // evdev path; empty: the terminal keyboard
	Voice       bool                `toml:"voice"`        // spot spoken commands with PocketSphinx
	Sensitivity float64             `toml:"sensitivity"`  // 0 (few false triggers) .. 1 (catches more)
	Phrases     map[string][]string `toml:"phrases"`      // command name -> spoken phrases
}

// Speech configures the voice of the answers and the earcons.
type Speech struct {
	// Engine is how eSpeak NG is run: "library" (libespeak-ng loaded in-process) or "program"
	// (the espeak-ng program per sentence: a process boundary to the GPL synthesiser).
	Engine  string `toml:"engine"`
	Voice   string `toml:"voice"`    // eSpeak NG voice name; empty: the language's default
	RateWPM int    `toml:"rate_wpm"` // 80..450 words per minute
	Pitch   int    `toml:"pitch"`    // 0..99 (eSpeak NG's scale, 50 normal)
	Volume  int    `toml:"volume"`   // 0..200 percent (100 normal)
	Earcons bool   `toml:"earcons"`  // tones for listening, working, error (never the only signal)
	History int    `toml:"history"`  // answers kept for "repeat"
}

// Engines chooses which answer engine serves which request.
type Engines struct {
	Read          string  `toml:"read"`           // "ocr", "vlm" or "none"
	Describe      string  `toml:"describe"`       // "scene" (detectors, and the VLM when installed), "vlm" or "none"
	Ask           string  `toml:"ask"`            // open questions: "vlm" or "none"
	MinConfidence float64 `toml:"min_confidence"` // 0..100: OCR words below this are hedged
	// VLMWait is how many seconds the scene engine waits for the vision-language model's first
	// words before it says what its detectors found instead.
	VLMWait float64 `toml:"vlm_wait"`
}

// Models holds file locations of the engines' data. The detector files are names in Dir
// (where `assist models install` puts them) unless absolute; an empty name switches that
// detector off.
type Models struct {
	Dir         string `toml:"dir"`          // the model folder; empty: DefaultModelDir()
	Objects     string `toml:"objects"`      // object detector, YOLOX-Nano ONNX
	Classes     string `toml:"classes"`      // its class names, one a line (COCO's 80)
	Faces       string `toml:"faces"`        // face detector, OpenCV's res10 SSD graph (.pb)
	FacesConfig string `toml:"faces_config"` // its TensorFlow text config (.pbtxt)
	// TextRecognizer is the text-recognition network that re-reads what Tesseract is unsure of
	// (PaddleOCR's PP-OCR recogniser, ONNX); TextDictionary its characters, one a line.
	TextRecognizer string `toml:"text_recognizer"`
	TextDictionary string `toml:"text_dictionary"`
	// TextDetector is the text-detection network (PaddleOCR's PP-OCR DBNet, ONNX) that answers
	// "is there text here"; without it a model-free check answers.
	TextDetector string `toml:"text_detector"`
	VLM          string `toml:"vlm"`      // vision-language model folder (holds config.json); empty: none
	Tessdata     string `toml:"tessdata"` // Tesseract data folder; empty: the system's
	Speech       string `toml:"speech"`   // PocketSphinx acoustic model folder; empty: the system's
	Dict         string `toml:"dict"`     // PocketSphinx pronunciation dictionary; empty: built in
}

// Privacy: frames are never stored unless DebugCapture is set.
type Privacy struct {
	DebugCapture bool   `toml:"debug_capture"`
	DebugDir     string `toml:"debug_dir"` // where captured frames go when DebugCapture is on
}

// Commands are the voice command names the phrases table may use.
var Commands = []string{"read", "describe", "repeat", "stop", "faster", "slower", "louder", "quieter", "colour", "light", "people", "text"}

// Default is the configuration used for keys the file leaves out.
func Default() Config {
	return Config{
		Language:  "en",
		Verbosity: "normal",
		Camera:    Camera{Source: "0", Width: 640, Height: 480, Burst: 5},
		Audio:     Audio{Output: "default", Input: "default"},
		Trigger: Trigger{
			Keys:        []string{"space", "enter"},
			Voice:       true,
			Sensitivity: 0.5,
			Phrases: map[string][]string{
				"read":     {"read this"},
				"describe": {"what is in front of me", "describe"},
				"repeat":   {"repeat"},
				"stop":     {"stop"},
				"faster":   {"faster"},
				"slower":   {"slower"},
				"louder":   {"louder"},
				"quieter":  {"quieter"},
				"colour":   {"what colour is this"},
				"light":    {"is the light on"},
				"people":   {"how many people"},
				"text":     {"is there text here"},
			},
		},
		Speech:  Speech{Engine: "library", RateWPM: 175, Pitch: 50, Volume: 100, Earcons: true, History: 10},
		Engines: Engines{Read: "ocr", Describe: "scene", Ask: "vlm", MinConfidence: 60, VLMWait: 10},
		Models: Models{
			Objects: "yolox_nano.onnx", Classes: "coco.names",
			Faces: "opencv_face_detector_uint8.pb", FacesConfig: "opencv_face_detector.pbtxt",
			TextRecognizer: "ch_PP-OCRv4_rec_infer.onnx", TextDictionary: "ppocr_keys_v1.txt",
			TextDetector: "ch_PP-OCRv4_det_infer.onnx",
		},
	}
}

// DefaultModelDir is the model folder when models.dir is empty: $XDG_DATA_HOME/assist/models,
// else ~/.local/share/assist/models (the working folder's "models" when there is no home).
func DefaultModelDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "assist", "models")
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".local", "share", "assist", "models")
	}
	return "models"
}

// Folder is the model folder in force.
func (m Models) Folder() string {
	if m.Dir == "" {
		return DefaultModelDir()
	}
	return m.Dir
}

// Path is where a model file named in the configuration is: name itself when absolute, else in
// the model folder; "" for "".
func (m Models) Path(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(m.Folder(), name)
}

// ModelFile is one file the configuration names for a capability.
type ModelFile struct {
	Field      string // "models.objects"
	Path       string // resolved
	Capability string // what is off without it, in words: "object recognition"
	Dir        bool   // a folder (the vision-language model), not a file
}

// ModelFiles lists the model files the configuration names (the empty keys, switched off, are
// left out).
func (c Config) ModelFiles() []ModelFile {
	var fs []ModelFile
	add := func(field, name, what string, dir bool) {
		if name != "" {
			fs = append(fs, ModelFile{Field: field, Path: c.Models.Path(name), Capability: what, Dir: dir})
		}
	}
	add("models.objects", c.Models.Objects, "object recognition", false)
	add("models.classes", c.Models.Classes, "object recognition", false)
	add("models.faces", c.Models.Faces, "face detection", false)
	add("models.faces_config", c.Models.FacesConfig, "face detection", false)
	add("models.text_recognizer", c.Models.TextRecognizer, "the text-recognition network", false)
	add("models.text_dictionary", c.Models.TextDictionary, "the text-recognition network", false)
	add("models.text_detector", c.Models.TextDetector, "the text-detection network", false)
	add("models.vlm", c.Models.VLM, "the vision-language model", true)
	return fs
}

// Problem is one thing wrong in the file, with its place.
type Problem struct {
	File  string
	Line  int    // 1-based; 0 when unknown
	Field string // dotted key, e.g. "speech.rate_wpm"
	Msg   string // plain words
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Field == "" {
		return fmt.Sprintf("%s: %s", loc, p.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, p.Field, p.Msg)
}

// Problems is the error Load returns for a bad file: every problem found.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

// ErrBadConfig is wrapped by every error about the file's contents (not about reading it).
var ErrBadConfig = errors.New("bad config")

func (ps Problems) Is(target error) bool { return target == ErrBadConfig }

// Load reads and validates the file at path.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(path, data)
	cfg.resolvePaths(filepath.Dir(path)) // also with Problems: assist check goes on to check the files
	return cfg, err
}

// Locate fills in the file and line of problems found after Load (assist check's checks of what
// the settings mean): each Field's line in the file at path, or its table's.
func Locate(path string, ps []Problem) []Problem {
	data, err := os.ReadFile(path)
	var lines lineIndex
	if err == nil {
		lines, _ = keyLines(data)
	}
	out := make([]Problem, len(ps))
	for i, p := range ps {
		p.File = path
		if p.Line == 0 {
			p.Line = lines.lineOf(p.Field)
		}
		out[i] = p
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// resolvePaths makes the file paths of the configuration relative to its folder, as a caregiver
// expects ("sample.png" next to the file), whatever the daemon's working folder.
func (c *Config) resolvePaths(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	src := strings.TrimSpace(c.Camera.Source)
	if _, err := strconv.Atoi(src); err != nil && !strings.Contains(src, "://") && !strings.Contains(src, "!") {
		c.Camera.Source = abs(src)
	}
	c.Models.Dir = abs(c.Models.Dir)
	c.Models.VLM = abs(c.Models.VLM)
	c.Models.Tessdata = abs(c.Models.Tessdata)
	c.Models.Speech = abs(c.Models.Speech)
	c.Models.Dict = abs(c.Models.Dict)
	c.Privacy.DebugDir = abs(c.Privacy.DebugDir)
}

// maxFileSize bounds what Parse reads: a caregiver's file is a few kilobytes.
const maxFileSize = 1 << 20

// Parse validates data (the contents of the file named name) and returns the configuration, with
// defaults for the keys it leaves out, or Problems.
func Parse(name string, data []byte) (Config, error) {
	cfg := Default()
	if len(data) > maxFileSize {
		return cfg, Problems{{File: name, Msg: fmt.Sprintf("the file is %d bytes; a configuration file is at most %d", len(data), maxFileSize)}}
	}
	lines, err := keyLines(data)
	if err != nil {
		return cfg, Problems{syntaxProblem(name, data, err)}
	}
	// The phrases table replaces the default one as a whole only for the commands it names.
	defPhrases := cfg.Trigger.Phrases
	cfg.Trigger.Phrases = nil
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ps Problems
	if err := dec.Decode(&cfg); err != nil {
		var strict *toml.StrictMissingError
		var de *toml.DecodeError
		switch {
		case errors.As(err, &strict):
			for _, e := range strict.Errors {
				ps = append(ps, unknownKey(name, e))
			}
		case errors.As(err, &de):
			line, _ := de.Position()
			field := strings.Join(de.Key(), ".")
			ps = append(ps, Problem{File: name, Line: line, Field: field, Msg: plainDecodeMsg(de.Error())})
			return Default(), ps // the struct is half-filled: do not validate it
		default:
			return Default(), Problems{{File: name, Msg: err.Error()}}
		}
	}
	merged := map[string][]string{}
	for k, v := range defPhrases {
		merged[k] = v
	}
	for k, v := range cfg.Trigger.Phrases {
		merged[k] = v
	}
	cfg.Trigger.Phrases = merged
	for _, p := range validate(&cfg) {
		p.File = name
		p.Line = lines.lineOf(p.Field)
		ps = append(ps, p)
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	if len(ps) > 0 {
		return cfg, ps
	}
	return cfg, nil
}

func syntaxProblem(name string, data []byte, err error) Problem {
	var pe *unstable.ParserError
	if errors.As(err, &pe) && len(pe.Highlight) > 0 {
		off := highlightOffset(data, pe.Highlight)
		line := 1 + bytes.Count(data[:off], []byte("\n"))
		return Problem{File: name, Line: line, Msg: "the file is not valid TOML: " + pe.Message}
	}
	return Problem{File: name, Msg: "the file is not valid TOML: " + err.Error()}
}

// highlightOffset finds where sub (a subslice of data) starts.
func highlightOffset(data, sub []byte) int {
	if len(sub) == 0 || len(data) == 0 {
		return 0
	}
	d := reflect.ValueOf(data).Pointer()
	s := reflect.ValueOf(sub).Pointer()
	if s < d || s > d+uintptr(len(data)) {
		return 0
	}
	return int(s - d)
}

// plainDecodeMsg turns go-toml's type errors into words a caregiver understands.
func plainDecodeMsg(msg string) string {
	msg = strings.TrimPrefix(msg, "toml: ")
	switch {
	case strings.Contains(msg, "into a Go value of type string"), strings.Contains(msg, "of type string"):
		return "expected text in quotes, like \"en\" (" + msg + ")"
	case strings.Contains(msg, "type int"), strings.Contains(msg, "type float"):
		return "expected a number without quotes (" + msg + ")"
	case strings.Contains(msg, "type bool"):
		return "expected true or false without quotes (" + msg + ")"
	case strings.Contains(msg, "slice"), strings.Contains(msg, "[]string"):
		return "expected a list in brackets, like [\"space\"] (" + msg + ")"
	}
	return msg
}

func unknownKey(name string, e toml.DecodeError) Problem {
	key := e.Key()
	line, _ := e.Position()
	field := strings.Join(key, ".")
	msg := "unknown setting"
	if len(key) > 0 {
		known := knownKeys(key[:len(key)-1])
		if s := suggest(key[len(key)-1], known); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		} else if len(known) > 0 {
			msg += "; the settings here are " + strings.Join(known, ", ")
		}
	}
	return Problem{File: name, Line: line, Field: field, Msg: msg}
}

// knownKeys lists the TOML keys of the table at path (nil for the top level).
func knownKeys(path []string) []string {
	t := reflect.TypeOf(Config{})
	for i, part := range path {
		f, ok := fieldByTag(t, part)
		if !ok {
			return nil
		}
		t = f.Type
		if t.Kind() == reflect.Map {
			if i == len(path)-1 && t == reflect.TypeOf(map[string][]string{}) {
				return Commands
			}
			return nil
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		keys = append(keys, t.Field(i).Tag.Get("toml"))
	}
	return keys
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("toml") == tag {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// suggest returns the known key closest to k, when it is close enough to be a typo.
func suggest(k string, known []string) string {
	k = strings.ToLower(k)
	if len(k) >= 3 {
		for _, c := range known {
			if strings.HasPrefix(c, k) || strings.HasPrefix(k, c) {
				return c
			}
		}
	}
	best, bestD := "", 1<<30
	for _, c := range known {
		if d := editDistance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(k) > 8 {
		limit = 3
	}
	if bestD <= limit && bestD < len(k) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// lineIndex maps dotted keys and table names to the line that sets them.
type lineIndex map[string]int

// lineOf finds the line of field, or of the nearest enclosing table that the file names.
func (li lineIndex) lineOf(field string) int {
	for f := field; f != ""; {
		if l, ok := li[f]; ok {
			return l
		}
		i := strings.LastIndexByte(f, '.')
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}

// keyLines walks the document with go-toml's parser and records the line of every key.
func keyLines(data []byte) (lineIndex, error) {
	li := lineIndex{}
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyParts(e.Key())
			li.set(strings.Join(table, "."), lineAt(&p, e))
		case unstable.KeyValue:
			full := append(append([]string{}, table...), keyParts(e.Key())...)
			li.set(strings.Join(full, "."), lineAt(&p, e))
		}
	}
	return li, p.Error()
}

func (li lineIndex) set(k string, line int) {
	if _, ok := li[k]; !ok && line > 0 {
		li[k] = line
	}
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

func lineAt(p *unstable.Parser, n *unstable.Node) int {
	if n.Raw.Length == 0 {
		// Table headers carry no range; use their first key part.
		it := n.Key()
		if it.Next() {
			k := it.Node()
			if k.Raw.Length > 0 {
				return p.Shape(k.Raw).Start.Line
			}
			return 1 + bytes.Count(p.Data()[:highlightOffset(p.Data(), k.Data)], []byte("\n"))
		}
		return 0
	}
	return p.Shape(n.Raw).Start.Line
}

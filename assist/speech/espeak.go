package speech

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// ESpeak is the eSpeak NG text-to-speech engine, loaded at run time with purego (no cgo).
//
// Licence boundary: libespeak-ng is GPL-3.0-or-later. This file is the only place that talks to
// it; the library is opened with dlopen when the assistant starts, never linked at build time, and
// nothing of it is copied into this repository. Program (espeak-ng as a subprocess) is the
// arm's-length alternative when a distributor wants the process boundary.
//
// eSpeak NG keeps global state, so all synthesis is serialised by one mutex; it is fast (tens of
// times faster than real time), so speech is synthesised a sentence at a time and played while
// the next sentence is synthesised.
type ESpeak struct {
	rate int
}

// ErrNoESpeak is wrapped when libespeak-ng cannot be loaded.
var ErrNoESpeak = errors.New("eSpeak NG is not installed (apt-get install espeak-ng libespeak-ng1)")

var (
	esOnce sync.Once
	esErr  error
	esRate int

	esMu sync.Mutex // one synthesis at a time: the library is not reentrant

	espeakInitialize     func(output, buflength int32, path unsafe.Pointer, options int32) int32
	espeakSetSynthCB     func(cb uintptr)
	espeakSetVoiceByName func(name string) int32
	espeakSetParameter   func(param, value, relative int32) int32
	espeakSynth          func(text string, size uintptr, position uint32, posType int32, end uint32, flags uint32, uid unsafe.Pointer, user unsafe.Pointer) int32
	espeakSynchronize    func() int32
	espeakInfo           func(path unsafe.Pointer) string
	espeakListVoices     func(spec unsafe.Pointer) unsafe.Pointer

	// The request the callback delivers to (guarded by esMu while a synthesis runs).
	esCur *esRequest
)

type esRequest struct {
	ctx   context.Context
	chunk func([]int16) bool
	stop  bool
}

const (
	audioOutputSynchronous = 2
	espeakCharsUTF8        = 1
	paramRate              = 1
	paramVolume            = 2
	paramPitch             = 3
	// chunkMS is the callback's buffer: the longest eSpeak runs before it can be told to stop.
	chunkMS = 20
)

// libNames are tried in order; RPIQ_ESPEAK_LIB overrides them (tests use it to simulate a
// missing engine).
func libNames() []string {
	if p := os.Getenv("RPIQ_ESPEAK_LIB"); p != "" {
		return []string{p}
	}
	return []string{"libespeak-ng.so.1", "libespeak-ng.so"}
}

func loadESpeak() {
	var h uintptr
	var err error
	for _, n := range libNames() {
		if h, err = purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_GLOBAL); err == nil {
			break
		}
	}
	if err != nil {
		esErr = fmt.Errorf("%w: %v", ErrNoESpeak, err)
		return
	}
	for _, f := range []struct {
		ptr  any
		name string
	}{
		{&espeakInitialize, "espeak_Initialize"},
		{&espeakSetSynthCB, "espeak_SetSynthCallback"},
		{&espeakSetVoiceByName, "espeak_SetVoiceByName"},
		{&espeakSetParameter, "espeak_SetParameter"},
		{&espeakSynth, "espeak_Synth"},
		{&espeakSynchronize, "espeak_Synchronize"},
		{&espeakInfo, "espeak_Info"},
		{&espeakListVoices, "espeak_ListVoices"},
	} {
		sym, err := purego.Dlsym(h, f.name)
		if err != nil {
			esErr = fmt.Errorf("%w: %s missing: %v", ErrNoESpeak, f.name, err)
			return
		}
		purego.RegisterFunc(f.ptr, sym)
	}
	rate := espeakInitialize(audioOutputSynchronous, chunkMS, nil, 0)
	if rate <= 0 {
		esErr = fmt.Errorf("%w: espeak_Initialize returned %d (is espeak-ng-data installed?)", ErrNoESpeak, rate)
		return
	}
	esRate = int(rate)
	espeakSetSynthCB(purego.NewCallback(esCallback))
}

// esCallback receives PCM from eSpeak; returning 1 aborts the synthesis.
func esCallback(wav *int16, n int32, events uintptr) int32 {
	r := esCur
	if r == nil || r.stop {
		return 1
	}
	if r.ctx.Err() != nil {
		r.stop = true
		return 1
	}
	if wav != nil && n > 0 {
		s := unsafe.Slice(wav, int(n))
		buf := make([]int16, n)
		copy(buf, s)
		if !r.chunk(buf) {
			r.stop = true
			return 1
		}
	}
	return 0
}

// OpenESpeak loads the library (once per process).
func OpenESpeak() (*ESpeak, error) {
	esOnce.Do(loadESpeak)
	if esErr != nil {
		return nil, esErr
	}
	return &ESpeak{rate: esRate}, nil
}

// Version is the library's version string.
func (e *ESpeak) Version() string {
	esMu.Lock()
	defer esMu.Unlock()
	return espeakInfo(nil)
}

// SampleRate is the rate of the PCM the engine produces (22050 Hz for the stock voices).
func (e *ESpeak) SampleRate() int { return e.rate }

// Synthesize speaks text with voice v, handing PCM to chunk as it is produced (chunk returns
// false to stop). It returns ctx.Err() when cancelled.
func (e *ESpeak) Synthesize(ctx context.Context, text string, v Voice, chunk func([]int16) bool) error {
	if err := v.Validate(); err != nil {
		return err
	}
	esMu.Lock()
	defer esMu.Unlock()
	name := v.Name
	if name == "" {
		name = "en"
	}
	if rc := espeakSetVoiceByName(name); rc != 0 {
		return fmt.Errorf("speech: eSpeak NG has no voice %q (see `espeak-ng --voices`)", name)
	}
	espeakSetParameter(paramRate, int32(v.RateWPM), 0)
	espeakSetParameter(paramPitch, int32(v.Pitch), 0)
	espeakSetParameter(paramVolume, int32(v.Volume), 0)
	req := &esRequest{ctx: ctx, chunk: chunk}
	esCur = req
	defer func() { esCur = nil }()
	text = strings.ReplaceAll(text, "\x00", " ") // purego passes a C string: no NULs inside
	rc := espeakSynth(text, uintptr(len(text)+1), 0, 1, 0, espeakCharsUTF8, nil, nil)
	espeakSynchronize()
	if err := ctx.Err(); err != nil {
		return err
	}
	if rc != 0 && !req.stop {
		return fmt.Errorf("speech: espeak_Synth failed with code %d", rc)
	}
	return nil
}

// esVoice is speak_lib.h's espeak_VOICE.
type esVoice struct {
	name, languages, identifier *byte
	gender, age, variant, xx1   uint8
	score                       int32
	spare                       unsafe.Pointer
}

// VoiceInfo is an installed eSpeak NG voice.
type VoiceInfo struct {
	Name       string   // "English (America)", "Klingon"
	Identifier string   // "gmw/en-US", "art/piqd"
	Languages  []string // "en-us", "en"; lower case
}

// matches reports whether name (lower case, no variant) chooses this voice by its name or its
// identifier (with or without the family folder), or, when byLanguage, by one of its languages.
func (v VoiceInfo) matches(name string, byLanguage bool) bool {
	id := strings.ToLower(v.Identifier)
	if name == "" {
		return false
	}
	if !byLanguage {
		return name == strings.ToLower(v.Name) || name == id || id[strings.LastIndexByte(id, '/')+1:] == name
	}
	for _, l := range v.Languages {
		if l == name {
			return true
		}
	}
	return false
}

// Voices lists the installed voices (espeak_ListVoices).
func (e *ESpeak) Voices() []VoiceInfo {
	esMu.Lock()
	defer esMu.Unlock()
	list := espeakListVoices(nil)
	var out []VoiceInfo
	cstring := func(p unsafe.Pointer) string {
		var b []byte
		for q := p; q != nil && *(*byte)(q) != 0; q = unsafe.Add(q, 1) {
			b = append(b, *(*byte)(q))
		}
		return string(b)
	}
	for i := 0; list != nil; i++ {
		v := *(**esVoice)(unsafe.Add(list, i*int(unsafe.Sizeof(uintptr(0)))))
		if v == nil {
			break
		}
		info := VoiceInfo{Name: cstring(unsafe.Pointer(v.name)), Identifier: cstring(unsafe.Pointer(v.identifier))}
		// languages: (priority byte, NUL-terminated name) pairs, ended by a zero priority.
		for q := unsafe.Pointer(v.languages); q != nil && *(*byte)(q) != 0; {
			q = unsafe.Add(q, 1)
			lang := cstring(q)
			info.Languages = append(info.Languages, strings.ToLower(lang))
			q = unsafe.Add(q, len(lang)+1)
		}
		out = append(out, info)
	}
	return out
}

// FindVoice returns the installed voice that name ("en-us", "en+f3", "English (America)")
// chooses. espeak_SetVoiceByName falls back to a default voice for a name it does not know, so
// a caregiver's setting is checked against the list instead.
func (e *ESpeak) FindVoice(name string) (VoiceInfo, bool) {
	base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(name)), "+")
	base = strings.ReplaceAll(base, "_", "-")
	voices := e.Voices()
	for _, byLanguage := range []bool{false, true} {
		for _, v := range voices {
			if v.matches(base, byLanguage) {
				return v, true
			}
		}
	}
	return VoiceInfo{}, false
}

// SpeaksLanguage reports whether the voice is meant for lang ("en" matches "en-gb", "en-us").
func (v VoiceInfo) SpeaksLanguage(lang string) bool {
	base, _, _ := strings.Cut(strings.ToLower(lang), "-")
	for _, l := range v.Languages {
		if b, _, _ := strings.Cut(l, "-"); b == base {
			return true
		}
	}
	return false
}

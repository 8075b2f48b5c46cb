package trigger

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// commandsDict is the pronunciation of every word of the default phrases, in CMU dictionary
// notation. "read" is R IY D: keyphrase search uses a word's first pronunciation, and the stock
// dictionary lists "red" first.
//
//go:embed commands.dict
var commandsDict string

// Default locations of the Debian package pocketsphinx-en-us.
const (
	DefaultModelDir   = "/usr/share/pocketsphinx/model/en-us/en-us"
	DefaultDictionary = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"
)

// SampleRate is the rate the spotter expects: 16 kHz mono signed 16-bit.
const SampleRate = 16000

// Phrase is a spoken command.
type Phrase struct {
	Text    string
	Command Command
	// Exponent sets the keyphrase threshold 10^Exponent at Sensitivity 0.5 (more negative: more
	// eager). Zero means a default chosen by the phrase's length.
	Exponent float64
}

// DefaultPhrases are the commands of the assistant, with thresholds tuned on eSpeak NG voices
// (en and en-us, 130 and 175 words per minute) against unrelated sentences.
func DefaultPhrases() []Phrase {
	return []Phrase{
		{Text: "read this", Command: ReadThis},
		{Text: "what is in front of me", Command: Describe},
		{Text: "describe", Command: Describe},
		{Text: "repeat", Command: Repeat},
		{Text: "stop", Command: Stop},
		{Text: "faster", Command: Faster},
		{Text: "slower", Command: Slower},
		{Text: "louder", Command: Louder},
		{Text: "quieter", Command: Quieter},
	}
}

// SpotterOptions configures a Spotter. The zero value uses the Debian model and DefaultPhrases.
type SpotterOptions struct {
	ModelDir   string   // acoustic model folder; default DefaultModelDir
	Dictionary string   // dictionary for words the embedded one lacks; default DefaultDictionary
	Phrases    []Phrase // default DefaultPhrases()
	// Sensitivity in 0..1 (default 0.5) moves every threshold: 1 hears more and false-triggers
	// more, 0 needs clearer speech. Each 0.1 is a factor of 100 in the threshold.
	Sensitivity float64
	// Cooldown: the same command heard again within it is dropped; default 1 s.
	Cooldown time.Duration
}

// Spotter finds command phrases in 16 kHz audio with PocketSphinx keyphrase search. It is not
// safe for concurrent use except through Voice.
type Spotter struct {
	api     *sphinxAPI
	cfg     uintptr
	ps      uintptr
	argv    *cArgv
	tmpDir  string
	phrases map[string]Command
	cool    time.Duration

	mu        sync.Mutex
	processed int64 // samples fed since start
	uttStart  int64 // sample at which the current utterance began
	last      map[Command]int64
	closed    bool
}

func defaultExponent(text string) float64 {
	switch n := len(strings.Fields(text)); {
	case n >= 4:
		return -30
	case n >= 2:
		return -20
	default:
		return -10
	}
}

// NewSpotter loads the model. Errors wrap ErrNoRecognizer when PocketSphinx is missing, and name
// the phrase and word when a word has no pronunciation.
func NewSpotter(opts SpotterOptions) (*Spotter, error) {
	if opts.ModelDir == "" {
		opts.ModelDir = DefaultModelDir
	}
	if opts.Dictionary == "" {
		opts.Dictionary = DefaultDictionary
	}
	if opts.Phrases == nil {
		opts.Phrases = DefaultPhrases()
	}
	if opts.Sensitivity == 0 {
		opts.Sensitivity = 0.5
	}
	if opts.Sensitivity < 0 || opts.Sensitivity > 1 || math.IsNaN(opts.Sensitivity) {
		return nil, fmt.Errorf("trigger: sensitivity %v is outside 0..1", opts.Sensitivity)
	}
	if opts.Cooldown == 0 {
		opts.Cooldown = time.Second
	}
	if len(opts.Phrases) == 0 {
		return nil, fmt.Errorf("trigger: no voice command phrases")
	}
	api, err := loadSphinx()
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(filepath.Join(opts.ModelDir, "mdef")); err != nil || st.IsDir() {
		return nil, fmt.Errorf("%w (acoustic model %s has no mdef file)", ErrNoRecognizer, opts.ModelDir)
	}

	dict, err := buildDictionary(opts.Phrases, opts.Dictionary)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "rpiq-kws-")
	if err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	s := &Spotter{api: api, tmpDir: tmp, phrases: map[string]Command{}, cool: opts.Cooldown, last: map[Command]int64{}}
	fail := func(err error) (*Spotter, error) {
		s.Close()
		return nil, err
	}
	var kws strings.Builder
	for _, p := range opts.Phrases {
		text := normalizePhrase(p.Text)
		if prev, dup := s.phrases[text]; dup && prev != p.Command {
			return fail(fmt.Errorf("trigger: phrase %q is given for both %s and %s", p.Text, prev, p.Command))
		}
		s.phrases[text] = p.Command
		exp := p.Exponent
		if exp == 0 {
			exp = defaultExponent(text)
		}
		exp -= (opts.Sensitivity - 0.5) * 20
		fmt.Fprintf(&kws, "%s /1e%+d/\n", text, int(math.Round(exp)))
	}
	dictPath := filepath.Join(tmp, "commands.dict")
	kwsPath := filepath.Join(tmp, "commands.kws")
	if err := os.WriteFile(dictPath, []byte(dict), 0o600); err != nil {
		return fail(fmt.Errorf("trigger: %w", err))
	}
	if err := os.WriteFile(kwsPath, []byte(kws.String()), 0o600); err != nil {
		return fail(fmt.Errorf("trigger: %w", err))
	}
	s.argv = newCArgv([]string{
		"-hmm", opts.ModelDir, "-dict", dictPath, "-logfn", "/dev/null", "-samprate", "16000",
	})
	s.cfg = api.cmdLnParseR(0, api.psArgs(), s.argv.argc(), s.argv.argv(), 1)
	if s.cfg == 0 {
		return fail(fmt.Errorf("%w (PocketSphinx rejected its configuration)", ErrNoRecognizer))
	}
	s.ps = api.psInit(s.cfg)
	if s.ps == 0 {
		return fail(fmt.Errorf("%w (PocketSphinx could not load the model %s)", ErrNoRecognizer, opts.ModelDir))
	}
	if api.psSetKws(s.ps, "commands", kwsPath) != 0 {
		return fail(fmt.Errorf("trigger: PocketSphinx rejected the keyphrase list %s", kwsPath))
	}
	if api.psSetSearch(s.ps, "commands") != 0 || api.psStartUtt(s.ps) != 0 {
		return fail(fmt.Errorf("trigger: PocketSphinx could not start keyphrase search"))
	}
	return s, nil
}

func normalizePhrase(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// buildDictionary returns a dictionary with exactly the words of the phrases: the embedded
// pronunciation first, else the first one in the system dictionary.
func buildDictionary(phrases []Phrase, systemDict string) (string, error) {
	own := parseDict(strings.NewReader(commandsDict))
	need := map[string]bool{}
	for _, p := range phrases {
		words := strings.Fields(strings.ToLower(p.Text))
		if len(words) == 0 {
			return "", fmt.Errorf("trigger: an empty voice phrase (for %s)", p.Command)
		}
		for _, w := range words {
			need[w] = true
		}
	}
	missing := map[string]bool{}
	for w := range need {
		if _, ok := own[w]; !ok {
			missing[w] = true
		}
	}
	if len(missing) > 0 {
		if f, err := os.Open(systemDict); err == nil {
			sys := parseDictWords(f, missing)
			f.Close()
			for w, pr := range sys {
				own[w] = pr
				delete(missing, w)
			}
		}
	}
	if len(missing) > 0 {
		var bad []string
		for _, p := range phrases {
			for _, w := range strings.Fields(strings.ToLower(p.Text)) {
				if missing[w] {
					bad = append(bad, fmt.Sprintf("%q in phrase %q", w, p.Text))
					delete(missing, w)
				}
			}
		}
		return "", fmt.Errorf("trigger: no pronunciation for %s (not in the embedded dictionary nor in %s)", strings.Join(bad, ", "), systemDict)
	}
	words := make([]string, 0, len(need))
	for w := range need {
		words = append(words, w)
	}
	sort.Strings(words)
	var b strings.Builder
	for _, w := range words {
		fmt.Fprintf(&b, "%s %s\n", w, own[w])
	}
	return b.String(), nil
}

// parseDict reads "word PH ON ES" lines, keeping the first pronunciation of each word.
func parseDict(r io.Reader) map[string]string {
	return parseDictWords(r, nil)
}

// parseDictWords is parseDict restricted to the words in only (all words when only is nil).
func parseDictWords(r io.Reader, only map[string]bool) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], ";;") || strings.Contains(f[0], "(") {
			continue // comments and alternative pronunciations ("read(2)")
		}
		w := strings.ToLower(f[0])
		if only != nil && !only[w] {
			continue
		}
		if _, seen := out[w]; !seen {
			out[w] = strings.Join(f[1:], " ")
		}
	}
	return out
}

// Process feeds 16 kHz mono samples and returns the commands whose phrases ended in them.
func (s *Spotter) Process(samples []int16) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("trigger: the spotter is closed")
	}
	if len(samples) == 0 {
		return nil, nil
	}
	if s.api.psProcRaw(s.ps, &samples[0], uintptr(len(samples)), 0, 0) < 0 {
		return nil, errors.New("trigger: PocketSphinx failed to process audio")
	}
	s.processed += int64(len(samples))
	var score int32
	if hyp := s.api.psGetHyp(s.ps, &score); hyp == "" {
		return nil, nil
	}
	now := time.Now()
	var events []Event
	for seg := s.api.psSegIter(s.ps); seg != 0; seg = s.api.psSegNext(seg) {
		word := s.api.psSegWord(seg)
		var sf, ef int32
		s.api.psSegFrames(seg, &sf, &ef)
		cmd, ok := s.phrases[normalizePhrase(word)]
		if !ok {
			continue
		}
		end := s.uttStart + int64(ef+1)*SampleRate/100 // 100 frames per second
		if end > s.processed {
			end = s.processed
		}
		if last, seen := s.last[cmd]; seen && end-last < int64(s.cool/time.Millisecond)*SampleRate/1000 {
			continue
		}
		s.last[cmd] = end
		events = append(events, Event{
			Command: cmd, Origin: FromVoice, Time: now, Phrase: normalizePhrase(word),
			Offset: time.Duration(end) * time.Second / SampleRate,
		})
	}
	// Start a fresh utterance so the same words are not reported again.
	s.api.psEndUtt(s.ps)
	s.api.psStartUtt(s.ps)
	s.uttStart = s.processed
	return events, nil
}

// Close frees the decoder and its files.
func (s *Spotter) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.ps != 0 {
		s.api.psEndUtt(s.ps)
		s.api.psFree(s.ps)
		s.ps = 0
	}
	if s.cfg != 0 {
		s.api.cmdLnFreeR(s.cfg)
		s.cfg = 0
	}
	if s.argv != nil {
		s.argv.free()
	}
	return os.RemoveAll(s.tmpDir)
}

// PCMSource is where Voice reads audio: 16 kHz mono samples, blocking until some arrive, io.EOF
// at the end. *audio.Microphone satisfies it.
type PCMSource interface {
	Read(p []int16) (int, error)
}

// Voice is a Trigger that spots commands in a PCMSource.
type Voice struct {
	Source  PCMSource
	Spotter *Spotter
	// Chunk is the number of samples per PocketSphinx call; default 1600 (100 ms).
	Chunk int
}

// Run implements Trigger. It returns nil at the end of the source or when ctx ends (checked
// between reads; a microphone delivers a chunk every few tens of milliseconds).
func (v *Voice) Run(ctx context.Context, events chan<- Event) error {
	n := v.Chunk
	if n <= 0 {
		n = 1600
	}
	buf := make([]int16, n)
	for ctx.Err() == nil {
		k, err := v.Source.Read(buf)
		if k > 0 {
			evs, perr := v.Spotter.Process(buf[:k])
			if perr != nil {
				return perr
			}
			for _, e := range evs {
				if !send(ctx, events, e) {
					return nil
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("trigger: reading audio: %w", err)
		}
	}
	return nil
}

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
	// Variants, when set, are the only keyphrase variants searched (in dictionary notation:
	// "what(2) colour is this(2)"); nil searches every combination of the words'
	// pronunciations. Tuning drops variants that match unrelated speech more than the phrase.
	Variants []string
}

// DefaultPhrases are the commands of the assistant (the phrases of examples/assist.toml). The
// exponents (at Sensitivity 0.5, with the phone-loop penalty and the island rule of NewSpotter)
// were chosen (round 7) on the spotter's own scores (TestCollectSpotterScores, utterance
// restarted in every pause) of eSpeak NG voices — 4 voices x 2 rates x 2 pitches saying every
// phrase between other sentences, and 146 minutes of unrelated text (passages 0-11, 1000-1019,
// 2000-2019, 5000-5049, 7000-7049). Rule, recall first: each phrase's threshold is the middle
// of the gap between the lowest score of any rendering saying it alone and the highest score
// below that of the phrase where it was not said (an island of unrelated text, or another
// command's island in the streams), rounded down; a phrase with nothing below its lowest
// rendering kept its earlier threshold. False alarms scoring above a phrase's lowest rendering
// are not avoided by this rule; docs/DESIGN.md has the rates measured on other text. Longer
// phrases score higher, so their thresholds are higher too.
func DefaultPhrases() []Phrase {
	return []Phrase{
		{Text: "read this", Command: ReadThis, Exponent: 29},
		{Text: "what is in front of me", Command: Describe, Exponent: -30},
		{Text: "describe", Command: Describe, Exponent: -15},
		{Text: "repeat", Command: Repeat, Exponent: 5},
		{Text: "stop", Command: Stop, Exponent: 18},
		{Text: "faster", Command: Faster, Exponent: 33},
		{Text: "slower", Command: Slower, Exponent: -1},
		{Text: "louder", Command: Louder, Exponent: 23},
		{Text: "quieter", Command: Quieter, Exponent: 29},
		// "What sportsmen!" in War and Peace scored up to 75.6 on the variants with W AH T.
		// -1, not 0: the rule's middle of -19.0..19.1, and an Exponent of 0 means the default (20).
		{Text: "what colour is this", Command: Colour, Exponent: -1,
			Variants: []string{"what(2) colour is this(2)", "what(2) colour(2) is this", "what(2) colour(2) is this(2)"}},
		{Text: "is the light on", Command: Light, Exponent: 50},
		{Text: "how many people", Command: People, Exponent: 20},
		{Text: "is there text here", Command: TextHere, Exponent: 15},
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

	// Pause is the silence a command must follow and be followed by: commands are said as
	// commands, not in the middle of running speech. Default 300 ms; negative: no pause needed.
	Pause time.Duration

	// extra PocketSphinx arguments (tests comparing search settings).
	extra []string
	// onsetLead, when positive, starts each utterance this long before the onset of speech
	// that follows a pause (the audio in between is not searched), instead of at the pause.
	onsetLead time.Duration
	// confirm turns on the confirming pass (confirm.go): the phrase chosen for an island is
	// reported only if a second decode of the island's audio with a grammar of that phrase
	// alone explains it nearly as well as a loop over all phones: a margin of at least
	// confirmMargin (confirmMarginSet false: DefaultConfirmMargin).
	confirm          bool
	confirmMargin    float64
	confirmMarginSet bool
	// The warped decoder (warp.go, round 10), on by default: a second keyphrase decoder over
	// the same audio with its mel filters at warp times their frequencies (0: DefaultWarp),
	// whose detections decide only islands the usual decoder gives no command on, at the usual
	// thresholds plus warpShift powers of ten (warpShiftSet false: DefaultWarpShift). noWarp
	// turns it off; so do an onset lead and warpOnly/frateOnly, unless warp is set (with a lead
	// NewSpotter then fails: the lead runs one decoder).
	warp         float64
	warpKnee     float64 // Hz where the warp bends (unwarp), 0: a straight warp
	warpShift    float64
	warpShiftSet bool
	noWarp       bool
	// warpOnly, when not 0, gives the usual decoder the warped frontend instead (tests: what the
	// warped view hears on its own).
	warpOnly float64
	// The tempo decoder (warp.go, round 11), on by default: a further keyphrase decoder over
	// the same audio whose frontend takes tempoFrate frames a second instead of 100 (0:
	// DefaultTempoFrate; below 100 the speech looks faster to the model), with its filters at
	// tempoWarp times their frequencies (0: unwarped), deciding only islands neither the usual
	// nor the warped decoder gives a command on, at the usual thresholds plus tempoShift powers
	// of ten (tempoShiftSet false: DefaultTempoShift). noTempo turns it off; so do an onset lead
	// and warpOnly/frateOnly, unless tempoFrate is set (with a lead NewSpotter then fails).
	tempoFrate    int
	tempoWarp     float64
	tempoShift    float64
	tempoShiftSet bool
	noTempo       bool
	// The bent decoder (warp.go, round 13), on by default: a fourth keyphrase decoder whose
	// filters sit at bentWarp times their frequencies (0: DefaultBentWarp) below bentKnee Hz
	// (0: DefaultBentKnee) and are pressed under the Nyquist frequency above it (unwarp), so
	// the warp can go past maxWarp (eSpeak's en+Alicia raises its formants by 1.3-1.5). It
	// decides only islands none of the others gives a command on, at the usual thresholds plus
	// bentShift powers of ten (bentShiftSet false: DefaultBentShift). noBent turns it off; so
	// do an onset lead and warpOnly/frateOnly, unless bentWarp is set (with a lead NewSpotter
	// then fails).
	bentWarp     float64
	bentKnee     float64
	bentShift    float64
	bentShiftSet bool
	noBent       bool
	// bentSkip are phrases the bent decoder does not listen for (bentSkipSet false:
	// defaultBentSkip); with none left to listen for it is off.
	bentSkip    []string
	bentSkipSet bool
	// frateOnly, when not 0, gives the usual decoder that frame rate instead (tests: what the
	// tempo view hears on its own).
	frateOnly int
	// startNoPause does not count the start of the stream as a pause before the first island
	// (round 11's start rule, off by default: it dropped a command said at the very start of
	// a recording, as in eSpeak's "read this" given to assist listen, and removed no false
	// alarm on the never-used passages).
	startNoPause bool
}

// Spotter finds command phrases in 16 kHz audio with PocketSphinx keyphrase search. It is not
// safe for concurrent use except through Voice.
type Spotter struct {
	decoder
	tmpDir  string
	phrases map[string]Command
	thresh  map[string]float64 // phrase -> exponent in force
	cool    time.Duration
	pause   int64 // frames; 0: off
	levels  *levels

	mu            sync.Mutex
	processed     int64            // samples fed since start
	uttStart      int64            // sample at which the current utterance began (its first sample fed)
	uttFrame      int64            // level frame at which it was started
	lastLoud      int64            // last level frame above the quiet level
	restartFrames int64            // pause (frames) after speech that restarts the utterance
	tail          []int16          // the last restartFrames of audio fed (with lead: lead + a frame)
	lead          int64            // samples an utterance starts before its speech onset; 0: at the pause
	idle          bool             // (lead only) no utterance: waiting for speech after a pause
	seen          map[string]int64 // detections already taken (phrase and score), when
	pending       []detection      // waiting out holdSamples
	emitted       []detection      // recently reported
	last          map[Command]int64
	closed        bool
	// raw, when set (tests tuning thresholds), sees every detection PocketSphinx reports.
	raw func(detection)

	decided map[int64]int64 // islands already decided (first frame) -> when
	// chosen, when set (tests), sees every island decided and the candidates on it.
	chosen func(from, to int64, cands []detection)

	confirm       *confirmer // nil: no confirming pass
	confirmMargin float64
	hist          history // the last audio fed, for the confirming pass

	warped *warpedDecoder // nil: no warped decoder
	tempo  *warpedDecoder // nil: no tempo decoder
	bent   *warpedDecoder // nil: no bent decoder
	// extra are the decoders besides the usual one that are on, in the order they decide
	// islands (warped, tempo, bent), listed once as they are opened.
	extra []*warpedDecoder
	fps   int64 // the usual decoder's frames per second
	// startNoPause: the start of the stream is not a pause before the first island.
	startNoPause bool
}

func defaultExponent(text string) float64 {
	switch n := len(strings.Fields(text)); {
	case n >= 4:
		return 20
	case n >= 2:
		return 40
	default:
		return 25
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
	if opts.Pause == 0 {
		opts.Pause = DefaultPause
	}
	if len(opts.Phrases) == 0 {
		return nil, fmt.Errorf("trigger: no voice command phrases")
	}
	// The further decoders are on by default, but not with an onset lead (it runs one decoder)
	// nor when the usual decoder is given another decoder's view (warpOnly, frateOnly: tests of
	// what that view hears on its own).
	alone := opts.onsetLead > 0 || opts.warpOnly != 0 || opts.frateOnly != 0
	if opts.warp == 0 && !opts.noWarp && !alone {
		opts.warp = DefaultWarp
	}
	if opts.noWarp {
		opts.warp = 0
	}
	if !opts.warpShiftSet {
		opts.warpShift = DefaultWarpShift
	}
	if opts.tempoFrate == 0 && !opts.noTempo && !alone {
		opts.tempoFrate = DefaultTempoFrate
	}
	if opts.noTempo {
		opts.tempoFrate = 0
	}
	if !opts.tempoShiftSet {
		opts.tempoShift = DefaultTempoShift
	}
	if opts.bentWarp == 0 && !opts.noBent && !alone {
		opts.bentWarp = DefaultBentWarp
	}
	if opts.noBent {
		opts.bentWarp = 0
	}
	if !opts.bentShiftSet {
		opts.bentShift = DefaultBentShift
	}
	if !opts.bentSkipSet {
		opts.bentSkip = defaultBentSkip
	}
	bentSkip := map[string]bool{}
	for _, p := range opts.bentSkip {
		bentSkip[normalizePhrase(p)] = true
	}
	api, err := loadSphinx()
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(filepath.Join(opts.ModelDir, "mdef")); err != nil || st.IsDir() {
		return nil, fmt.Errorf("%w (acoustic model %s has no mdef file)", ErrNoRecognizer, opts.ModelDir)
	}

	dict, variants, err := buildDictionary(opts.Phrases, opts.Dictionary)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "rpiq-kws-")
	if err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	s := &Spotter{decoder: decoder{api: api}, fps: 100, startNoPause: opts.startNoPause, tmpDir: tmp, phrases: map[string]Command{}, thresh: map[string]float64{}, cool: opts.Cooldown, pause: max(0, int64(opts.Pause/(10*time.Millisecond))), levels: newLevels(), last: map[Command]int64{}, seen: map[string]int64{}}
	fail := func(err error) (*Spotter, error) {
		s.Close()
		return nil, err
	}
	var kws, warpedKws, tempoKws, bentKws strings.Builder
	for i, p := range opts.Phrases {
		text := normalizePhrase(p.Text)
		if prev, dup := s.phrases[text]; dup && prev != p.Command {
			return fail(fmt.Errorf("trigger: phrase %q is given for both %s and %s", p.Text, prev, p.Command))
		}
		s.phrases[text] = p.Command
		exp := p.Exponent
		if exp == 0 {
			exp = defaultExponent(text)
		}
		exp = math.Round(exp - (opts.Sensitivity-0.5)*20)
		s.thresh[text] = exp
		for _, v := range variants[i] {
			fmt.Fprintf(&kws, "%s /1e%+d/\n", v, int(math.Round(exp)))
			fmt.Fprintf(&warpedKws, "%s /1e%+d/\n", v, int(math.Round(exp+opts.warpShift)))
			fmt.Fprintf(&tempoKws, "%s /1e%+d/\n", v, int(math.Round(exp+opts.tempoShift)))
			if !bentSkip[text] {
				fmt.Fprintf(&bentKws, "%s /1e%+d/\n", v, int(math.Round(exp+opts.bentShift)))
			}
		}
	}
	dictPath := filepath.Join(tmp, "commands.dict")
	kwsPath := filepath.Join(tmp, "commands.kws")
	if err := os.WriteFile(dictPath, []byte(dict), 0o600); err != nil {
		return fail(fmt.Errorf("trigger: %w", err))
	}
	if err := os.WriteFile(kwsPath, []byte(kws.String()), 0o600); err != nil {
		return fail(fmt.Errorf("trigger: %w", err))
	}
	extra := opts.extra
	if opts.warpOnly != 0 {
		frontend, err := warpedFrontend(opts.ModelDir, tmp, opts.warpOnly, opts.warpKnee)
		if err != nil {
			return fail(err)
		}
		extra = append(frontend, extra...)
	}
	if opts.frateOnly != 0 {
		if err := checkFrate(opts.frateOnly); err != nil {
			return fail(err)
		}
		s.fps = int64(opts.frateOnly)
		extra = append(frateArgs(opts.frateOnly), extra...)
	}
	warpInit.Lock() // a frontend's warp parameters are static in sphinxbase (warp.go)
	err = s.open(append([]string{
		"-hmm", opts.ModelDir, "-dict", dictPath, "-logfn", "/dev/null", "-samprate", "16000",
		// The phone loop (the "any other speech" the keyphrases compete with) pays 1e-20 per
		// phone instead of the default 1e-1. With the default, a long phrase lost 1e-40 or more
		// to the loop on eSpeak voices and was pruned before its end: "what is in front of me"
		// was never heard at any threshold. Scores rise with phrase length, so each phrase has
		// its own threshold (DefaultPhrases).
		"-kws_plp", phoneLoopPenalty,
	}, extra...), "its", opts.ModelDir, "")
	warpInit.Unlock()
	if err != nil {
		return fail(err)
	}
	if api.psSetKws(s.ps, "commands", kwsPath) != 0 {
		return fail(fmt.Errorf("trigger: PocketSphinx rejected the keyphrase list %s", kwsPath))
	}
	if opts.confirm {
		// Every pronunciation of every word: the grammar compares phrases, not keyphrase
		// variants.
		all := make([]Phrase, len(opts.Phrases))
		for i, p := range opts.Phrases {
			all[i] = Phrase{Text: p.Text, Command: p.Command}
		}
		cdict, _, err := buildDictionary(all, opts.Dictionary)
		if err != nil {
			return fail(err)
		}
		if s.confirm, err = newConfirmer(api, opts.ModelDir, tmp, s.phrases, cdict); err != nil {
			return fail(err)
		}
		s.confirmMargin = DefaultConfirmMargin
		if opts.confirmMarginSet {
			s.confirmMargin = opts.confirmMargin
		}
	}
	s.lead = max(0, int64(opts.onsetLead)*SampleRate/int64(time.Second))
	s.idle = s.lead > 0
	// the further decoders: no onset lead with them, thresholds whole powers of ten over the
	// usual ones
	checkExtra := func(name string, shift float64) error {
		if s.lead > 0 {
			return fmt.Errorf("trigger: the %s decoder and the onset lead cannot be used together", name)
		}
		if shift != math.Round(shift) {
			return fmt.Errorf("trigger: %s shift %v is not a whole power of ten", name, shift)
		}
		return nil
	}
	if opts.warp != 0 {
		if err := checkExtra("warped", opts.warpShift); err != nil {
			return fail(err)
		}
		if s.warped, err = openWarped(api, opts, tmp, dictPath, warpedKws.String()); err != nil {
			return fail(err)
		}
		s.extra = append(s.extra, s.warped)
	}
	if opts.tempoFrate != 0 {
		if err := checkExtra("tempo", opts.tempoShift); err != nil {
			return fail(err)
		}
		if s.tempo, err = openTempo(api, opts, tmp, dictPath, tempoKws.String()); err != nil {
			return fail(err)
		}
		s.extra = append(s.extra, s.tempo)
	}
	if opts.bentWarp != 0 {
		if err := checkExtra("bent", opts.bentShift); err != nil {
			return fail(err)
		}
		if bentKws.Len() > 0 { // else every phrase is skipped
			if s.bent, err = openBent(api, opts, tmp, dictPath, bentKws.String()); err != nil {
				return fail(err)
			}
			s.extra = append(s.extra, s.bent)
		}
	}
	if api.psSetSearch(s.ps, "commands") != 0 || !s.idle && api.psStartUtt(s.ps) != 0 {
		return fail(fmt.Errorf("trigger: PocketSphinx could not start keyphrase search"))
	}
	s.decided = map[int64]int64{}
	s.lastLoud = -1
	s.restartFrames = s.pause
	if s.restartFrames == 0 {
		s.restartFrames = int64(DefaultPause / (10 * time.Millisecond))
	}
	return s, nil
}

func normalizePhrase(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// maxVariants bounds the keyphrases one phrase expands into.
const maxVariants = 8

// buildDictionary returns the dictionary for the phrases and, per phrase, its keyphrase
// variants: every combination of the words' pronunciations, written with pocketsphinx's
// alternative-word names ("faster(2)"). The embedded pronunciations come first; a word they lack
// takes its first pronunciation from the system dictionary.
func buildDictionary(phrases []Phrase, systemDict string) (string, [][]string, error) {
	own := parseDict(strings.NewReader(commandsDict), nil)
	missing := map[string]bool{}
	for _, p := range phrases {
		words := strings.Fields(strings.ToLower(p.Text))
		if len(words) == 0 {
			return "", nil, fmt.Errorf("trigger: an empty voice phrase (for %s)", p.Command)
		}
		for _, w := range words {
			if _, ok := own[w]; !ok {
				missing[w] = true
			}
		}
	}
	if len(missing) > 0 {
		if f, err := os.Open(systemDict); err == nil {
			for w, prons := range parseDict(f, missing) {
				own[w] = prons[:1]
				delete(missing, w)
			}
			f.Close()
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
		return "", nil, fmt.Errorf("trigger: no pronunciation for %s (not in the embedded dictionary nor in %s)", strings.Join(bad, ", "), systemDict)
	}
	used := map[string]string{} // dictionary entry name -> pronunciation
	variants := make([][]string, len(phrases))
	for i, p := range phrases {
		combos := [][]string{nil}
		for _, w := range strings.Fields(strings.ToLower(p.Text)) {
			var next [][]string
			for _, c := range combos {
				for k := range own[w] {
					if len(next) == maxVariants {
						break
					}
					name := w
					if k > 0 {
						name = fmt.Sprintf("%s(%d)", w, k+1)
					}
					next = append(next, append(append([]string(nil), c...), name))
				}
			}
			combos = next
		}
		allowed := map[string]bool{}
		for _, v := range p.Variants {
			allowed[v] = true
		}
		for _, c := range combos {
			if v := strings.Join(c, " "); len(allowed) == 0 || allowed[v] {
				variants[i] = append(variants[i], v)
			}
		}
		if len(variants[i]) == 0 { // a dictionary of other pronunciations: search them all
			for _, c := range combos {
				variants[i] = append(variants[i], strings.Join(c, " "))
			}
		}
	}
	for _, vs := range variants {
		for _, v := range vs {
			for _, name := range strings.Fields(v) {
				k := 0
				if i := strings.IndexByte(name, '('); i > 0 {
					fmt.Sscanf(name[i:], "(%d)", &k)
					k--
				}
				used[name] = own[baseWord(name)][max(k, 0)]
			}
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s %s\n", n, used[n])
	}
	return b.String(), variants, nil
}

// parseDict reads "word PH ON ES" lines into each word's pronunciations in order ("word(2)"
// lines are the word's later ones), restricted to the words in only unless it is nil.
func parseDict(r io.Reader, only map[string]bool) map[string][]string {
	out := map[string][]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], ";;") {
			continue
		}
		w := strings.ToLower(baseWord(f[0]))
		if only != nil && !only[w] {
			continue
		}
		out[w] = append(out[w], strings.Join(f[1:], " "))
	}
	return out
}

// baseWord strips a pocketsphinx alternative marker: "faster(2)" -> "faster".
func baseWord(w string) string {
	if i := strings.IndexByte(w, '('); i > 0 && strings.HasSuffix(w, ")") {
		return w[:i]
	}
	return w
}

// canonicalPhrase maps a hypothesis ("faster(2)", "read this(2)") to the phrase text.
func canonicalPhrase(hyp string) string {
	f := strings.Fields(strings.ToLower(hyp))
	for i, w := range f {
		f[i] = baseWord(w)
	}
	return strings.Join(f, " ")
}

// detection is a keyphrase PocketSphinx reported, in samples since the spotter started.
type detection struct {
	cmd        Command
	phrase     string
	variant    string // the keyphrase that matched ("faster(2)")
	start, end int64
	score      float64
	margin     float64 // the confirming pass's margin, when it decided
	view       int     // the decoder that found it: viewUsual, viewWarped, viewTempo or viewBent
}

// kwsMax is kws_search.c's KWS_MAX: it subtracts it from the score it reports as a segment's
// probability.
const kwsMax = 1500

// scoreOf turns a keyphrase segment's probability (log base 1.0001, shifted right by
// SENSCR_SHIFT = 10 bits, minus KWS_MAX) into the power of ten the keyphrase thresholds use.
func scoreOf(prob int32) float64 {
	return float64(prob+kwsMax) * 1024 * math.Log10(1.0001)
}

// Threshold is the exponent in force for phrase (after Sensitivity), and whether it is spotted.
func (s *Spotter) Threshold(phrase string) (float64, bool) {
	t, ok := s.thresh[normalizePhrase(phrase)]
	return t, ok
}

func (d detection) overlaps(o detection) bool { return d.start < o.end && o.start < d.end }

// phoneLoopPenalty is PocketSphinx's -kws_plp (see NewSpotter).
const phoneLoopPenalty = "1e-20"

// DefaultPause is the pause a command must follow.
const DefaultPause = 300 * time.Millisecond

// pauseSlack is how far (in 10 ms frames) the pause may end from the detection's start: the
// start is known to within PocketSphinx's delay.
const pauseSlack = 25

// maxIsland is the longest island of speech (in 10 ms frames) a phrase may be said in: 0.6 s
// and 0.5 s a word, so "slower" may last 1.1 s and "what is in front of me" 3.6 s (eSpeak at
// 130 words a minute takes 0.6 and 1.4 s).
func maxIsland(phrase string) int64 {
	return 60 + 50*int64(len(strings.Fields(phrase)))
}

// maxLead is how late (frames) a keyphrase may start after its island: PocketSphinx's starts
// came 0.19-0.26 s after the island's on every command said alone in the tuning streams.
const maxLead = 30

// minCover is the part of its island a phrase's keyphrase span must cover: half for one or two
// words (PocketSphinx's spans of short phrases were as short as 0.51 of the words), 0.7 for
// longer phrases (0.74 or more when said; over the end of a sentence, 0.6).
func minCover(phrase string) float64 {
	if len(strings.Fields(phrase)) >= 3 {
		return 0.7
	}
	return 0.5
}

// ambiguityMargin is how far (in the thresholds' powers of ten) another command's score may pass
// its threshold by more than the chosen phrase passes its own before the island is dropped as
// ambiguous. Where the longest phrase was the one said, no other command passed its threshold by
// more than 5 more on the 16 tuning streams; where it was not, another did by 30 and 41
// (eSpeak renderings at new rates and pitches: "repeat" heard as "read this", "faster" as "stop").
const ambiguityMargin = 10

// ambiguous reports whether another command among cands passes its threshold by more than
// ambiguityMargin more than the chosen detection does.
func (s *Spotter) ambiguous(chosen detection, cands []detection) bool {
	m := chosen.score - s.threshOf(chosen)
	for _, d := range cands {
		if d.cmd != chosen.cmd && d.score-s.threshOf(d) > m+ambiguityMargin {
			return true
		}
	}
	return false
}

// holdSamples is how long a detection waits for a longer, overlapping one (the "st" of "faster"
// is also a "stop") and for the pause after a command: 300 ms.
const holdSamples = SampleRate * 3 / 10

// Process feeds 16 kHz mono samples and returns the commands recognised so far. A phrase is
// reported about 0.3 s after it ends: when the pause after it has lasted Pause (and
// holdSamples after PocketSphinx's end), the one phrase chosen for its island of speech.
func (s *Spotter) Process(samples []int16) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("trigger: the spotter is closed")
	}
	if len(samples) == 0 {
		return nil, nil
	}
	if s.lead > 0 {
		return s.processLead(samples)
	}
	if s.api.psProcRaw(s.ps, &samples[0], uintptr(len(samples)), 0, 0) < 0 {
		return nil, errors.New("trigger: PocketSphinx failed to process audio")
	}
	for _, x := range s.extra {
		if s.api.psProcRaw(x.ps, &samples[0], uintptr(len(samples)), 0, 0) < 0 {
			return nil, fmt.Errorf("trigger: PocketSphinx failed to process audio (%s decoder)", viewNames[x.view])
		}
	}
	s.processed += int64(len(samples))
	s.levels.add(samples)
	if s.confirm != nil {
		s.hist.add(samples, s.processed)
	}
	s.collect()
	events := s.resolve()
	// The utterance is restarted in every pause of Pause (300 ms by default) that follows
	// speech, whatever was detected, so each island of speech is searched in an utterance of
	// its own. PocketSphinx's keyphrase scores depend on where the utterance began (one
	// "repeat" by en-us+f3 at 130 wpm: 1.1-4.2 after a single restart 0.6-11 s before it, 62
	// after one 0.2 s before it). The old rule restarted only in a pause 5 s after the last
	// restart with no detection held, so where the utterance began depended on the thresholds:
	// the permissive runs the thresholds were chosen on restarted elsewhere than the spotter at
	// its thresholds, and that "repeat", 5.7 in them, was never listed at 1e5. Now the restarts
	// depend on the audio alone, and a score is the same at every sensitivity.
	quiet := s.levels.quietLevel()
	for f := max(s.levels.frames-int64(len(samples))/frameSamples-1, 0); f < s.levels.frames; f++ {
		if s.levels.at(f) > quiet {
			s.lastLoud = f
		}
	}
	if s.lastLoud >= s.uttFrame && s.levels.frames-1-s.lastLoud >= s.restartFrames ||
		len(s.pending) == 0 && s.processed-s.uttStart > 60*SampleRate {
		s.restart()
	}
	s.keepTail(samples)
	return events, nil
}

// restart ends the utterance (taking the detections its last frames give) and starts a new
// one, fed first the last restartFrames of audio (the pause, when restarted in one) so that
// a command said just after the restart does not start on the utterance's first frame.
func (s *Spotter) restart() {
	s.api.psEndUtt(s.ps)
	for _, x := range s.extra {
		s.api.psEndUtt(x.ps)
	}
	s.collect()
	s.api.psStartUtt(s.ps)
	// A new utterance's detection list starts empty: nothing taken before can be listed again.
	clear(s.seen)
	s.uttFrame = s.levels.frames
	s.uttStart = s.processed - int64(len(s.tail))
	if len(s.tail) > 0 {
		s.api.psProcRaw(s.ps, &s.tail[0], uintptr(len(s.tail)), 0, 0)
	}
	for _, x := range s.extra {
		s.api.psStartUtt(x.ps)
		clear(x.seen)
		if len(s.tail) > 0 {
			s.api.psProcRaw(x.ps, &s.tail[0], uintptr(len(s.tail)), 0, 0)
		}
	}
}

// processLead is Process with an onset lead: the utterance ends in every pause of
// restartFrames after speech, and the next one starts at the next speech onset (the first
// frame above the quiet level), fed from lead samples before it.
func (s *Spotter) processLead(samples []int16) ([]Event, error) {
	before := s.processed
	firstNew := s.levels.frames
	s.levels.add(samples)
	s.processed += int64(len(samples))
	if s.confirm != nil {
		s.hist.add(samples, s.processed)
	}
	quiet := s.levels.quietLevel()
	onset := int64(-1)
	for f := firstNew; f < s.levels.frames; f++ {
		if s.levels.at(f) > quiet {
			if onset < 0 {
				onset = f
			}
			s.lastLoud = f
		}
	}
	switch {
	case s.idle && onset >= 0:
		held := before - int64(len(s.tail)) // sample of s.tail[0]
		start := max(onset*frameSamples-s.lead, held, 0)
		if s.api.psStartUtt(s.ps) != 0 {
			return nil, errors.New("trigger: PocketSphinx could not start an utterance")
		}
		clear(s.seen)
		s.idle = false
		s.uttStart, s.uttFrame = start, onset
		if k := start - held; k < int64(len(s.tail)) {
			s.api.psProcRaw(s.ps, &s.tail[k], uintptr(int64(len(s.tail))-k), 0, 0)
		}
		fallthrough
	case !s.idle:
		if k := max(s.uttStart-before, 0); k < int64(len(samples)) {
			if s.api.psProcRaw(s.ps, &samples[k], uintptr(int64(len(samples))-k), 0, 0) < 0 {
				return nil, errors.New("trigger: PocketSphinx failed to process audio")
			}
		}
		s.collect()
	}
	events := s.resolve()
	s.keepTail(samples) // before restart, which feeds it again from s.processed-len(s.tail)
	if !s.idle && s.lastLoud >= s.uttFrame && s.levels.frames-1-s.lastLoud >= s.restartFrames {
		s.api.psEndUtt(s.ps)
		s.collect()
		s.idle = true
	} else if !s.idle && len(s.pending) == 0 && s.processed-s.uttStart > 60*SampleRate {
		s.restart()
	}
	return events, nil
}

// keepTail keeps the last restartFrames of audio fed (with a lead: lead and a frame), for
// restart.
func (s *Spotter) keepTail(samples []int16) {
	n := int(s.restartFrames * frameSamples)
	if s.lead > 0 {
		n = int(s.lead) + frameSamples
	}
	if len(samples) >= n {
		s.tail = append(s.tail[:0], samples[len(samples)-n:]...)
		return
	}
	s.tail = append(s.tail, samples...)
	if over := len(s.tail) - n; over > 0 {
		s.tail = append(s.tail[:0], s.tail[over:]...)
	}
}

// collect takes the detections PocketSphinx lists that were not taken before into pending,
// from the usual decoder and each of the others.
func (s *Spotter) collect() {
	s.collectFrom(s.ps, s.seen, s.fps, viewUsual)
	for _, x := range s.extra {
		s.collectFrom(x.ps, x.seen, x.fps, x.view)
	}
}

// The decoders a detection comes from, in the order they decide an island.
const (
	viewUsual = iota
	viewWarped
	viewTempo
	viewBent
)

// viewNames name the decoders (errors, files).
var viewNames = [...]string{viewUsual: "usual", viewWarped: "warped", viewTempo: "tempo", viewBent: "bent"}

// collectFrom takes the detections of one decoder (view), at fps frames a second, not in seen.
func (s *Spotter) collectFrom(ps uintptr, seen map[string]int64, fps int64, view int) {
	var score int32
	if hyp := s.api.psGetHyp(ps, &score); hyp != "" {
		for seg := s.api.psSegIter(ps); seg != 0; seg = s.api.psSegNext(seg) {
			word := s.api.psSegWord(seg)
			var sf, ef, ascr, lscr, lback int32
			s.api.psSegFrames(seg, &sf, &ef)
			prob := s.api.psSegProb(seg, &ascr, &lscr, &lback)
			// A detection is known by its keyphrase and score: PocketSphinx lists it again on
			// later calls, sometimes with other frame numbers, and after a new utterance.
			key := fmt.Sprintf("%s/%d", word, prob)
			if _, dup := seen[key]; dup {
				continue
			}
			seen[key] = s.processed
			phrase := canonicalPhrase(word)
			cmd, ok := s.phrases[phrase]
			if !ok {
				continue
			}
			// fps frames per second (100 but for the tempo decoder). After speech, Debian's
			// 5prealpha reports frame numbers ahead of the audio fed (measured: 2 s ahead after
			// 2 s of speech), so the end is capped at what was fed and the start placed by the
			// keyphrase's length.
			end := min(s.uttStart+int64(ef+1)*SampleRate/fps, s.processed)
			d := detection{cmd: cmd, phrase: phrase, variant: word, start: end - int64(ef-sf+1)*SampleRate/fps, end: end, score: scoreOf(prob), view: view}
			if s.raw != nil {
				s.raw(d)
			}
			s.pending = append(s.pending, d)
		}
	}
}

// resolve reports the pending detections whose hold has passed. With the pause rule on, a
// detection waits for its island of speech to close, and each island is decided once, by the
// confirming pass; without it, a detection that overlaps a longer one or one already reported
// is dropped.
func (s *Spotter) resolve() []Event {
	span := func(d detection) int64 { return d.end - d.start }
	sort.SliceStable(s.pending, func(i, j int) bool { return span(s.pending[i]) > span(s.pending[j]) })
	var events []Event
	var keep []detection
	now := time.Now()
	type island struct {
		from, to int64
		cands    []detection
	}
	var islands []*island
	emit := func(d detection) {
		if last, seen := s.last[d.cmd]; seen && d.end-last < int64(s.cool)*SampleRate/int64(time.Second) {
			return
		}
		s.last[d.cmd] = d.end
		s.emitted = append(s.emitted, d)
		events = append(events, Event{Command: d.cmd, Origin: FromVoice, Time: now, Phrase: d.phrase,
			Offset: time.Duration(d.end) * time.Second / SampleRate, Start: time.Duration(d.start) * time.Second / SampleRate,
			Score: d.score, Threshold: s.threshOf(d), Confirm: d.margin,
			Warped: d.view == viewWarped, Tempo: d.view == viewTempo, Bent: d.view == viewBent})
	}
	for _, d := range s.pending {
		if s.processed < d.end+holdSamples {
			keep = append(keep, d)
			continue
		}
		if s.pause == 0 {
			dropped := false
			for _, o := range s.pending {
				if o != d && o.overlaps(d) && (span(o) > span(d) || span(o) == span(d) && o.end > d.end) {
					dropped = true // a longer reading of the same sound exists (kept or reported)
					break
				}
			}
			for _, o := range s.emitted {
				if o.overlaps(d) {
					dropped = true
				}
			}
			if !dropped {
				emit(d)
			}
			continue
		}
		// A command is said as a command: an island of speech of its own, after a pause and
		// followed by one (read text is full of the command words, and they are common at the
		// start of a sentence: "Stop the car", "Read this book").
		from, to, st := s.levels.island(d.end/frameSamples, s.pause, maxIsland(d.phrase))
		if st == islandOpen {
			keep = append(keep, d) // wait for the pause after it
			continue
		}
		if _, done := s.decided[from]; st == islandTooLong || done {
			continue
		}
		// With startNoPause the pause before a command must be heard: an island that begins
		// before Pause of audio has been fed follows the start of the stream, not a pause.
		if from < s.pause && s.startNoPause {
			continue
		}
		// The phrase must start the island and fill most of it: a phrase matched over the end
		// of a short sentence starts late or covers only part of it.
		if d.start-from*frameSamples > maxLead*frameSamples || float64(span(d)) < minCover(d.phrase)*float64((to-from)*frameSamples) {
			continue
		}
		var is *island
		for _, o := range islands {
			if o.from == from {
				is = o
			}
		}
		if is == nil {
			is = &island{from: from, to: to}
			islands = append(islands, is)
		}
		is.to = max(is.to, to)
		is.cands = append(is.cands, d)
	}
	// An island is decided once every detection that may belong to it has been held: a
	// longer phrase over the same words is often reported 100-200 ms after a shorter one.
	var ready []*island
	for _, is := range islands {
		wait := false
		for _, d := range keep {
			if d.end <= (is.to+anchorSlack)*frameSamples {
				wait = true
			}
		}
		if wait {
			keep = append(keep, is.cands...)
		} else {
			ready = append(ready, is)
		}
	}
	islands = ready
	s.pending = keep
	// Each island is one command at most: the phrase that spans the most of it (then the one
	// that passes its threshold by the most). Another command's phrase often matches part of
	// the one said ("stop" in "faster", "repeat" in "read this"), sometimes with a higher score.
	for _, is := range islands {
		s.decided[is.from] = s.processed
		if s.chosen != nil {
			s.chosen(is.from, is.to, is.cands)
		}
		// The warped decoder's candidates decide only an island the usual decoder's do not (it
		// has none on it, or they are ambiguous), the tempo decoder's only one neither does,
		// the bent decoder's only one none of the three does.
		var d detection
		ok := false
		for view := viewUsual; view <= viewBent && !ok; view++ {
			d, ok = s.decide(ofDecoder(is.cands, view))
		}
		if !ok {
			continue
		}
		if s.confirm == nil {
			emit(d)
		} else if d, ok := s.confirmIsland(is.from, is.to, d); ok {
			emit(d)
		}
	}
	for f, at := range s.decided {
		if s.processed-at > 10*SampleRate {
			delete(s.decided, f)
		}
	}
	// Forget reported detections once nothing pending can overlap them.
	recent := s.emitted[:0]
	for _, o := range s.emitted {
		if s.processed-o.end < 10*SampleRate {
			recent = append(recent, o)
		}
	}
	s.emitted = recent
	sort.Slice(events, func(i, j int) bool { return events[i].Offset < events[j].Offset })
	return events
}

// decide is the command an island's candidates give: the phrase that spans the most of it
// (then the one that passes its threshold by the most), unless another command fits the island
// much better (ambiguous); ok false when they give none.
func (s *Spotter) decide(cands []detection) (detection, bool) {
	span := func(d detection) int64 { return d.end - d.start }
	best := -1
	for i, d := range cands {
		if best < 0 {
			best = i
			continue
		}
		b := cands[best]
		// Spans are compared to 10 ms, as PocketSphinx's frames.
		if ds, bs := span(d)/frameSamples, span(b)/frameSamples; ds > bs || ds == bs && d.score-s.threshOf(d) > b.score-s.threshOf(b) {
			best = i
		}
	}
	// An island that another command fits much better than the longest phrase is ambiguous,
	// and nothing is reported: a wrong command is worse than a missed one.
	if best < 0 || s.ambiguous(cands[best], cands) {
		return detection{}, false
	}
	return cands[best], true
}

// ofDecoder is the candidates of one decoder (a view).
func ofDecoder(cands []detection, view int) []detection {
	var out []detection
	for _, d := range cands {
		if d.view == view {
			out = append(out, d)
		}
	}
	return out
}

// threshOf is the threshold (power of ten) d passed: its phrase's, plus its decoder's shift for
// a decoder besides the usual one.
func (s *Spotter) threshOf(d detection) float64 {
	for _, x := range s.extra {
		if x.view == d.view {
			return s.thresh[d.phrase] + x.shift
		}
	}
	return s.thresh[d.phrase]
}

// confirmIsland decodes the island's audio (with confirmPad frames of the pauses around it)
// with the confirming grammars of d's phrase and of the phone loop, and reports whether the
// margin passes the least margin; d comes back with its margin.
func (s *Spotter) confirmIsland(from, to int64, d detection) (detection, bool) {
	m, err := s.confirm.margin(d.phrase, s.hist.span((from-confirmPad)*frameSamples, (to+confirmPad)*frameSamples))
	d.margin = m
	return d, err == nil && m >= s.confirmMargin
}

// Flush reports what is still held, as if holdSamples of silence had followed: call it at the
// end of a recording.
func (s *Spotter) Flush() ([]Event, error) {
	return s.Process(make([]int16, holdSamples+SampleRate/5))
}

// Close frees the decoder and its files.
func (s *Spotter) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.confirm != nil {
		s.confirm.close()
		s.confirm = nil
	}
	if s.ps != 0 {
		s.api.psEndUtt(s.ps)
	}
	s.decoder.close()
	for _, x := range s.extra {
		s.api.psEndUtt(x.ps)
		x.close()
	}
	s.warped, s.tempo, s.bent, s.extra = nil, nil, nil, nil
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
			evs, _ := v.Spotter.Flush()
			for _, e := range evs {
				if !send(ctx, events, e) {
					return nil
				}
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("trigger: reading audio: %w", err)
		}
	}
	return nil
}

package trigger

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// The warped decoder (round 10, on by default). The en-us model fits some voices badly
// (eSpeak's slow and high-pitched variants lose the most phrases), and a second look at the same
// features by the same model did not separate them from unrelated speech (round 9). A frontend
// with a vocal tract length normalisation gives the model another view of the audio: a second
// keyphrase decoder, fed the same audio and restarted at the same pauses, whose mel filters all
// sit at warp times their usual frequencies (warp > 1 reads a short vocal tract's higher
// formants where the model expects an average one). Its detections decide an island only
// where the usual decoder's give no command (none passed a threshold, or they were ambiguous),
// by the same rules, each at its own thresholds (the usual ones plus warpShift), so every
// command the usual decoder hears is heard as before.

// warpedDecoder is a keyphrase decoder besides the usual one (the warped, the tempo or the bent
// decoder: its view), the detections it has listed, its thresholds over the usual ones and its
// frame rate.
type warpedDecoder struct {
	decoder
	view  int
	seen  map[string]int64
	shift float64
	fps   int64
}

// maxWarp keeps the warped filter bank below the Nyquist frequency: the model's upper filter
// edge (6800 Hz) times maxWarp is under 8 kHz.
const maxWarp = 1.17

// maxKneeWarp is the highest warp accepted with a knee.
const maxKneeWarp = 1.6

// minWarp is the lowest warp accepted.
const minWarp = 0.8

// warpInit serialises the warped decoders' initialisation: sphinxbase keeps a warp function's
// parameters in static variables, read while a decoder builds its filter bank.
var warpInit sync.Mutex

// warpedFeatParams rewrites the model's feat.params (model/feat.params) with the lower and
// upper filter edges moved by the warp (times warp, or bent at knee: unwarp). PocketSphinx applies feat.params over the command line, so the
// edges can only be moved through a file of its own (-featparams).
func warpedFeatParams(modelDir string, warp, knee float64) (string, error) {
	path := filepath.Join(modelDir, "feat.params")
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("trigger: the warped decoder reads the model's feat.params: %w", err)
	}
	// A model without feat.params runs on sphinxbase's defaults, the usual decoder too: the
	// warped one gets those, moved.
	return warpFeatParams(path, string(data), warp, knee)
}

// warpFeatParams is warpedFeatParams on the text of the file at path (named in errors).
func warpFeatParams(path, text string, warp, knee float64) (string, error) {
	var b strings.Builder
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 1 && (fields[0] == "-lowerf" || fields[0] == "-upperf") {
			if len(fields) != 2 {
				return "", fmt.Errorf("trigger: %s in %s has %d values, want one frequency in Hz", fields[0], path, len(fields)-1)
			}
			v, err := strconv.ParseFloat(fields[1], 64)
			if err != nil || !(v > 0 && v < 1e6) {
				return "", fmt.Errorf("trigger: %s in %s is %q, want a frequency in Hz", fields[0], path, fields[1])
			}
			fmt.Fprintf(&b, "%s %.2f\n", fields[0], unwarp(v, warp, knee))
			seen[fields[0]] = true
			continue
		}
		b.WriteString(sc.Text() + "\n")
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("trigger: reading %s: %w", path, err)
	}
	// sphinxbase's defaults, when the model leaves them out.
	if !seen["-lowerf"] {
		fmt.Fprintf(&b, "-lowerf %.2f\n", unwarp(133.33334, warp, knee))
	}
	if !seen["-upperf"] {
		fmt.Fprintf(&b, "-upperf %.2f\n", unwarp(6855.4976, warp, knee))
	}
	return b.String(), nil
}

// nyquist is the frontend's Nyquist frequency (16 kHz audio).
const nyquist = 8000.0

// unwarp is the frequency whose warped value is v under sphinxbase's piecewise-linear warp with
// slope 1/warp below knee Hz (and a straight line from there to the Nyquist frequency, which
// stays put); knee 0 means none (v·warp everywhere). A filter edge at unwarp(e) lands where the
// unwarped frontend has its edge e, so every filter below the knee sits at warp times its
// frequency and the ones above are pressed under the Nyquist frequency.
func unwarp(v, warp, knee float64) float64 {
	a := 1 / warp
	if knee == 0 || v < a*knee {
		return v * warp
	}
	f0 := (nyquist - a*knee) / (nyquist - knee)
	f1 := nyquist * knee * (a - 1) / (nyquist - knee)
	return (v - f1) / f0
}

// warpArgs are the frontend arguments of a decoder whose filters sit at warp times their
// frequencies, given the feat.params file of warpedFeatParams. The filter edges move by warp
// (feat.params) and the mel scale is warped by 1/warp (piecewise_linear with its knee above the
// sampling rate is w' = x/warp everywhere), so each filter's edges are exactly warp times the
// usual ones. piecewise_linear, not inverse_linear: the usual decoder initialises
// inverse_linear's static parameters to neutral, and sphinxbase skips setting them again when
// the string is unchanged, so a second warped decoder would silently be neutral.
func warpArgs(featParams string, warp, knee float64) []string {
	k := "100000"
	if knee != 0 {
		k = strconv.FormatFloat(knee, 'f', 1, 64)
	}
	return []string{"-featparams", featParams, "-warp_type", "piecewise_linear",
		"-warp_params", strconv.FormatFloat(1/warp, 'f', 6, 64) + " " + k}
}

// warpedFrontend checks warp, writes the model's feat.params with its filter edges moved into
// tmpDir (warpedFeatParams) and returns the decoder arguments of that frontend (warpArgs).
func warpedFrontend(modelDir, tmpDir string, warp, knee float64) ([]string, error) {
	return warpedFrontendAs(modelDir, tmpDir, "warped", warp, knee)
}

// warpedFrontendAs is warpedFrontend writing name.params; knee, when not 0, bends the warp at
// that frequency (unwarp), which keeps every filter under the Nyquist frequency and so lets the
// warp go past maxWarp, up to maxKneeWarp.
func warpedFrontendAs(modelDir, tmpDir, name string, warp, knee float64) ([]string, error) {
	switch {
	case knee == 0 && !(warp >= minWarp && warp <= maxWarp):
		return nil, fmt.Errorf("trigger: warp %v is outside %v..%v", warp, minWarp, maxWarp)
	case knee != 0 && !(warp >= minWarp && warp <= maxKneeWarp && knee >= 1000 && knee < nyquist):
		return nil, fmt.Errorf("trigger: warp %v bent at %v Hz is outside %v..%v bent at 1000..%v Hz", warp, knee, minWarp, maxKneeWarp, nyquist)
	}
	fp, err := warpedFeatParams(modelDir, warp, knee)
	if err != nil {
		return nil, err
	}
	fpPath := filepath.Join(tmpDir, name+".params")
	if err := os.WriteFile(fpPath, []byte(fp), 0o600); err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	return warpArgs(fpPath, warp, knee), nil
}

// openWarped starts the warped keyphrase decoder over the same dictionary, with the keyphrase
// list kws (thresholds already shifted).
func openWarped(api *sphinxAPI, opts SpotterOptions, tmpDir, dictPath, kws string) (*warpedDecoder, error) {
	frontend, err := warpedFrontend(opts.ModelDir, tmpDir, opts.warp, opts.warpKnee)
	if err != nil {
		return nil, err
	}
	return openExtra(api, opts.ModelDir, tmpDir, dictPath, kws, viewWarped, frontend, opts.warpShift, 100)
}

// openTempo starts the tempo decoder (round 11): its frontend takes opts.tempoFrate frames a
// second, with its filters at opts.tempoWarp times their frequencies when that is set.
func openTempo(api *sphinxAPI, opts SpotterOptions, tmpDir, dictPath, kws string) (*warpedDecoder, error) {
	if err := checkFrate(opts.tempoFrate); err != nil {
		return nil, err
	}
	frontend := frateArgs(opts.tempoFrate)
	if opts.tempoWarp != 0 {
		w, err := warpedFrontendAs(opts.ModelDir, tmpDir, "tempo", opts.tempoWarp, 0)
		if err != nil {
			return nil, err
		}
		frontend = append(frontend, w...)
	}
	return openExtra(api, opts.ModelDir, tmpDir, dictPath, kws, viewTempo, frontend, opts.tempoShift, int64(opts.tempoFrate))
}

// openBent starts the bent decoder (round 13): its filters at opts.bentWarp times their
// frequencies below opts.bentKnee Hz (DefaultBentKnee when 0), pressed under the Nyquist
// frequency above it.
func openBent(api *sphinxAPI, opts SpotterOptions, tmpDir, dictPath, kws string) (*warpedDecoder, error) {
	knee := opts.bentKnee
	if knee == 0 {
		knee = DefaultBentKnee
	}
	frontend, err := warpedFrontendAs(opts.ModelDir, tmpDir, "bent", opts.bentWarp, knee)
	if err != nil {
		return nil, err
	}
	return openExtra(api, opts.ModelDir, tmpDir, dictPath, kws, viewBent, frontend, opts.bentShift, 100)
}

// openExtra starts a keyphrase decoder besides the usual one (view: viewWarped, viewTempo or
// viewBent) over the same dictionary, with the frontend arguments frontend and the keyphrase list
// kws (thresholds already shifted by shift).
func openExtra(api *sphinxAPI, modelDir, tmpDir, dictPath, kws string, view int, frontend []string, shift float64, fps int64) (*warpedDecoder, error) {
	name := viewNames[view]
	kwsPath := filepath.Join(tmpDir, name+".kws")
	if err := os.WriteFile(kwsPath, []byte(kws), 0o600); err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	w := &warpedDecoder{decoder: decoder{api: api}, view: view, seen: map[string]int64{}, shift: shift, fps: fps}
	warpInit.Lock()
	err := w.open(append([]string{
		"-hmm", modelDir, "-dict", dictPath, "-logfn", "/dev/null", "-samprate", "16000",
		"-kws_plp", phoneLoopPenalty,
	}, frontend...), "the "+name+" decoder's", modelDir, " for the "+name+" decoder")
	warpInit.Unlock()
	if err != nil {
		w.close()
		return nil, err
	}
	if api.psSetKws(w.ps, "commands", kwsPath) != 0 || api.psSetSearch(w.ps, "commands") != 0 || api.psStartUtt(w.ps) != 0 {
		w.close()
		return nil, fmt.Errorf("trigger: PocketSphinx could not start the %s keyphrase search", name)
	}
	return w, nil
}

// minFrate and maxFrate bound the tempo decoder's frame rate: speech 1.6 times faster to
// 1.6 times slower than it is. A frame's window (25.6 ms) is longer than the hop at every rate
// in between.
const (
	minFrate = 62
	maxFrate = 160
)

// checkFrate checks a frame rate for the tempo decoder.
func checkFrate(fps int) error {
	if fps < minFrate || fps > maxFrate {
		return fmt.Errorf("trigger: frame rate %d is outside %d..%d frames a second", fps, minFrate, maxFrate)
	}
	return nil
}

// frateArgs are the frontend arguments of a decoder taking fps frames a second. The model's
// feat.params does not set -frate, so the argument is in force (feat.params is applied over the
// command line in Debian's 5prealpha).
func frateArgs(fps int) []string {
	return []string{"-frate", strconv.Itoa(fps)}
}

// DefaultWarp is the warped decoder's factor, chosen on tuning data (round 10, docs/DESIGN.md)
// between 1.1 and 1.15, which tied there.
const DefaultWarp = 1.1

// DefaultWarpShift is how many powers of ten the warped decoder's thresholds sit above the
// usual ones, chosen on tuning data (round 10, docs/DESIGN.md): the middle of the gap between
// the warped decoder's highest margin over a threshold where it gave a wrong command or a false
// alarm (14.0) and its lowest where it gave a right one (71.1).
const DefaultWarpShift = 42

// DefaultTempoFrate is the tempo decoder's frame rate, chosen on tuning data (round 11,
// docs/DESIGN.md): speech 100/DefaultTempoFrate times as fast as it is, to the model.
const DefaultTempoFrate = 75

// DefaultTempoShift is how many powers of ten the tempo decoder's thresholds sit above the usual
// ones, chosen on tuning data by the rule of DefaultWarpShift (round 11, docs/DESIGN.md).
const DefaultTempoShift = 13

// DefaultBentWarp and DefaultBentKnee are the bent decoder's warp and the frequency (Hz) where
// it bends (round 13, docs/DESIGN.md): 1.35, near en+Alicia's formant factors (1.3-1.5), at
// 5000 Hz, which keeps the filters below the knee where a uniform warp would put them.
const (
	DefaultBentWarp = 1.35
	DefaultBentKnee = 5000
)

// DefaultBentShift is how many powers of ten the bent decoder's thresholds sit above the usual
// ones, chosen on tuning data by the rule of DefaultWarpShift (round 13, docs/DESIGN.md): the
// middle of the gap between its highest margin over a threshold where it gave a wrong command
// or a false alarm (17.9) and its lowest where it gave a right one (19.2), rounded down.
const DefaultBentShift = 18

// defaultBentSkip are the phrases the bent decoder does not listen for: its "slower" made 6 of
// its 8 wrong commands and false alarms on the data of round 13 and 1 of its 18 right ones (the
// bend presses the band where /s/ and /f/ differ: "faster" was heard as "slower"). The other
// decoders still listen for them.
var defaultBentSkip = []string{"slower"}

package main

import (
	"fmt"
	"github.com/rpiq/rpiq/internal/cli"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/model"
)

func init() {
	register("quantize", "quantize a model's linear layers with RPIQ (GPTQ + Gauss-Seidel refinement), GPTQ or RTN", runQuantize)
}

// laneMaxHidden is the width below which rpiq quantize runs the calibration windows on one model
// instance per thread: stories260K-sized ops (64 wide) are too small to split across threads.
const laneMaxHidden = 1024

func runQuantize(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("quantize", stderr)
	modelDir := fs.String("model", "", "model directory (Hugging Face layout, float weights)")
	calibPath := fs.String("calib", "", "calibration text: plain text (one document per line) or JSONL with a \"text\" field (--method rtn: optional, only for the report's errors)")
	outDir := fs.String("out", "", "output directory for the GPTQ-format checkpoint, report.json and report.png")
	method := fs.String("method", quant.MethodRPIQ, "rpiq, gptq or rtn")
	bits := fs.Int("bits", 4, "bits per weight: 2, 3, 4 or 8")
	groupSize := fs.Int("group-size", 128, "input columns per quantization group, -1 for one group per output channel")
	actOrder := fs.Bool("act-order", false, "quantize columns by decreasing Hessian diagonal (desc_act)")
	staticGroups := fs.Bool("static-groups", false, "fit groups on the original column order before act-order (g_idx stays c/group)")
	sym := fs.Bool("sym", false, "symmetric grid (zero at 2^(bits-1)); default asymmetric")
	damp := fs.Float64("damp", 0.01, "relative Hessian damping (raised by 0.01 while Cholesky fails)")
	blocksize := fs.Int("blocksize", 128, "GPTQ lazy-batch width")
	iters := fs.Int("iters", 5, "RPIQ Gauss-Seidel rounds (early stop when the residual stops falling)")
	samples := fs.Int("samples", 128, "calibration windows")
	seqlen := fs.Int("seqlen", 2048, "tokens per calibration window (clipped to the model's context)")
	seed := fs.Int64("seed", 0, "calibration sampling seed (Python random.seed semantics, as the GPTQ reference)")
	holdout := fs.Int("holdout", 4, "extra windows drawn after the calibration ones, for the report's held-out errors")
	resume := fs.Bool("resume", false, "continue an interrupted run in --out from its last finished layer")
	threads := fs.Int("threads", 0, "worker threads (0: RPIQ_THREADS or the CPU count)")
	quiet := fs.Bool("quiet", false, "no progress bars or per-module log lines")
	data := fs.String("rpiq-data", "all", "RPIQ stage-2 data: all (global Hessian, all calibration data) or instance (the last window only, the literal reading)")
	target := fs.String("rpiq-target", "fp", "RPIQ target: fp (full-precision model's own inputs) or quant (the quantized model's inputs, GPTQ's symmetric objective)")
	proj := fs.String("rpiq-projection", "sequential", "RPIQ projection onto the grid: sequential (GPTQ-style error feedback inside the block) or round")
	gram := fs.String("rpiq-gram", "hessian", "single-instance block solve: hessian (κ × the global Hessian's block) or own (the instance's Gram)")
	kappa := fs.Float64("rpiq-kappa", 0, "scale of the global Hessian to the instance (0: ½ per sequence)")
	alpha := fs.Float64("rpiq-alpha", 0.5, "FP target mixed with the symmetric one: α·FP + (1−α)·symmetric (GPTAQ's α; 1 = the full FP target)")
	rblock := fs.Int("rpiq-block", 32, "RPIQ Gauss-Seidel block width (columns)")
	noSafe := fs.Bool("rpiq-no-safeguard", false, "accept every block update (no monotone check)")
	noGuard := fs.Bool("rpiq-no-instance-guard", false, "keep an all-data result even when it raised the single-instance error above GPTQ's")
	vlmFlags := addVLMQuantFlags(fs) // quantize_vlm.go
	strict := fs.Bool("strict", false, "refuse modules whose sizes other GPTQ loaders cannot read (in not a multiple of the group size or of the packing unit, out not a multiple of the packing unit)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	if *modelDir == "" || *outDir == "" || (*calibPath == "" && *method != quant.MethodRTN) {
		return usagef("--model, --out and (except for --method rtn) --calib are required")
	}
	switch *method {
	case quant.MethodRPIQ, quant.MethodGPTQ, quant.MethodRTN:
	default:
		return usagef("--method %q: want rpiq, gptq or rtn", *method)
	}
	switch *bits {
	case 2, 3, 4, 8:
	default:
		return usagef("--bits %d: want 2, 3, 4 or 8", *bits)
	}
	if *groupSize == 0 || *groupSize < -1 {
		return usagef("--group-size %d: want a positive number of columns or -1", *groupSize)
	}
	if !(*damp >= 0 && *damp < 1) { // NaN fails every comparison
		return usagef("--damp %g: want 0 <= damp < 1", *damp)
	}
	if *samples <= 0 || *seqlen <= 1 || *holdout < 0 || *iters < 0 {
		return usagef("--samples, --seqlen must be positive, --holdout and --iters not negative")
	}
	if !(*alpha >= 0 && *alpha <= 1) {
		return usagef("--rpiq-alpha %g: want 0 < α <= 1", *alpha)
	}
	if !(*kappa >= 0 && *kappa < math.Inf(1)) {
		return usagef("--rpiq-kappa %g: want a finite number >= 0 (0: ½ per sequence)", *kappa)
	}
	rd := quant.Reading{Kappa: *kappa, Alpha: *alpha}
	switch *data {
	case "all":
		rd.AllData = true
	case "instance":
	default:
		return usagef("--rpiq-data %q: want all or instance", *data)
	}
	switch *target {
	case "fp":
		rd.FPTarget = true
	case "quant":
	default:
		return usagef("--rpiq-target %q: want fp or quant", *target)
	}
	switch *proj {
	case "sequential":
		rd.Sequential = true
	case "round":
	default:
		return usagef("--rpiq-projection %q: want sequential or round", *proj)
	}
	switch *gram {
	case "hessian":
	case "own":
		rd.OwnGram = true
	default:
		return usagef("--rpiq-gram %q: want hessian or own", *gram)
	}
	vlmArgs := vlmQuantArgs{model: *modelDir, calib: *calibPath, out: *outDir, method: *method, bits: *bits,
		samples: *samples, seed: *seed, threads: *threads, quiet: *quiet, resume: *resume,
		stage1: quant.Config{Grid: quant.Grid{Bits: *bits, Sym: *sym, ScaleFP16: true}, GroupSize: *groupSize,
			ActOrder: *actOrder, StaticGroups: *staticGroups, Damp: *damp, BlockSize: *blocksize},
		stage2: quant.Stage2Config{Reading: rd, Iters: *iters, BlockSize: *rblock, NoSafeguard: *noSafe, NoInstanceGuard: *noGuard},
	}
	cfg, err := hf.LoadConfig(*modelDir)
	if err != nil {
		return err
	}
	if err := cli.CheckOutputFolder(*outDir, true); err != nil { // before the calibration
		return err
	}
	// Temporaries a killed run left in the output folder (the files and the saved layers).
	sweepStale(stderr, "quantize", *outDir, "")
	sweepStale(stderr, "quantize", filepath.Join(*outDir, ".rpiq-partial"), "")
	if handled, err := quantizeVLM(vlmArgs, cfg, vlmFlags, stdout, stderr); handled { // quantize_vlm.go
		return err
	}

	tok, err := tokenizer.Load(*modelDir)
	if err != nil {
		return err
	}
	// One model instance per thread, each on a one-thread backend: the driver runs the
	// calibration windows' layer passes concurrently (small models' ops are too small to split).
	// Only for small models: each instance holds its own copy of the weights the driver swaps in,
	// and a wide model's ops split well across the threads of one backend, as before.
	lanes, opThreads := *threads, 1
	if lanes <= 0 {
		lanes = cpu.DefaultThreads()
	}
	if cfg.HiddenSize >= laneMaxHidden {
		lanes, opThreads = 1, *threads
	}
	be := quant.NewWorkBackend(cpubackend.New(opThreads)) // lets the driver skip repeated and discarded work
	m, _, closeM, err := hfmodel.Open(*modelDir, be)
	if err != nil {
		return err
	}
	defer closeM()
	var workers []quant.Worker
	for range lanes - 1 {
		wbe := quant.NewWorkBackend(cpubackend.New(1))
		wm, _, closeW, err := hfmodel.Open(*modelDir, wbe)
		if err != nil {
			return err
		}
		defer closeW()
		if wl, ok := wm.(model.Layered); ok {
			workers = append(workers, quant.Worker{Model: wl, Backend: wbe})
		}
	}
	if cfg.Quantization != nil {
		return fmt.Errorf("%w: %s is already quantized (%s)", ErrBadInput, *modelDir, cfg.Quantization.Method)
	}
	lm, ok := m.(model.Layered)
	if !ok {
		return fmt.Errorf("%w: %s: architecture %s does not support layer-by-layer quantization", ErrBadInput, *modelDir, m.Info().Arch)
	}
	if err := checkGPTQSizes(lm, *bits, *groupSize, *strict, stderr); err != nil {
		return err
	}
	n := *seqlen
	if max := m.Info().MaxSeq; max > 0 && n > max {
		n = max
	}
	var windows [][]int32 // none: RTN from the weights alone, no forward pass
	settings := quant.Settings{Method: *method, Bits: *bits, GroupSize: *groupSize, Sym: *sym, ActOrder: *actOrder,
		StaticGroups: *staticGroups, Damp: *damp, BlockSize: *blocksize}
	if *calibPath != "" {
		docs, err := quant.ReadCalibration(*calibPath)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		if windows, err = quant.Windows(*calibPath, docs, tok, *samples+*holdout, n, *seed); err != nil {
			return fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		settings.Calib, settings.Samples, settings.Seqlen, settings.Seed, settings.Holdout = filepath.Base(*calibPath), *samples, n, *seed, *holdout
	}
	if *method == quant.MethodRPIQ {
		settings.Reading, settings.Iters, settings.Stage2Block = rd.String(), *iters, *rblock
	}
	opt := quant.Options{
		Method: *method,
		Stage1: quant.Config{Grid: quant.Grid{Bits: *bits, Sym: *sym, ScaleFP16: true}, GroupSize: *groupSize,
			ActOrder: *actOrder, StaticGroups: *staticGroups, Damp: *damp, BlockSize: *blocksize},
		Stage2:  quant.Stage2Config{Reading: rd, Iters: *iters, BlockSize: *rblock, NoSafeguard: *noSafe, NoInstanceGuard: *noGuard},
		Workers: workers,
	}
	if !*quiet {
		opt.Progress = stderr
		opt.Log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	var saved atomic.Int64 // layers kept in --out/.rpiq-partial
	defer onInterrupt(stderr, "quantize", func() string {
		_, errCfg := os.Stat(filepath.Join(*outDir, "config.json"))
		_, errPart := os.Stat(filepath.Join(*outDir, ".rpiq-partial"))
		if errCfg == nil && os.IsNotExist(errPart) { // made once no write can finish any more
			return *outDir + " was written in full just before the signal: nothing to redo"
		}
		return fmt.Sprintf("%d of %d layers are kept in %s; run the same command with --resume to finish from there",
			saved.Load(), lm.NumLayers(), filepath.Join(*outDir, ".rpiq-partial"))
	})()
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	if *resume {
		done, err := quant.LoadPartial(*outDir, settings)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		opt.Done = done
		saved.Store(int64(len(done)))
		fmt.Fprintf(stderr, "resuming: %d of %d layers already quantized\n", len(done), lm.NumLayers())
	}
	save, err := quant.LayerCheckpointer(*outDir, settings)
	if err != nil {
		return err
	}
	opt.OnLayer = func(layer int, mods []*quant.ModuleResult) error {
		if err := save(layer, mods); err != nil {
			return err
		}
		saved.Store(int64(layer + 1))
		return nil
	}
	start := time.Now()
	calib, held := windows, [][]int32(nil)
	if len(windows) > 0 {
		calib, held = windows[:*samples], windows[*samples:]
	}
	res, err := quant.QuantizeModel(lm, be, calib, held, opt)
	if err != nil {
		return err
	}
	if err := quant.WriteModel(*modelDir, *outDir, res, settings); err != nil {
		return err
	}
	// the model is complete: the per-layer checkpoints go before the report, so a report that
	// cannot be written leaves nothing large behind
	if err := quant.RemovePartial(*outDir); err != nil {
		return err
	}
	rep := quant.NewReport(res, settings)
	if err := quant.WriteReport(*outDir, rep); err != nil {
		return err
	}
	if hfmodel.WritePacked { // the command, not the tests that call run
		// the kernels' layout beside the checkpoint, so no load repacks it (RPIQ_PACK=off: none)
		if err := hfmodel.WritePack(*outDir, cpubackend.New(*threads)); err != nil {
			fmt.Fprintf(stderr, "note: no pre-packed layout written: %v\n", err)
		}
	}
	s := rep.Summary
	heldout := "no held-out windows (--holdout 0)"
	if len(windows) == 0 {
		heldout = "no calibration text: errors not measured"
	} else if *holdout > 0 {
		heldout = fmt.Sprintf("held-out error mean RTN %.4g GPTQ %.4g final %.4g (better than GPTQ on %d of %d)",
			s.MeanHeldoutRTN, s.MeanHeldoutGPTQ, s.MeanHeldoutFinal, s.HeldoutBetterThanGPTQ, s.Modules)
	}
	fmt.Fprintf(stdout, "%s %d-bit group %d: %d modules, %s, stage 1 %.1fs, stage 2 %.1fs, total %.1fs → %s\n",
		*method, *bits, *groupSize, s.Modules, heldout, rep.Stage1S, rep.Stage2S, time.Since(start).Seconds(), *outDir)
	return nil
}

// checkGPTQSizes reports modules that only our loader reads: a ragged last group (the
// quantizer handles it as the GPTQ reference does) or sizes that do not fill whole packed words
// (we pad; AutoGPTQ and vLLM expect in % (32/bits) == 0, out % (32/bits) == 0, and vLLM
// in % group == 0). With strict it is an error naming the first such module.
func checkGPTQSizes(lm model.Layered, bits, group int, strict bool, stderr io.Writer) error {
	unit := 32 / bits
	if bits == 3 {
		unit = 32
	}
	var odd []string
	for i := 0; i < lm.NumLayers(); i++ {
		for _, g := range lm.Linears(i) {
			for _, l := range g {
				var why []string
				if group > 0 && l.In%group != 0 {
					why = append(why, fmt.Sprintf("in %d is not a multiple of the group size %d", l.In, group))
				}
				if l.In%unit != 0 || l.Out%unit != 0 {
					why = append(why, fmt.Sprintf("%d×%d does not fill whole %d-bit packed words (unit %d)", l.Out, l.In, bits, unit))
				}
				if len(why) > 0 {
					msg := l.Name + ": " + strings.Join(why, "; ")
					if strict {
						return fmt.Errorf("%w: %s (--strict)", ErrBadInput, msg)
					}
					odd = append(odd, msg)
				}
			}
		}
	}
	if len(odd) > 0 {
		fmt.Fprintf(stderr, "note: %d modules have sizes other GPTQ loaders may reject (rpiq reads them; --strict makes this an error), e.g. %s\n", len(odd), odd[0])
	}
	return nil
}

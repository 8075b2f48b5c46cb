package quant

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/rpiq/rpiq/internal/progress"
	"github.com/rpiq/rpiq/kernels/cpu"

	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/model"
)

// Method names a quantization method of the driver.
const (
	MethodRTN  = "rtn"
	MethodGPTQ = "gptq"
	MethodRPIQ = "rpiq"
)

// Options configures a whole-model quantization.
type Options struct {
	Method string // rtn, gptq or rpiq
	Stage1 Config
	Stage2 Stage2Config
	// Progress receives a progress bar per layer when it is a terminal, a plain line every few
	// seconds otherwise (nil: none); Log gets one line per module.
	Progress io.Writer
	Log      *slog.Logger
	// Done holds layers already quantized (from a resumed run): their weights are set and the
	// calibration activations are propagated through them.
	Done map[int][]*ModuleResult
	// OnLayer is called after every layer (the per-layer checkpoint for --resume).
	OnLayer func(layer int, mods []*ModuleResult) error
	// Workers are more instances of the same model, each opened with its own backend
	// (NewWorkBackend over a one-thread CPU backend): the calibration windows' layer passes
	// then run concurrently, window s on instance s mod (1+len(Workers)), and the results are
	// still summed in window order. Small models need this to use more than one core: their
	// ops are too small to split.
	Workers []Worker
}

// maxLaneProducts bounds the float64 values one lane holds for a window's share of the Hessian
// and cross sums (Hessian.Products); above it the sums take the window in turn on the pool. A
// variable for the tests.
var maxLaneProducts = 4 << 20

// Worker is one more instance of the model being quantized and the backend it was opened with.
type Worker struct {
	Model   model.Layered
	Backend backend.Backend
}

// lane runs layer passes on one model instance.
type lane struct {
	id     int
	lm     model.Layered
	wb     *workBackend // nil: every pass runs in full
	pool   *cpu.Pool    // for the lane's share of the sums: its own one-thread pool, or the default
	hp, cp Products     // the current window's shares of the Hessian and cross sums
	sc     scratcher    // nil: the backend allocates every tensor
}

// scratcher is a backend that can hand out tensors from reused memory for a while
// (cpubackend's scratch mode): a layer pass keeps none of its tensors.
type scratcher interface {
	BeginScratch()
	EndScratch()
}

// scratchOf is the scratcher under be (the work backend's inner backend), or nil.
func scratchOf(be backend.Backend) scratcher {
	if wb, ok := be.(*workBackend); ok {
		be = wb.Backend
	}
	s, _ := be.(scratcher)
	return s
}

// run is one layer pass; with a hook, only the input of module want is tapped.
func (ln *lane) run(li int, h []float32, n int, want string, hook model.Hook) ([]float32, error) {
	if ln.wb != nil {
		ln.wb.memo, ln.wb.skip, ln.wb.want = true, false, want
	}
	if ln.sc != nil {
		ln.sc.BeginScratch()
	}
	out, err := ln.lm.RunLayer(li, h, n, hook)
	if ln.sc != nil {
		ln.sc.EndScratch()
	}
	if ln.wb != nil {
		ln.wb.memo, ln.wb.skip, ln.wb.want = false, false, ""
	}
	return out, err
}

// set puts the weights ws of the modules of gs into the lane's model instance.
func (ln *lane) set(ws map[string]backend.Weight, gs [][]model.Linear) error {
	for _, g := range gs {
		for _, l := range g {
			if err := ln.lm.SetLinear(l.Name, ws[l.Name], nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// eachWindow calls fn for windows lo..hi-1, window s on lane s mod len(lanes), the lanes
// concurrently, and returns the error of the first window (in order) that failed.
func eachWindow(lanes []*lane, lo, hi int, fn func(ln *lane, s int) error) error {
	return eachWindowOrdered(lanes, lo, hi, fn, nil)
}

// eachWindowOrdered is eachWindow with a second step: after work(s), ordered(s) runs on the same
// lane once ordered has run for every window before s, so the ordered steps run one at a time
// in window order while the other lanes go on with their work (sums stay in window order, and
// the bytes independent of the number of lanes). After a failed window the later windows' ordered
// steps are skipped.
func eachWindowOrdered(lanes []*lane, lo, hi int, work, ordered func(ln *lane, s int) error) error {
	errs := make([]error, hi-lo)
	var mu sync.Mutex
	turn := sync.NewCond(&mu)
	next, failed := lo, false
	var wg sync.WaitGroup
	for k := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := lo + (k-lo%len(lanes)+len(lanes))%len(lanes); s < hi; s += len(lanes) {
				err := work(lanes[k], s)
				if ordered != nil {
					mu.Lock()
					for next != s {
						turn.Wait()
					}
					skip := failed
					mu.Unlock()
					if err == nil && !skip {
						err = ordered(lanes[k], s)
					}
					mu.Lock()
					failed = failed || err != nil
					next = s + 1
					turn.Broadcast()
					mu.Unlock()
				}
				errs[s-lo] = err
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// ModuleResult is one quantized linear module.
type ModuleResult struct {
	Name   string
	Q      *Quantized
	Report ModuleReport
}

// ErrSet is a module's relative output error ‖Y − X W_qᵀ‖²_F / ‖Y‖²_F for each method, where
// Y = X̃ W_fpᵀ is the full-precision model's output of the module on its own inputs X̃ and X is
// the quantized model's input.
type ErrSet struct {
	RTN    float64   `json:"rtn"`
	GPTQ   float64   `json:"gptq,omitempty"`
	Rounds []float64 `json:"rpiq_rounds,omitempty"` // after each RPIQ round (index 0 = the GPTQ start)
	Final  float64   `json:"final"`
}

// ModuleReport is a module's line in report.json.
type ModuleReport struct {
	Name       string  `json:"name"`
	Layer      int     `json:"layer"`
	In         int     `json:"in"`
	Out        int     `json:"out"`
	DampUsed   float64 `json:"damp_used,omitempty"`
	GPTQLoss   float64 `json:"gptq_loss,omitempty"`
	Instance   ErrSet  `json:"instance_error"`
	Heldout    ErrSet  `json:"heldout_error"`
	Rounds     int     `json:"rpiq_rounds_run,omitempty"`
	Best       int     `json:"rpiq_best_round,omitempty"`
	Reverted   bool    `json:"rpiq_reverted,omitempty"`
	Accepted   int     `json:"rpiq_accepted,omitempty"`
	Rejected   int     `json:"rpiq_rejected,omitempty"`
	Stage1Sec  float64 `json:"stage1_s"`
	Stage2Sec  float64 `json:"stage2_s"`
	InstTokens int     `json:"instance_tokens"`
}

// Cost is the time and peak Go heap of each phase, the paper's own overhead measures.
// With several lanes (Options.Workers) the forward, Hessian and cross-term times are each lane's
// time summed and divided by the number of lanes: their share of the wall time.
type Cost struct {
	ForwardSec     float64 `json:"forward_s"`      // layer forward passes (both streams)
	HessianSec     float64 `json:"hessian_s"`      // stage 1: H accumulation
	GPTQSec        float64 `json:"gptq_s"`         // stage 1: the GPTQ solves (inverses included)
	GPTQInverseSec float64 `json:"gptq_inverse_s"` // stage 1: their inverses (one per input, Inverse)
	// The rest of the solves on the float32 path (large modules), apart: the working copy of
	// Wᵀ, the column loop (rounding, feedback inside the blocks, codes), the deferred products.
	GPTQConvertSec  float64 `json:"gptq_convert_s"`
	GPTQColumnsSec  float64 `json:"gptq_columns_s"`
	GPTQProductSec  float64 `json:"gptq_products_s"`
	Stage2AccumSec  float64 `json:"stage2_accum_s"`    // stage 2: cross-term accumulation (FP target)
	Stage2SolveSec  float64 `json:"stage2_solve_s"`    // stage 2: Gauss-Seidel rounds
	Stage1PeakBytes uint64  `json:"stage1_peak_bytes"` // peak Go heap while stage 1 ran
	Stage2PeakBytes uint64  `json:"stage2_peak_bytes"` // peak Go heap while stage 2 ran
	HessianGFLOPs   float64 `json:"hessian_gflop_s"`
	// The matrix work's rates (hinvFlops and m·n² per GPTQ update, stage2Flops, the
	// accumulations' products): stage 1 (Hessian + GPTQ), the GPTQ solves, their inverses and
	// their updates (the column loop and the deferred products), stage 2 (cross term + rounds).
	Stage1GFLOPs      float64 `json:"stage1_gflop_s"`
	GPTQGFLOPs        float64 `json:"gptq_gflop_s"`
	GPTQInverseGFLOPs float64 `json:"gptq_inverse_gflop_s"`
	GPTQUpdateGFLOPs  float64 `json:"gptq_update_gflop_s"`
	GPTQProductGFLOPs float64 `json:"gptq_products_gflop_s"` // the deferred products alone (float32 path)
	Stage2GFLOPs      float64 `json:"stage2_gflop_s"`

	gptqInvFlops, gptqUpdFlops, gptqProdFlops, crossFlops, stage2Flops float64
}

// Stage1Sec and Stage2Sec sum the phases.
func (c Cost) Stage1Sec() float64 { return c.HessianSec + c.GPTQSec }
func (c Cost) Stage2Sec() float64 { return c.Stage2AccumSec + c.Stage2SolveSec }

// Result is a quantized model: every module by name, in layer order.
type Result struct {
	Modules []*ModuleResult
	Cost    Cost
}

// needsFP reports whether the run needs the full-precision stream's inputs in the accumulators.
func (o Options) needsCross() bool {
	return o.Method == MethodRPIQ && o.Stage2.AllData && o.Stage2.FPTarget
}

// QuantizeModel quantizes every decoder layer of lm in order (GPTQ's sequential scheme):
// calibration windows (and held-out windows, used only for the report) run through layer i in
// two streams, the quantized model's and the full-precision model's; the modules of each
// true-sequential group get their Hessians from the quantized stream, are quantized, and the
// next group sees them; the layer's outputs, recomputed with all its quantized weights, feed
// layer i+1. Only the activations and one layer's weights are held.
func QuantizeModel(lm model.Layered, be backend.Backend, calib, heldout [][]int32, opt Options) (*Result, error) {
	switch opt.Method {
	case MethodRTN, MethodGPTQ, MethodRPIQ:
	default:
		return nil, fmt.Errorf("quant: method %q, want rtn, gptq or rpiq", opt.Method)
	}
	if len(calib) == 0 {
		if opt.Method == MethodRTN {
			return quantizeRTN(lm, opt)
		}
		return nil, errors.New("quant: no calibration windows")
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	all := append(append([][]int32{}, calib...), heldout...)
	nc := len(calib)
	hq := make([][]float32, len(all))
	hf := make([][]float32, len(all))
	for s, w := range all {
		h, err := lm.Embed(w)
		if err != nil {
			return nil, err
		}
		hq[s], hf[s] = h, append([]float32(nil), h...)
	}
	// With the work backend (NewWorkBackend) the passes skip what they would recompute or throw
	// away; without it every pass runs in full. The results are the same.
	lanes := []*lane{{lm: lm, pool: cpu.Default(), sc: scratchOf(be)}}
	lanes[0].wb, _ = be.(*workBackend)
	for _, w := range opt.Workers {
		wb, _ := w.Backend.(*workBackend)
		lanes = append(lanes, &lane{id: len(lanes), lm: w.Model, wb: wb, sc: scratchOf(w.Backend)})
	}
	if len(lanes) > 1 {
		for _, ln := range lanes { // the lanes are the parallelism: one thread each
			ln.pool = cpu.NewPool(1)
		}
	}
	for _, ln := range lanes {
		if ln.wb != nil {
			ln.wb.budget = DefaultMemoBytes / int64(len(lanes))
			defer func() { ln.wb.memo, ln.wb.skip = false, false; ln.wb.reset() }()
		}
	}
	res := &Result{}
	mon := newMemMonitor()
	defer mon.stop()
	var hessFlops float64
	for li := 0; li < lm.NumLayers(); li++ {
		groups := lm.Linears(li)
		for _, ln := range lanes {
			if ln.wb != nil {
				ln.wb.reset() // remembered attention is per layer
			}
		}
		fpW := map[string]backend.Weight{}
		qW := map[string]backend.Weight{}
		for _, g := range groups {
			for _, l := range g {
				w, _, err := lm.LinearF32(l.Name)
				if err != nil {
					return nil, err
				}
				fpW[l.Name] = be.NewWeightF32(l.Out, l.In, w)
			}
		}
		set := func(ws map[string]backend.Weight, gs [][]model.Linear) error {
			for _, ln := range lanes {
				if err := ln.set(ws, gs); err != nil {
					return err
				}
			}
			return nil
		}
		nmods := 0
		for _, g := range groups {
			nmods += len(g)
		}
		// a bar on a terminal, a plain line every few seconds otherwise (nil: none)
		bar := progress.New(opt.Progress, nmods*(len(all)+1), fmt.Sprintf("layer %d/%d", li+1, lm.NumLayers()))
		var layerMods []*ModuleResult
		hfNext := make([][]float32, len(all))
		if done, ok := opt.Done[li]; ok {
			for _, mr := range done {
				qW[mr.Name] = be.NewWeightF32(mr.Q.Rows, mr.Q.Cols, mr.Q.DequantizeF32(nil))
			}
			t0 := time.Now()
			err := eachWindow(lanes, 0, len(all), func(ln *lane, s int) (err error) {
				hfNext[s], err = ln.run(li, hf[s], len(all[s]), "", nil)
				return err
			})
			if err != nil {
				return nil, err
			}
			res.Cost.ForwardSec += time.Since(t0).Seconds()
			layerMods = done
		} else {
			for gi, grp := range groups {
				in := grp[0].In
				var H *Hessian
				var C *Cross
				if opt.Method != MethodRTN {
					H = NewHessian(in)
				}
				if opt.needsCross() {
					C = NewCross(in)
				}
				// With several lanes each computes its windows' shares of the sums (Products,
				// float64) beside the others, and only the additions wait for the window order;
				// shares too large to hold (H's, and C's when there is one) are added by the
				// pool in turn instead.
				split := len(lanes) > 1
				shares := 1
				if C != nil {
					shares = 2
				}
				if n := len(all[0]); shares*ProductsLen(in, n) > maxLaneProducts {
					split = false
				}
				var lastX, lastXfp []float32
				var hoX, hoXfp []float32
				xs := make([][]float32, len(all))
				xfps := make([][]float32, len(all))
				fwd := make([]time.Duration, len(lanes))
				hess := make([]time.Duration, len(lanes))
				cross := make([]time.Duration, len(lanes))
				work := func(ln *lane, s int) error {
					t1 := time.Now()
					if err := ln.set(fpW, groups[:gi]); err != nil {
						return err
					}
					var capX []float32
					hook := func(name string, x []float32, rows int) {
						if name == grp[0].Name {
							capX = x                    // a fresh copy (model.Hook)
							if ln.wb != nil && gi > 0 { // the FP stream's output is taken from the first group's pass
								ln.wb.skip = true
							}
						}
					}
					out, err := ln.run(li, hf[s], len(all[s]), grp[0].Name, hook)
					if err != nil {
						return err
					}
					if gi == 0 {
						hfNext[s] = out
					}
					xfps[s] = capX
					if err := ln.set(qW, groups[:gi]); err != nil {
						return err
					}
					capX = nil
					hook = func(name string, x []float32, rows int) {
						if name == grp[0].Name {
							capX = x // a fresh copy (model.Hook)
							if ln.wb != nil {
								ln.wb.skip = true
							}
						}
					}
					if _, err := ln.run(li, hq[s], len(all[s]), grp[0].Name, hook); err != nil {
						return err
					}
					xs[s] = capX
					if err := checkFinite32(grp[0].Name, capX); err != nil {
						return err
					}
					t2 := time.Now()
					fwd[ln.id] += t2.Sub(t1)
					if split && s < nc && H != nil {
						tc, err := H.pairProducts(ln.pool, &ln.hp, C, &ln.cp, xfps[s], capX, len(all[s]))
						if err != nil {
							return fmt.Errorf("quant: %s input: %w", grp[0].Name, err)
						}
						hess[ln.id] += time.Since(t2) - tc
						cross[ln.id] += tc
					}
					return nil
				}
				ordered := func(ln *lane, s int) error {
					n := len(all[s])
					x, xfp := xs[s], xfps[s]
					xs[s], xfps[s] = nil, nil
					if s < nc {
						if H != nil {
							mon.setPhase(1)
							t1 := time.Now()
							if split {
								H.AddProducts(&ln.hp)
							} else if err := H.addFinite(x, n, 1); err != nil { // checkFinite32 above
								return fmt.Errorf("quant: %s input: %w", grp[0].Name, err)
							}
							hess[ln.id] += time.Since(t1)
							hessFlops += float64(n) * float64(in) * float64(in+1)
						}
						if C != nil {
							mon.setPhase(2)
							t1 := time.Now()
							if split {
								C.AddProducts(&ln.cp)
							} else if err := C.Add(xfp, x, n); err != nil {
								return fmt.Errorf("quant: %s input: %w", grp[0].Name, err)
							}
							cross[ln.id] += time.Since(t1)
							res.Cost.crossFlops += 2 * float64(n) * float64(in) * float64(in)
						}
						mon.setPhase(0)
						if s == nc-1 {
							lastX, lastXfp = x, xfp
						}
					} else {
						hoX = append(hoX, x...)
						hoXfp = append(hoXfp, xfp...)
					}
					bar.Add(len(grp))
					return nil
				}
				if err := eachWindowOrdered(lanes, 0, len(all), work, ordered); err != nil {
					return nil, err
				}
				// each phase's time on all lanes together, per lane (a share of the wall time)
				var sf, sh, sc time.Duration
				for k := range lanes {
					sf, sh, sc = sf+fwd[k], sh+hess[k], sc+cross[k]
				}
				nl := time.Duration(len(lanes))
				res.Cost.ForwardSec += (sf / nl).Seconds()
				res.Cost.HessianSec += (sh / nl).Seconds()
				res.Cost.Stage2AccumSec += (sc / nl).Seconds()
				var Hm, Cm []float64
				if H != nil {
					Hm = H.TakeMatrix()
				}
				if C != nil {
					Cm = C.TakeMatrix()
				}
				// One inverse for the group's modules: they read the same input, so the same H.
				var inv *Inverse
				if opt.Method != MethodRTN {
					var err error
					if inv, err = NewInverse(Hm, grp[0].In, opt.Stage1); err != nil {
						return nil, fmt.Errorf("%s: %w", grp[0].Name, err)
					}
				}
				for gi, l := range grp {
					// the group's last module may take the cross term over (blend it in place)
					mr, err := quantizeModule(lm, li, l, inv, Cm, gi == len(grp)-1, lastX, lastXfp, hoX, hoXfp, opt, &res.Cost, mon)
					if err != nil {
						inv.Close()
						return nil, err
					}
					qW[l.Name] = be.NewWeightF32(l.Out, l.In, mr.Q.DequantizeF32(nil))
					layerMods = append(layerMods, mr)
					r := mr.Report
					log.Info("quantized", "module", l.Name, "heldout_rtn", r.Heldout.RTN, "heldout_gptq", r.Heldout.GPTQ, "heldout_final", r.Heldout.Final,
						"instance_final", r.Instance.Final, "rounds", r.Rounds, "reverted", r.Reverted)
				}
				if inv != nil {
					res.Cost.GPTQInverseSec += inv.FactorSec
					res.Cost.GPTQConvertSec += inv.ConvertSec
					res.Cost.GPTQColumnsSec += inv.ColumnsSec
					res.Cost.GPTQProductSec += inv.ProductSec
					res.Cost.gptqProdFlops += inv.ProductFlops
					res.Cost.gptqInvFlops += float64(inv.Factors) * hinvFlops(grp[0].In)
					inv.Close()
				}
			}
		}
		// Recompute the layer's outputs with all its quantized weights.
		if err := set(qW, groups); err != nil {
			return nil, err
		}
		t0 := time.Now()
		err := eachWindow(lanes, 0, len(all), func(ln *lane, s int) error {
			out, err := ln.run(li, hq[s], len(all[s]), "", nil)
			if err != nil {
				return err
			}
			hq[s] = out
			return checkFinite32(fmt.Sprintf("layer %d output", li), out)
		})
		if err != nil {
			return nil, err
		}
		bar.Add(nmods * len(all))
		res.Cost.ForwardSec += time.Since(t0).Seconds()
		hf = hfNext
		bar.Finish()
		res.Modules = append(res.Modules, layerMods...)
		if opt.OnLayer != nil {
			if _, resumed := opt.Done[li]; !resumed {
				if err := opt.OnLayer(li, layerMods); err != nil {
					return nil, err
				}
			}
		}
	}
	res.Cost.Stage1PeakBytes, res.Cost.Stage2PeakBytes = mon.peak(1), mon.peak(2)
	c := &res.Cost
	if c.HessianSec > 0 {
		c.HessianGFLOPs = hessFlops / c.HessianSec / 1e9
	}
	if t := c.Stage1Sec(); t > 0 {
		c.Stage1GFLOPs = (hessFlops + c.gptqInvFlops + c.gptqUpdFlops) / t / 1e9
	}
	if c.GPTQSec > 0 {
		c.GPTQGFLOPs = (c.gptqInvFlops + c.gptqUpdFlops) / c.GPTQSec / 1e9
	}
	if c.GPTQInverseSec > 0 {
		c.GPTQInverseGFLOPs = c.gptqInvFlops / c.GPTQInverseSec / 1e9
	}
	if t := c.GPTQSec - c.GPTQInverseSec; t > 0 {
		c.GPTQUpdateGFLOPs = c.gptqUpdFlops / t / 1e9
	}
	if c.GPTQProductSec > 0 {
		c.GPTQProductGFLOPs = c.gptqProdFlops / c.GPTQProductSec / 1e9
	}
	if t := c.Stage2Sec(); t > 0 && c.stage2Flops > 0 {
		c.Stage2GFLOPs = (c.crossFlops + c.stage2Flops) / t / 1e9
	}
	return res, nil
}

func checkFinite32(what string, x []float32) error {
	if i := nonFinite(x); i >= 0 {
		return fmt.Errorf("quant: %s: non-finite activation %v at element %d", what, x[i], i)
	}
	return nil
}

// quantizeModule runs RTN, GPTQ and RPIQ (as the method asks) on one module and measures them.
// ownC gives stage 2 the cross term C to overwrite (the last module of the group that reads it).
func quantizeModule(lm model.Layered, li int, l model.Linear, inv *Inverse, C []float64, ownC bool, lastX, lastXfp, hoX, hoXfp []float32, opt Options, cost *Cost, mon *memMonitor) (*ModuleResult, error) {
	w32, _, err := lm.LinearF32(l.Name)
	if err != nil {
		return nil, err
	}
	m, n := l.Out, l.In
	W := cpu.MakeHuge[float64](len(w32))
	for i, v := range w32 {
		W[i] = float64(v)
	}
	if err := checkFinite(l.Name+" weight", W); err != nil {
		return nil, err
	}
	wrap := func(err error) error { return fmt.Errorf("%s: %w", l.Name, err) }
	X := toF64(lastX)
	Xfp := toF64(lastXfp)
	T := len(X) / n
	var wq []float32
	inst := newErrMeter(W, lastX, lastXfp, m, n, &wq)
	ho := newErrMeter(W, hoX, hoXfp, m, n, &wq)
	rep := ModuleReport{Name: l.Name, Layer: li, In: n, Out: m, InstTokens: T}
	rtn, err := RTN(W, m, n, opt.Stage1)
	if err != nil {
		return nil, wrap(err)
	}
	rep.Instance.RTN, rep.Heldout.RTN = errs(inst, ho, rtn)
	final := rtn
	if opt.Method != MethodRTN {
		mon.setPhase(1)
		inv.reuseCodes(rtn.Codes) // the baseline is measured: GPTQ writes over its codes
		t0 := time.Now()
		g, err := inv.GPTQ(W, m)
		mon.setPhase(0)
		if err != nil {
			return nil, wrap(err)
		}
		d := time.Since(t0).Seconds()
		cost.GPTQSec += d
		cost.gptqUpdFlops += gptqUpdateFlops(m, n) // the inverse is counted once per input
		rep.Stage1Sec = d
		rep.DampUsed, rep.GPTQLoss = g.DampUsed, g.Loss
		rep.Instance.GPTQ, rep.Heldout.GPTQ = errs(inst, ho, g)
		final = g
		if opt.Method == MethodRPIQ {
			s2 := opt.Stage2
			rep.Instance.Rounds = []float64{rep.Instance.GPTQ}
			rep.Heldout.Rounds = []float64{rep.Heldout.GPTQ}
			var reporting time.Duration // measuring the report's errors is not stage 2's cost
			s2.OnRound = func(t int, q *Quantized) {
				t0 := time.Now()
				ie, he := errs(inst, ho, q)
				rep.Instance.Rounds = append(rep.Instance.Rounds, ie)
				rep.Heldout.Rounds = append(rep.Heldout.Rounds, he)
				reporting += time.Since(t0)
			}
			in := Stage2Inputs{M: m, N: n, W: W, H: inv.h, C: C, OwnC: ownC, X: X, Tokens: T, Seqs: 1}
			if s2.FPTarget {
				in.Xfp = Xfp
				in.FPOut = inst.y // the same product of the same sample
			}
			mon.setPhase(2)
			t0 := time.Now()
			r2, err := RPIQ(in, g, s2)
			mon.setPhase(0)
			if err != nil {
				return nil, wrap(err)
			}
			d := (time.Since(t0) - reporting).Seconds()
			cost.Stage2SolveSec += d
			if s2.AllData {
				cost.stage2Flops += r2.Flops
			}
			rep.Stage2Sec = d
			rep.Rounds, rep.Best, rep.Reverted, rep.Accepted, rep.Rejected = r2.Rounds, r2.Best, r2.Reverted, r2.Accepted, r2.Rejected
			// The kept weights are round Best's (0: GPTQ's, also when reverted), whose errors
			// the report has: measuring them again cost two of the meters' products.
			rep.Instance.Final, rep.Heldout.Final = rep.Instance.Rounds[r2.Best], rep.Heldout.Rounds[r2.Best]
			return &ModuleResult{Name: l.Name, Q: r2.Q, Report: rep}, nil
		}
	}
	rep.Instance.Final, rep.Heldout.Final = errs(inst, ho, final)
	return &ModuleResult{Name: l.Name, Q: final, Report: rep}, nil
}

// errMeter measures ‖X̃ W_fpᵀ − X W_qᵀ‖² / ‖X̃ W_fpᵀ‖² on fixed inputs. The products are float32
// GEMMs (kernels/cpu), ample for a relative error reported to a few digits.
type errMeter struct {
	m, n, t int
	x       []float32
	y       []float32 // target
	norm    float64
	buf     []float32
	wq      *[]float32 // the dequantized weights, a buffer the module's meters share
}

func newErrMeter(W []float64, X, Xfp []float32, m, n int, wq *[]float32) *errMeter {
	e := &errMeter{m: m, n: n, t: len(X) / n, x: X, wq: wq}
	if e.t == 0 {
		return e
	}
	e.y = make([]float32, e.t*m)
	cpu.Default().MatMulF32(e.y, Xfp, toF32(W), e.t, n, m)
	for _, v := range e.y {
		e.norm += float64(v) * float64(v)
	}
	e.buf = make([]float32, e.t*m)
	return e
}

// errs is the instance and held-out meters' errors for q, which share one dequantization of
// it (the meters' common buffer).
func errs(inst, ho *errMeter, q *Quantized) (float64, float64) {
	if inst.active() || ho.active() {
		*inst.wq = q.DequantizeF32(*inst.wq)
	}
	return inst.errOf(), ho.errOf()
}

func (e *errMeter) active() bool { return e.t > 0 && e.norm != 0 }

// errOf is the error of the weights dequantized into the meter's buffer.
func (e *errMeter) errOf() float64 {
	if !e.active() {
		return 0
	}
	cpu.Default().MatMulF32(e.buf, e.x, *e.wq, e.t, e.n, e.m)
	s := 0.0
	for i, v := range e.buf {
		d := float64(e.y[i]) - float64(v)
		s += d * d
	}
	return s / e.norm
}

func toF64(x []float32) []float64 {
	out := cpu.MakeHuge[float64](len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// toF32 rounds x to float32, on the worker pool when it is large.
func toF32(x []float64) []float32 {
	out := cpu.MakeHuge[float32](len(x))
	parallel(len(x), func(lo, hi int) {
		for i, v := range x[lo:hi] {
			out[lo+i] = float32(v)
		}
	})
	return out
}

// memMonitor samples the Go heap every few milliseconds and keeps the peak per phase
// (0 = other, 1 = stage 1, 2 = stage 2).
type memMonitor struct {
	mu    sync.Mutex
	phase int
	peaks [3]uint64
	done  chan struct{}
	wg    sync.WaitGroup
}

func newMemMonitor() *memMonitor {
	m := &memMonitor{done: make(chan struct{})}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-tick.C:
				metrics.Read(s)
				m.observe(s[0].Value.Uint64())
			}
		}
	}()
	return m
}

func (m *memMonitor) observe(v uint64) {
	m.mu.Lock()
	if v > m.peaks[m.phase] {
		m.peaks[m.phase] = v
	}
	m.mu.Unlock()
}

func (m *memMonitor) setPhase(p int) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	m.observe(s[0].Value.Uint64()) // close the previous phase with a reading
	m.mu.Lock()
	m.phase = p
	m.mu.Unlock()
	m.observe(s[0].Value.Uint64())
}

func (m *memMonitor) peak(p int) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peaks[p]
}

func (m *memMonitor) stop() { close(m.done); m.wg.Wait() }

// quantizeRTN is round-to-nearest without calibration data: each module straight from its
// weights, no forward pass and no measured errors.
func quantizeRTN(lm model.Layered, opt Options) (*Result, error) {
	res := &Result{}
	for li := 0; li < lm.NumLayers(); li++ {
		mods, resumed := opt.Done[li]
		if !resumed {
			for _, g := range lm.Linears(li) {
				for _, l := range g {
					w32, _, err := lm.LinearF32(l.Name)
					if err != nil {
						return nil, err
					}
					W := toF64(w32)
					if err := checkFinite(l.Name+" weight", W); err != nil {
						return nil, err
					}
					q, err := RTN(W, l.Out, l.In, opt.Stage1)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", l.Name, err)
					}
					mods = append(mods, &ModuleResult{Name: l.Name, Q: q, Report: ModuleReport{Name: l.Name, Layer: li, In: l.In, Out: l.Out}})
				}
			}
		}
		res.Modules = append(res.Modules, mods...)
		if opt.OnLayer != nil && !resumed {
			if err := opt.OnLayer(li, mods); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

package cogvlm2

// Differentiated quantization of CogVLM2 (issue 6 item 6): a CogVLM-specific sequential driver
// over models/quant's per-matrix RTN, GPTQ and RPIQ. Calibration samples (image + question +
// answer) run through the model with the image tokens in place; each block of the model (a ViT
// layer, the convolution and adapter, a decoder layer, the head) sees two streams, the quantized
// model's activations and the full-precision model's. A module's Hessian comes from the rows
// that actually reach it: for the decoder's experts, only the tokens routed to that expert
// (boi and patches → vision expert; text and eoi → language expert). Inside a block the modules
// go in GPTQ's true-sequential groups (attention inputs, attention output, MLP inputs, MLP
// output), each group seeing the earlier ones quantized; then the block's outputs are
// recomputed with its quantized weights for the next block.

import (
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/nn"
)

// CalibSample is one calibration example: a preprocessed CHW image and the text ids that follow
// it ("Question: ... Answer: ..." without BOS).
type CalibSample struct {
	Image []float32
	Text  []int32
}

// QuantOptions choose the method and the bits of each part (16 keeps a part unquantized).
type QuantOptions struct {
	Method      string // quant.MethodRTN, MethodGPTQ or MethodRPIQ
	Bits        int    // both experts of the language model (default 4)
	VisionBits  int    // EVA2-CLIP layers and the 2×2 convolution: 8 or 16
	AdapterBits int    // the GLU adapter: 2-8 or 16
	HeadBits    int    // lm_head: 2-8 or 16
	Stage1      quant.Config
	Stage2      quant.Stage2Config
	Log         *slog.Logger
	// InPlace leaves m with the dequantized weights (to evaluate it right away); otherwise each
	// block gets its original (memory-mapped) weights back once its outputs are computed, so
	// memory does not grow by an F32 copy of every quantized matrix.
	InPlace bool
	// OnBlock, if set, is called after every block (vision layers, adapter, decoder layers, head,
	// numbered from 0) with its modules: the per-block checkpoint of --resume. Once it returns,
	// the modules' quantized weights are dropped from the result (Q = nil), so memory does not
	// grow with the model; WriteQuantized then reads them from QuantResult.Packed.
	OnBlock func(block int, mods []*QuantModule) error
	// Done holds the blocks a previous run finished (LoadBlocks): they are not quantized again,
	// their weights are set from it and both streams propagate through them.
	Done map[int][]*QuantModule
	// ActBudget bounds the calibration activations kept in memory (bytes: both streams' block
	// inputs and the rows of modules accumulated later); the rest goes to files in SpillDir,
	// removed as they are consumed. ≤ 0 or no SpillDir: everything stays in memory.
	ActBudget int64
	SpillDir  string
}

// QuantModule is one quantized linear module (Name is the checkpoint's module prefix).
type QuantModule struct {
	Name   string
	Part   Part
	Q      *quant.Quantized
	Tokens int     // rows that reached it
	Method string  // what produced Q ("rtn" when no token reached the module)
	Err    float64 // relative output error ‖X Wᵀ − X W_qᵀ‖²/‖X Wᵀ‖² on the last sample's rows
	Bits   int
}

// QuantResult is the quantized model.
type QuantResult struct {
	Modules []*QuantModule
	Options QuantOptions
	Seconds float64
	// Spilled is how many bytes of activations went to files (QuantOptions.ActBudget).
	Spilled int64
	// Packed serves the packed tensors of modules whose Q was dropped after OnBlock (the
	// per-block checkpoints); set by the caller before WriteQuantized.
	Packed quant.Tensors
}

// unit is one quantizable module of a block.
type unit struct {
	name    string // checkpoint module prefix
	input   string // hook key of its input (modules reading the same rows share it)
	part    Part
	bits    int
	out, in int
	weight  func() []float32  // current weights, out×in
	set     func(w []float32) // replace the weights (dequantized)
	keep    func() func()     // snapshot the bound weights; the result restores them
}

// capture accumulates one input key's statistics.
type capture struct {
	in     int // features per row
	h      *quant.Hessian
	c      *quant.Cross
	tokens int
	lastX  []float32 // the last sample's rows (quantized stream)
	lastXf []float32 // and the full-precision stream's
	pendX  []float32 // the current sample's rows, quantized stream (every call of the hook)
	pendXf []float32 // and full-precision stream
}

// blockRun runs a block for sample s on one stream: fp selects the full-precision stream,
// hook (may be nil) sees each module input, commit stores the block's output as that stream's
// next state.
type blockRun func(s int, fp bool, hook func(key string, x []float32, rows int), commit bool) error

type quantizer struct {
	m         *Model
	o         QuantOptions
	log       *slog.Logger
	res       *QuantResult
	n         int // samples
	nextBlock int // index of the next block
	budget    *spillBudget
	rss       *rssSampler
}

func (qz *quantizer) stage1(bits int) quant.Config {
	c := qz.o.Stage1
	c.Bits = bits
	return c
}

// block quantizes a block's units group by group in GPTQ's true-sequential order: a group's
// statistics are gathered with the earlier groups already quantized in the quantized stream
// (and full precision in the FP stream), then the group is quantized. Finally both streams'
// outputs are committed: the FP stream with FP weights, the quantized stream with quantized ones.
func (qz *quantizer) block(label string, groups [][]unit, run blockRun) error {
	t0, c0 := time.Now(), cpuSeconds()
	defer func() {
		qz.log.Info("block done", "block", label, "seconds", time.Since(t0).Seconds(), "cpu_seconds", cpuSeconds()-c0,
			"act_mem_mb", qz.budget.used>>20, "spilled_mb", qz.budget.spilled>>20, "peak_rss_mb", qz.rss.take(), "process_peak_rss_mb", procStatus("VmHWM"))
	}()
	bi := qz.nextBlock
	qz.nextBlock++
	// The full-precision stream runs on the bound (memory-mapped) weights themselves, restored by
	// orig, not on F32 copies of them: one copy of the block's weights fewer (1.7 GB for a
	// decoder layer). The quantized stream needs the dequantized weights, qW.
	qW := map[string][]float32{}
	orig := map[string]func(){}
	var done []unit
	var restore []func()
	for _, g := range groups {
		for _, u := range g {
			r := u.keep()
			restore = append(restore, r)
			orig[u.name] = r
		}
	}
	var mods []*QuantModule
	prev, resumed := qz.o.Done[bi]
	if resumed {
		byName := map[string]*QuantModule{}
		for _, qm := range prev {
			byName[qm.Name] = qm
		}
		for _, g := range groups {
			for _, u := range g {
				if u.bits >= 16 {
					continue
				}
				qm := byName[u.name]
				if qm == nil || qm.Q == nil || qm.Q.Rows != u.out || qm.Q.Cols != u.in {
					return fmt.Errorf("cogvlm2: resuming %s: the checkpoint has no %d×%d module %s", label, u.out, u.in, u.name)
				}
				qW[u.name] = qm.Q.DequantizeF32(nil)
				done = append(done, u)
			}
		}
		mods = prev
		groups = nil // nothing left to quantize: only the outputs below
	}
	use := func(fp bool) {
		for _, u := range done {
			if fp {
				orig[u.name]()
			} else {
				u.set(qW[u.name])
			}
		}
	}
	needC := qz.o.Method == quant.MethodRPIQ && qz.o.Stage2.AllData && qz.o.Stage2.FPTarget
	newCapture := func(in int) *capture {
		c := &capture{in: in}
		if qz.o.Method != quant.MethodRTN {
			c.h = quant.NewHessian(in)
		}
		if needC {
			c.c = quant.NewCross(in)
		}
		return c
	}
	for _, g := range groups {
		var active []unit
		var keys []string // input keys in unit order
		width := map[string]int{}
		for _, u := range g {
			if u.bits < 16 {
				active = append(active, u)
				if _, ok := width[u.input]; !ok {
					keys = append(keys, u.input)
					width[u.input] = u.in
				}
			}
		}
		if len(active) == 0 {
			continue
		}
		// Each input key's statistics (the n×n Hessian and cross term: 1.6 GB each in float64
		// for a 14336-wide down_proj) live only from their accumulation to their module's solve.
		// The first key accumulates during the passes; the others' rows (the language expert's
		// few text tokens, next to the vision expert's image tokens) are kept per sample in a
		// store, within the activation budget or spilled, and accumulated after the first key is
		// solved and freed. Each accumulator sees the same Add calls as before, so the results
		// are the same bits.
		pend := map[string]*capture{}
		for _, k := range keys {
			pend[k] = &capture{in: width[k]}
		}
		first := newCapture(width[keys[0]])
		later := map[string]*store{}
		for _, k := range keys[1:] {
			later[k] = qz.budget.newStore(2 * qz.n) // sample s: 2s quantized stream, 2s+1 FP stream
		}
		// Both streams of one sample call the hook in the same order (an expert may be called
		// for several runs of tokens), so the rows line up once each stream's are concatenated.
		for s := 0; s < qz.n; s++ {
			for _, c := range pend {
				c.pendX, c.pendXf = c.pendX[:0], c.pendXf[:0]
			}
			use(false)
			err := run(s, false, func(key string, x []float32, rows int) {
				if c := pend[key]; c != nil {
					c.pendX = append(c.pendX, x...)
				}
			}, false)
			if err != nil {
				return err
			}
			use(true)
			err = run(s, true, func(key string, xf []float32, rows int) {
				if c := pend[key]; c != nil {
					c.pendXf = append(c.pendXf, xf...)
				}
			}, false)
			if err != nil {
				return err
			}
			for _, key := range keys {
				c := pend[key]
				if len(c.pendX) != len(c.pendXf) {
					return fmt.Errorf("cogvlm2: %s: %s: the streams disagree (%d vs %d values)", label, key, len(c.pendX), len(c.pendXf))
				}
				if st := later[key]; st != nil {
					if err := st.put(2*s, c.pendX, false); err != nil {
						return err
					}
					if err := st.put(2*s+1, c.pendXf, false); err != nil {
						return err
					}
					continue
				}
				if err := qz.add(label, key, first, c.pendX, c.pendXf, s); err != nil {
					return err
				}
			}
		}
		pend = nil
		for ki, key := range keys {
			c := first
			if ki > 0 {
				st := later[key]
				c = newCapture(width[key])
				for s := 0; s < qz.n; s++ {
					x, err := st.get(2 * s)
					if err != nil {
						return err
					}
					xf, err := st.get(2*s + 1)
					if err != nil {
						return err
					}
					if err := qz.add(label, key, c, x, xf, s); err != nil {
						return err
					}
				}
				st.close()
			}
			var units []unit
			for _, u := range active {
				if u.input == key {
					units = append(units, u)
				}
			}
			qms, err := qz.modules(units, c)
			if err != nil {
				return err
			}
			first, c = nil, nil
			for i, qm := range qms {
				mods = append(mods, qm)
				qW[units[i].name] = qm.Q.DequantizeF32(nil)
				qz.log.Info("quantized", "module", qm.Name, "bits", qm.Bits, "method", qm.Method, "tokens", qm.Tokens, "rel_err", qm.Err)
			}
			debug.FreeOSMemory() // the key's n×n matrices are garbage now: give them back before the next
		}
		done = append(done, active...)
	}
	use(true)
	for s := 0; s < qz.n; s++ {
		if err := run(s, true, nil, true); err != nil {
			return err
		}
	}
	use(false)
	for s := 0; s < qz.n; s++ {
		if err := run(s, false, nil, true); err != nil {
			return err
		}
	}
	if !qz.o.InPlace {
		for _, r := range restore {
			r()
		}
	}
	if qz.o.OnBlock != nil && !resumed {
		if err := qz.o.OnBlock(bi, mods); err != nil {
			return err
		}
	}
	for _, qm := range mods {
		if qz.o.OnBlock != nil {
			qm.Q = nil // on disk now: memory holds one block's quantized weights at most
		}
		qz.res.Modules = append(qz.res.Modules, qm)
	}
	return nil
}

// add accumulates sample s's rows of one key (both streams) into c.
func (qz *quantizer) add(label, key string, c *capture, x, xf []float32, s int) error {
	if len(x) == 0 {
		return nil
	}
	rows := len(x) / c.in
	if c.h != nil {
		if err := c.h.Add(x, rows); err != nil {
			return fmt.Errorf("cogvlm2: %s: %s: %w", label, key, err)
		}
	}
	if c.c != nil {
		if err := c.c.Add(xf, x, rows); err != nil {
			return fmt.Errorf("cogvlm2: %s: %s: %w", label, key, err)
		}
	}
	c.tokens += rows
	if s == qz.n-1 {
		c.lastX, c.lastXf = append([]float32(nil), x...), append([]float32(nil), xf...)
	}
	return nil
}

// modules quantizes the units reading one input key from its statistics c, which it consumes:
// H and C are built in place in the accumulators' buffers, GPTQ works in a copy of H that is
// freed before RPIQ, and the last unit's RPIQ takes C over (OwnC). So the n×n float64 buffers
// alive at once are H, C and GPTQ's working copy, then H and C (dropped inside RPIQ).
func (qz *quantizer) modules(units []unit, c *capture) ([]*QuantModule, error) {
	var H, C []float64
	if qz.o.Method != quant.MethodRTN && c.tokens > 0 {
		H = c.h.TakeMatrix()
		if c.c != nil {
			C = c.c.TakeMatrix()
		}
	}
	c.h, c.c = nil, nil
	var out []*QuantModule
	for i, u := range units {
		last := i == len(units)-1
		qm, err := qz.module(u, c, H, C, last)
		if err != nil {
			return nil, err
		}
		out = append(out, qm)
	}
	return out, nil
}

// module quantizes one unit; H and C are its input's matrices (nil for RTN or no tokens), and
// own lets RPIQ take C over.
func (qz *quantizer) module(u unit, c *capture, H, C []float64, own bool) (*QuantModule, error) {
	w32 := u.weight()
	W := make([]float64, len(w32))
	for i, v := range w32 {
		W[i] = float64(v)
	}
	w32 = nil
	cfg := qz.stage1(u.bits)
	qm := &QuantModule{Name: u.name, Part: u.part, Tokens: c.tokens, Method: qz.o.Method, Bits: u.bits}
	var q *quant.Quantized
	var err error
	switch {
	case qz.o.Method == quant.MethodRTN || c.tokens == 0:
		// A module no calibration token reached (an expert without its tokens) has no Hessian:
		// round to nearest rather than zero it.
		qm.Method = quant.MethodRTN
		q, err = quant.RTN(W, u.out, u.in, cfg)
	default:
		if qz.o.Method == quant.MethodGPTQ && own {
			q, err = quant.GPTQInPlace(append([]float64(nil), W...), u.out, u.in, H, cfg) // H's last use
		} else {
			q, err = quant.GPTQ(W, u.out, u.in, H, cfg)
		}
		if err == nil && qz.o.Method == quant.MethodRPIQ {
			debug.FreeOSMemory() // GPTQ's working copies
			in := quant.Stage2Inputs{M: u.out, N: u.in, W: W, H: H, X: f64s(c.lastX), Tokens: len(c.lastX) / u.in, Seqs: 1}
			if C != nil {
				if own {
					in.C, in.OwnC = C, true
				} else {
					in.C = append([]float64(nil), C...)
					in.OwnC = true
				}
			}
			C = nil
			if qz.o.Stage2.FPTarget {
				in.Xfp = f64s(c.lastXf)
			}
			var r2 *quant.Stage2Result
			if r2, err = quant.RPIQ(in, q, qz.o.Stage2); err == nil {
				q = r2.Q
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cogvlm2: quantizing %s: %w", u.name, err)
	}
	qm.Q = q
	qm.Err = relErr(W, q.Dequantize(), c.lastX, u.out, u.in)
	return qm, nil
}

func relErr(W, Wq []float64, x []float32, m, n int) float64 {
	t := len(x) / n
	if t == 0 {
		return 0
	}
	var num, den float64
	for r := 0; r < t; r++ {
		xr := x[r*n : (r+1)*n]
		for o := 0; o < m; o++ {
			var a, b float64
			for k, v := range xr {
				a += float64(v) * W[o*n+k]
				b += float64(v) * Wq[o*n+k]
			}
			num += (a - b) * (a - b)
			den += a * a
		}
	}
	if den == 0 {
		return 0
	}
	return num / den
}

func f64s(x []float32) []float64 {
	o := make([]float64, len(x))
	for i, v := range x {
		o[i] = float64(v)
	}
	return o
}

func (m *Model) down(t backend.Tensor) []float32 {
	v := make([]float32, t.Rows()*t.Cols())
	m.be.Download(v, t)
	return v
}

func (m *Model) upT(v []float32, rows, cols int) backend.Tensor {
	t := m.be.NewTensor(rows, cols)
	m.be.Upload(t, v)
	return t
}

// linearUnit makes the unit of one nn.Linear.
func (m *Model) linearUnit(l *nn.Linear, name, input string, part Part, bits int) unit {
	return unit{name: name, input: input, part: part, bits: bits, out: l.W.Rows(), in: l.W.Cols(),
		weight: func() []float32 { return m.be.WeightF32(l.W) },
		set:    func(w []float32) { l.W = m.be.NewWeightF32(l.W.Rows(), l.W.Cols(), w) },
		keep:   func() func() { w0 := l.W; return func() { l.W = w0 } }}
}

// fusedUnit makes the unit of a query_key_value split into q, k, v at load time.
func (m *Model) fusedUnit(name, input string, part Part, bits int, ls ...*nn.Linear) unit {
	out := 0
	for _, l := range ls {
		out += l.W.Rows()
	}
	in := ls[0].W.Cols()
	return unit{name: name, input: input, part: part, bits: bits, out: out, in: in,
		weight: func() []float32 {
			var w []float32
			for _, l := range ls {
				w = append(w, m.be.WeightF32(l.W)...)
			}
			return w
		},
		set: func(w []float32) {
			lo := 0
			for _, l := range ls {
				r := l.W.Rows()
				l.W = m.be.NewWeightF32(r, in, w[lo*in:(lo+r)*in])
				lo += r
			}
		},
		keep: func() func() {
			w0 := make([]backend.Weight, len(ls))
			for i, l := range ls {
				w0[i] = l.W
			}
			return func() {
				for i, l := range ls {
					l.W = w0[i]
				}
			}
		}}
}

// Quantize quantizes m's modules and returns them for WriteQuantized; with o.InPlace, m keeps
// the dequantized weights.
func Quantize(m *Model, samples []CalibSample, o QuantOptions) (*QuantResult, error) {
	t0 := time.Now()
	if len(samples) == 0 {
		return nil, fmt.Errorf("cogvlm2: no calibration samples")
	}
	switch o.Method {
	case quant.MethodRTN, quant.MethodGPTQ, quant.MethodRPIQ:
	default:
		return nil, fmt.Errorf("cogvlm2: method %q, want rtn, gptq or rpiq", o.Method)
	}
	for _, b := range []struct {
		name string
		v    int
	}{{"bits", o.Bits}, {"vision bits", o.VisionBits}, {"adapter bits", o.AdapterBits}, {"head bits", o.HeadBits}} {
		switch b.v {
		case 2, 3, 4, 8, 16:
		default:
			return nil, fmt.Errorf("cogvlm2: %s = %d, want 2, 3, 4, 8 or 16", b.name, b.v)
		}
	}
	if o.VisionBits != 8 && o.VisionBits != 16 {
		return nil, fmt.Errorf("cogvlm2: vision bits = %d, want 8 or 16", o.VisionBits)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// The garbage collector may let the heap grow to 1+GOGC/100 times the live data between
	// collections; with GPTQ's and RPIQ's temporaries of n×n and m×n floats that headroom is
	// gigabytes at the real widths. The big buffers hold no pointers, so collecting more often
	// is cheap: 20% headroom while quantizing.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	budget := &spillBudget{limit: o.ActBudget, dir: o.SpillDir}
	qz := &quantizer{m: m, o: o, log: log, res: &QuantResult{Options: o}, n: len(samples), budget: budget, rss: startRSSSampler()}
	defer qz.rss.close()
	be, v := m.be, m.vision
	G, Hv := v.cfg.Grid(), v.cfg.HiddenSize
	nv := G*G + 1
	// Vision stream states: the ViT's input (patch embeddings + CLS + positions), per sample.
	vq, vf := budget.newStore(len(samples)), budget.newStore(len(samples))
	defer vq.close()
	defer vf.close()
	for i, s := range samples {
		patches, err := v.cfg.Patches(s.Image)
		if err != nil {
			return nil, fmt.Errorf("cogvlm2: calibration sample %d: %w", i, err)
		}
		x := be.NewTensor(nv, Hv)
		be.Copy(be.Rows(x, 0, 1), v.cls)
		emb := be.Rows(x, 1, nv)
		be.MatMul(emb, m.upT(patches, G*G, 3*v.cfg.PatchSize*v.cfg.PatchSize), v.patch.W)
		be.AddBias(emb, v.patch.B)
		be.Add(x, x, v.pos)
		h := m.down(x)
		if err := vq.put(i, h, false); err != nil {
			return nil, err
		}
		if err := vf.put(i, h, true); err != nil {
			return nil, err
		}
	}
	// state returns sample s's block input on one stream.
	state := func(q, f *store, s int, fp bool) (*store, []float32, error) {
		st := q
		if fp {
			st = f
		}
		x, err := st.get(s)
		return st, x, err
	}
	tap := func(hook func(string, []float32, int), key string, t backend.Tensor) {
		if hook != nil {
			hook(key, m.down(t), t.Rows())
		}
	}
	for j, l := range v.layers {
		p := fmt.Sprintf("model.vision.transformer.layers.%d.", j)
		units := [][]unit{
			{m.fusedUnit(p+"attention.query_key_value", "qkv", PartVision, o.VisionBits, l.q, l.k, l.v)},
			{m.linearUnit(l.dense, p+"attention.dense", "dense", PartVision, o.VisionBits)},
			{m.linearUnit(l.fc1, p+"mlp.fc1", "fc1", PartVision, o.VisionBits)},
			{m.linearUnit(l.fc2, p+"mlp.fc2", "fc2", PartVision, o.VisionBits)},
		}
		err := qz.block(fmt.Sprintf("vision layer %d", j), units, func(s int, fp bool, hook func(string, []float32, int), commit bool) error {
			st, x0, err := state(vq, vf, s, fp)
			if err != nil {
				return err
			}
			x := m.upT(x0, nv, Hv)
			tap(hook, "qkv", x)
			q, k, vv := l.q.Forward(be, x), l.k.Forward(be, x), l.v.Forward(be, x)
			a := be.NewTensor(nv, Hv)
			be.AttentionFull(a, q, k, vv, v.attn)
			tap(hook, "dense", a)
			ao := l.dense.Forward(be, a)
			be.LayerNorm(ao, ao, l.inLNW, l.inLNB, v.eps)
			be.Add(x, x, ao)
			tap(hook, "fc1", x)
			h := l.fc1.Forward(be, x)
			be.GELU(h)
			tap(hook, "fc2", h)
			mo := l.fc2.Forward(be, h)
			be.LayerNorm(mo, mo, l.postLNW, l.postLNB, v.eps)
			be.Add(x, x, mo)
			if commit {
				return st.put(s, m.down(x), true)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// The convolution and the adapter: one block whose output is the image embeddings.
	lp := "model.vision.linear_proj."
	units := [][]unit{
		{m.linearUnit(v.conv, "model.vision.conv", "conv", PartVision, o.VisionBits)},
		{m.linearUnit(v.proj, lp+"linear_proj", "proj", PartAdapter, o.AdapterBits)},
		{m.linearUnit(v.gate, lp+"gate_proj", "glu", PartAdapter, o.AdapterBits),
			m.linearUnit(v.h4h, lp+"dense_h_to_4h", "glu", PartAdapter, o.AdapterBits)},
		{m.linearUnit(v.down, lp+"dense_4h_to_h", "4h", PartAdapter, o.AdapterBits)},
	}
	H := m.cfg.LM.HiddenSize
	err := qz.block("adapter", units, func(s int, fp bool, hook func(string, []float32, int), commit bool) error {
		st, x0, err := state(vq, vf, s, fp)
		if err != nil {
			return err
		}
		x := m.upT(x0, nv, Hv)
		g := be.NewTensor((G/2)*(G/2), Hv*4)
		be.Im2Col(g, be.Rows(x, 1, nv), G, G, 2)
		tap(hook, "conv", g)
		y := v.conv.Forward(be, g)
		tap(hook, "proj", y)
		z := v.proj.Forward(be, y)
		be.LayerNorm(z, z, v.norm1W, v.norm1B, 1e-5)
		be.GELU(z)
		tap(hook, "glu", z)
		gt, u := v.gate.Forward(be, z), v.h4h.Forward(be, z)
		be.SwiGLU(gt, gt, u)
		tap(hook, "4h", gt)
		z = v.down.Forward(be, gt)
		if commit {
			out := be.NewTensor(z.Rows()+2, H)
			be.Copy(be.Rows(out, 0, 1), v.boi)
			be.Copy(be.Rows(out, 1, z.Rows()+1), z)
			be.Copy(be.Rows(out, z.Rows()+1, z.Rows()+2), v.eoi)
			return st.put(s, m.down(out), true)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The language model's input: [BOS, image embeddings, text].
	type seq struct {
		ids   []int32
		types []int
		pos   []int32
		rts   []route
	}
	seqs := make([]seq, len(samples))
	lq, lf := budget.newStore(len(samples)), budget.newStore(len(samples))
	defer lq.close()
	defer lf.close()
	for i, s := range samples {
		ids, tt := BuildInput(int32(m.cfg.LM.BOSTokenID), m.cfg.Vision.ImageTokens(), s.Text)
		seqs[i] = seq{ids, tt, PositionIDs(tt), runs(VisionExpert(tt))}
		for si, st := range []*store{vq, vf} {
			img, err := st.get(i)
			if err != nil {
				return nil, err
			}
			x, err := m.embedInput(Input{IDs: ids, Types: tt, Image: m.upT(img, len(img)/H, H)})
			if err != nil {
				return nil, fmt.Errorf("cogvlm2: calibration sample %d: %w", i, err)
			}
			if err := []*store{lq, lf}[si].put(i, m.down(x), true); err != nil {
				return nil, err
			}
		}
	}
	vq.close()
	vf.close()
	kvd := m.attn.KVHeads * m.attn.HeadDim
	for li, l := range m.layers {
		p := fmt.Sprintf("model.layers.%d.", li)
		units := make([][]unit, 4) // true-sequential groups: qkv, dense, gate+up, down (both experts)
		for _, e := range []*expert{&l.vis, &l.lang} {
			units[0] = append(units[0], m.fusedUnit(e.qkvName, e.qkvName, PartLM, o.Bits, e.q, e.k, e.v))
			units[1] = append(units[1], m.linearUnit(e.dense, e.dense.Name, e.dense.Name, PartLM, o.Bits))
			units[2] = append(units[2], m.linearUnit(e.gate, e.gate.Name, e.gate.Name, PartLM, o.Bits),
				m.linearUnit(e.up, e.up.Name, e.gate.Name, PartLM, o.Bits)) // reads the same rows as gate
			units[3] = append(units[3], m.linearUnit(e.down, e.down.Name, e.down.Name, PartLM, o.Bits))
		}
		err := qz.block(fmt.Sprintf("decoder layer %d", li), units, func(s int, fp bool, hook func(string, []float32, int), commit bool) error {
			st, x0, err := state(lq, lf, s, fp)
			if err != nil {
				return err
			}
			sq := seqs[s]
			n := len(sq.ids)
			x := m.upT(x0, n, H)
			c := be.NewCache(1, n, kvd)
			var hk Hook
			if hook != nil {
				hk = func(name string, t backend.Tensor) {
					if name == p+"mlp.vision_mlp.up_proj" || name == p+"mlp.language_mlp.up_proj" {
						return // same rows as gate_proj
					}
					hook(name, m.down(t), t.Rows())
				}
			}
			x = m.layerForward(l, x, c, 0, 0, sq.pos, sq.rts, hk)
			if commit {
				return st.put(s, m.down(x), true)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// The head reads the final norm of the last layer's output.
	err = qz.block("head", [][]unit{{m.linearUnit(m.head, "lm_head", "head", PartHead, o.HeadBits)}},
		func(s int, fp bool, hook func(string, []float32, int), commit bool) error {
			if hook == nil {
				return nil
			}
			_, x0, err := state(lq, lf, s, fp)
			if err != nil {
				return err
			}
			n := len(x0) / H
			x := m.upT(x0, n, H)
			h := be.NewTensor(n, H)
			be.RMSNorm(h, x, m.norm, m.eps)
			tap(hook, "head", h)
			return nil
		})
	if err != nil {
		return nil, err
	}
	qz.res.Seconds = time.Since(t0).Seconds()
	qz.res.Spilled = budget.spilled
	return qz.res, nil
}

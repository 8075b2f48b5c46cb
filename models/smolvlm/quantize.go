package smolvlm

// Differentiated quantization of SmolVLM (issue 12 item 4), the way CogVLM2's is done: a
// sequential driver over models/quant's per-matrix RTN, GPTQ and RPIQ. Calibration samples
// (image tiles + a laid-out prompt) run through the model; each block (a SigLIP layer, the
// connector, a decoder layer, the head) sees two streams, the quantized model's activations and
// the full-precision model's. Inside a block the modules go in GPTQ's true-sequential groups
// (attention inputs, attention output, MLP input(s), MLP output), each group seeing the earlier
// ones quantized; then the block's outputs are recomputed for the next block.

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/nn"
)

// CalibSample is one calibration example: preprocessed tiles (CHW, in the model's order) and
// the prompt's ids, whose image_token_id positions take the tiles' embeddings.
type CalibSample struct {
	Tiles [][]float32
	IDs   []int32
}

// QuantOptions choose the method and the bits of each part (16 keeps a part).
type QuantOptions struct {
	Method string // quant.MethodRTN, MethodGPTQ or MethodRPIQ
	Bits   Bits   // per part; Bits.GroupSize is ignored (Stage1.GroupSize rules)
	Stage1 quant.Config
	Stage2 quant.Stage2Config
	Log    *slog.Logger
	// InPlace leaves m with the dequantized weights (to evaluate it right away); otherwise every
	// block gets its original weights back once its outputs are computed.
	InPlace bool
}

// QuantModule is one quantized linear module (Name is the checkpoint's module prefix).
type QuantModule struct {
	Name   string
	Part   Part
	Q      *quant.Quantized
	Tokens int     // rows that reached it
	Method string  // what produced Q
	Err    float64 // relative output error ‖X Wᵀ − X W_qᵀ‖²/‖X Wᵀ‖² on the last sample's rows
}

// QuantResult is the quantized model.
type QuantResult struct {
	Modules []*QuantModule
	Options QuantOptions
	Seconds float64
}

// unit is one quantizable module of a block.
type unit struct {
	name, input string // module prefix; hook key of its input (modules reading the same rows share it)
	part        Part
	bits        int
	l           *nn.Linear
}

type capture struct {
	in            int
	h             *quant.Hessian
	c             *quant.Cross
	tokens        int
	lastX, lastXf []float32
	pendX, pendXf []float32
}

// blockRun runs a block for sample s on one stream (fp: the full-precision one); hook (may be
// nil) sees each module input by key; commit stores the block's output as the stream's state.
type blockRun func(s int, fp bool, hook func(key string, x []float32), commit bool) error

type quantizer struct {
	m   *Model
	o   QuantOptions
	log *slog.Logger
	res *QuantResult
	n   int
}

// block quantizes a block's units group by group (see the file comment).
func (qz *quantizer) block(label string, groups [][]unit, run blockRun) error {
	be := qz.m.be
	fpW, qW := map[string]backend.Weight{}, map[string]backend.Weight{}
	orig := map[string]backend.Weight{}
	for _, g := range groups {
		for _, u := range g {
			orig[u.name] = u.l.W
		}
	}
	var done []unit
	use := func(fp bool) {
		for _, u := range done {
			if fp {
				u.l.W = fpW[u.name]
			} else {
				u.l.W = qW[u.name]
			}
		}
	}
	needC := qz.o.Method == quant.MethodRPIQ && qz.o.Stage2.AllData && qz.o.Stage2.FPTarget
	for _, g := range groups {
		var active []unit
		for _, u := range g {
			if u.bits < 16 {
				active = append(active, u)
			}
		}
		if len(active) == 0 {
			continue
		}
		caps := map[string]*capture{}
		for _, u := range active {
			if caps[u.input] == nil {
				c := &capture{in: u.l.W.Cols()}
				if qz.o.Method != quant.MethodRTN {
					c.h = quant.NewHessian(c.in)
				}
				if needC {
					c.c = quant.NewCross(c.in)
				}
				caps[u.input] = c
			}
		}
		for s := 0; s < qz.n; s++ {
			for _, c := range caps {
				c.pendX, c.pendXf = c.pendX[:0], c.pendXf[:0]
			}
			for _, fp := range []bool{false, true} {
				use(fp)
				err := run(s, fp, func(key string, x []float32) {
					if c := caps[key]; c != nil {
						if fp {
							c.pendXf = append(c.pendXf, x...)
						} else {
							c.pendX = append(c.pendX, x...)
						}
					}
				}, false)
				if err != nil {
					return err
				}
			}
			for key, c := range caps {
				x, xf := c.pendX, c.pendXf
				if len(x) != len(xf) {
					return fmt.Errorf("smolvlm: %s: %s: the streams disagree (%d vs %d values)", label, key, len(x), len(xf))
				}
				if len(x) == 0 {
					continue
				}
				rows := len(x) / c.in
				if c.h != nil {
					if err := c.h.Add(x, rows); err != nil {
						return fmt.Errorf("smolvlm: %s: %w", key, err)
					}
				}
				if c.c != nil {
					if err := c.c.Add(xf, x, rows); err != nil {
						return fmt.Errorf("smolvlm: %s: %w", key, err)
					}
				}
				c.tokens += rows
				if s == qz.n-1 {
					c.lastX, c.lastXf = append([]float32(nil), x...), append([]float32(nil), xf...)
				}
			}
		}
		for _, u := range active {
			fpW[u.name] = u.l.W // the group is still full precision here
			qm, err := qz.module(u, caps[u.input])
			if err != nil {
				return err
			}
			qz.res.Modules = append(qz.res.Modules, qm)
			qW[u.name] = be.NewWeightF32(u.l.W.Rows(), u.l.W.Cols(), qm.Q.DequantizeF32(nil))
			qz.log.Info("quantized", "module", u.name, "bits", u.bits, "method", qm.Method, "tokens", qm.Tokens, "rel_err", qm.Err)
		}
		done = append(done, active...)
	}
	for _, fp := range []bool{true, false} {
		use(fp)
		for s := 0; s < qz.n; s++ {
			if err := run(s, fp, nil, true); err != nil {
				return err
			}
		}
	}
	if !qz.o.InPlace {
		for _, g := range groups {
			for _, u := range g {
				u.l.W = orig[u.name]
			}
		}
	}
	return nil
}

func (qz *quantizer) module(u unit, c *capture) (*QuantModule, error) {
	w32 := qz.m.be.WeightF32(u.l.W)
	out, in := u.l.W.Rows(), u.l.W.Cols()
	W := f64s(w32)
	cfg := qz.o.Stage1
	cfg.Bits = u.bits
	qm := &QuantModule{Name: u.name, Part: u.part, Tokens: c.tokens, Method: qz.o.Method}
	var q *quant.Quantized
	var err error
	switch {
	case qz.o.Method == quant.MethodRTN || c.tokens == 0:
		qm.Method = quant.MethodRTN
		q, err = quant.RTN(W, out, in, cfg)
	default:
		H := c.h.Matrix()
		q, err = quant.GPTQ(W, out, in, H, cfg)
		if err == nil && qz.o.Method == quant.MethodRPIQ {
			si := quant.Stage2Inputs{M: out, N: in, W: W, H: H, X: f64s(c.lastX), Tokens: len(c.lastX) / in, Seqs: 1}
			if c.c != nil {
				si.C = c.c.Matrix()
			}
			if qz.o.Stage2.FPTarget {
				si.Xfp = f64s(c.lastXf)
			}
			var r2 *quant.Stage2Result
			if r2, err = quant.RPIQ(si, q, qz.o.Stage2); err == nil {
				q = r2.Q
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("smolvlm: quantizing %s: %w", u.name, err)
	}
	qm.Q = q
	qm.Err = relErr(W, q.Dequantize(), c.lastX, out, in)
	return qm, nil
}

func relErr(W, Wq []float64, x []float32, m, n int) float64 {
	var num, den float64
	for r := 0; r < len(x)/n; r++ {
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

func (m *Model) up(v []float32, cols int) backend.Tensor {
	t := m.be.NewTensor(len(v)/cols, cols)
	m.be.Upload(t, v)
	return t
}

// Quantize quantizes m's linear modules with per-part bits and returns them for
// WriteQuantized; with o.InPlace, m keeps the dequantized weights.
func Quantize(m *Model, samples []CalibSample, o QuantOptions) (*QuantResult, error) {
	t0 := time.Now()
	if len(samples) == 0 {
		return nil, fmt.Errorf("smolvlm: no calibration samples")
	}
	switch o.Method {
	case quant.MethodRTN, quant.MethodGPTQ, quant.MethodRPIQ:
	default:
		return nil, fmt.Errorf("smolvlm: method %q, want rtn, gptq or rpiq", o.Method)
	}
	for _, p := range []Part{PartDecoder, PartVision, PartConnector, PartHead} {
		switch o.Bits.Of(p) {
		case 2, 3, 4, 8, 16:
		default:
			return nil, fmt.Errorf("smolvlm: %s bits = %d, want 2, 3, 4, 8 or 16", p, o.Bits.Of(p))
		}
	}
	if o.Bits.Head < 16 && m.cfg.TieWordEmbeddings {
		return nil, fmt.Errorf("smolvlm: the head is tied to the embedding: keep it at 16 bits")
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	qz := &quantizer{m: m, o: o, log: log, res: &QuantResult{Options: o}, n: len(samples)}
	be, Hv, H := m.be, m.cfg.Vision.HiddenSize, m.cfg.Text.HiddenSize
	// Vision stream states: per sample, every tile's encoder input, stacked.
	var vq, vf [][]float32
	for i, s := range samples {
		var st []float32
		for _, tile := range s.Tiles {
			x, err := m.embedPatches(tile)
			if err != nil {
				return nil, fmt.Errorf("smolvlm: calibration sample %d: %w", i, err)
			}
			st = append(st, m.down(x)...)
		}
		vq, vf = append(vq, st), append(vf, append([]float32(nil), st...))
	}
	nTile := m.cfg.Vision.Grid() * m.cfg.Vision.Grid()
	// perTile runs f on each tile of sample s's state and stores the results when commit.
	perTile := func(st [][]float32, s int, commit bool, f func(x backend.Tensor) backend.Tensor) {
		var next []float32
		for lo := 0; lo < len(st[s]); lo += nTile * Hv {
			y := f(m.up(st[s][lo:lo+nTile*Hv], Hv))
			if commit {
				next = append(next, m.down(y)...)
			}
		}
		if commit {
			st[s] = next
		}
	}
	hookOf := func(hook func(string, []float32), skip ...string) Hook {
		if hook == nil {
			return nil
		}
		return func(name string, t backend.Tensor) {
			for _, s := range skip {
				if name == s {
					return
				}
			}
			hook(name, m.down(t))
		}
	}
	lin := func(l *nn.Linear, input string, p Part) unit {
		return unit{name: l.Name, input: input, part: p, bits: o.Bits.Of(p), l: l}
	}
	for j, l := range m.vlayers {
		units := [][]unit{
			{lin(l.q, l.q.Name, PartVision), lin(l.k, l.q.Name, PartVision), lin(l.v, l.q.Name, PartVision)},
			{lin(l.out, l.out.Name, PartVision)},
			{lin(l.fc1, l.fc1.Name, PartVision)},
			{lin(l.fc2, l.fc2.Name, PartVision)},
		}
		err := qz.block(fmt.Sprintf("vision layer %d", j), units, func(s int, fp bool, hook func(string, []float32), commit bool) error {
			st := vq
			if fp {
				st = vf
			}
			hk := hookOf(hook, l.k.Name, l.v.Name) // k and v read q's rows
			perTile(st, s, commit, func(x backend.Tensor) backend.Tensor { m.vitForward(l, x, hk); return x })
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err := qz.block("connector", [][]unit{{lin(m.proj, m.proj.Name, PartConnector)}}, func(s int, fp bool, hook func(string, []float32), commit bool) error {
		st := vq
		if fp {
			st = vf
		}
		perTile(st, s, commit, func(x backend.Tensor) backend.Tensor {
			return fwd(be, m.proj, m.connectorInput(x), hookOf(hook))
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The decoder's input: the prompt's embeddings with the image rows merged in.
	lq, lf := make([][]float32, len(samples)), make([][]float32, len(samples))
	for i, s := range samples {
		for si, st := range [][][]float32{vq, vf} {
			x, err := m.embedInput(s.IDs, m.up(st[i], H))
			if err != nil {
				return nil, fmt.Errorf("smolvlm: calibration sample %d: %w", i, err)
			}
			if si == 0 {
				lq[i] = m.down(x)
			} else {
				lf[i] = m.down(x)
			}
		}
	}
	kvd := m.attn.KVHeads * m.attn.HeadDim
	for li, l := range m.layers {
		units := [][]unit{
			{lin(l.q, l.q.Name, PartDecoder), lin(l.k, l.q.Name, PartDecoder), lin(l.v, l.q.Name, PartDecoder)},
			{lin(l.o, l.o.Name, PartDecoder)},
			{lin(l.gate, l.gate.Name, PartDecoder), lin(l.up, l.gate.Name, PartDecoder)},
			{lin(l.down, l.down.Name, PartDecoder)},
		}
		err := qz.block(fmt.Sprintf("decoder layer %d", li), units, func(s int, fp bool, hook func(string, []float32), commit bool) error {
			st := lq
			if fp {
				st = lf
			}
			x := m.up(st[s], H)
			x = m.layerForward(l, x, be.NewCache(1, x.Rows(), kvd), 0, 0, hookOf(hook, l.k.Name, l.v.Name, l.up.Name))
			if commit {
				st[s] = m.down(x)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if !m.cfg.TieWordEmbeddings {
		err = qz.block("head", [][]unit{{lin(m.head, m.head.Name, PartHead)}}, func(s int, fp bool, hook func(string, []float32), commit bool) error {
			if hook == nil {
				return nil
			}
			st := lq
			if fp {
				st = lf
			}
			x := m.up(st[s], H)
			h := be.NewTensor(x.Rows(), H)
			be.RMSNorm(h, x, m.norm, m.eps)
			hook(m.head.Name, m.down(h))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	qz.res.Seconds = time.Since(t0).Seconds()
	return qz.res, nil
}

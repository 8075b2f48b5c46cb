// Package quantbench measures what quantization costs: one TinyLlama-1.1B-shaped decoder layer
// (hidden 2048, intermediate 5632, 32 heads, 4 KV heads) with random weights, calibrated on
// random-token windows, timed phase by phase (stage 1 = Hessian accumulation + GPTQ; stage 2 =
// RPIQ's cross-term accumulation + Gauss-Seidel rounds) with the Go heap's peak in each. It is
// the quantizer suite of `rpiq bench` and the body of the testing.B benchmark.
package quantbench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/llama"
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/model"
)

// Shape is a LLaMA decoder layer's size.
type Shape struct {
	Name                          string
	Hidden, Inter, Heads, KVHeads int
}

// TinyLlama is TinyLlama-1.1B's decoder layer.
var TinyLlama = Shape{Name: "tinyllama", Hidden: 2048, Inter: 5632, Heads: 32, KVHeads: 4}

// Options selects a run. Zero values mean: TinyLlama, one layer, 128 windows of 512 tokens,
// RPIQ's default reading, 4 bits, group 128, all worker threads. Layers > 1 quantizes a model
// of that many layers in one process, as `rpiq quantize` does, so that the pages a process
// writes for the first time (on the VMs measured, 0.6 GB/s; BENCHMARKS.md) weigh as they do in
// a model run rather than all falling on one layer.
type Options struct {
	Shape   Shape
	Layers  int
	Windows int
	Tokens  int
	Method  string
	Reading *quant.Reading
	Threads int
}

// Result is one `rpiq bench` line.
type Result struct {
	Name            string             `json:"name"`
	Threads         int                `json:"threads"`
	Layers          int                `json:"layers"` // the times below are their sums, the rates over all of them
	Ms              float64            `json:"ms"`     // the whole run
	Stage1S         float64            `json:"stage1_s"`
	Stage2S         float64            `json:"stage2_s"`
	ForwardS        float64            `json:"forward_s"`
	Stage1PeakBytes uint64             `json:"stage1_peak_bytes"`
	Stage2PeakBytes uint64             `json:"stage2_peak_bytes"`
	InstanceBytes   int64              `json:"instance_bytes"` // the single instance's X (and X̃) of the widest module, float32
	GFLOPs          float64            `json:"gflop_s"`        // Hessian accumulation
	Limits          map[string]float64 `json:"limits,omitempty"`
	Ratios          map[string]float64 `json:"ratios,omitempty"`
	Extrapolated    map[string]float64 `json:"extrapolated_128x512,omitempty"`
	// GPTQ's update time on the float32 path, apart: the copy of Wᵀ, the column loop, the
	// deferred products (quant.Cost).
	GPTQUpdateS map[string]float64 `json:"gptq_update_s,omitempty"`
	Note        string             `json:"note,omitempty"`
}

func (r Result) String() string {
	s := fmt.Sprintf("%-34s threads=%d layers=%d total %.1fs  stage1 %.1fs (peak %.0f MiB)  stage2 %.1fs (peak %.0f MiB)  forward %.1fs  hessian %.1f GFLOP/s",
		r.Name, r.Threads, max(r.Layers, 1), r.Ms/1000, r.Stage1S, float64(r.Stage1PeakBytes)/(1<<20), r.Stage2S, float64(r.Stage2PeakBytes)/(1<<20), r.ForwardS, r.GFLOPs)
	if v, ok := r.Ratios["of_peak"]; ok {
		s += fmt.Sprintf(" of_peak=%.3f", v)
	}
	for _, k := range []string{"stage1_of_peak", "gptq_of_peak", "gptq_inverse_of_peak", "gptq_update_of_peak", "gptq_products_of_peak", "stage2_of_peak"} {
		if v, ok := r.Ratios[k]; ok {
			s += fmt.Sprintf(" %s=%.3f", k, v)
		}
	}
	if v, ok := r.Ratios["stage2_of_total"]; ok {
		s += fmt.Sprintf(" stage2_of_total=%.2f", v)
	}
	if u := r.GPTQUpdateS; u != nil {
		s += fmt.Sprintf("  gptq_update copy %.3fs columns %.3fs products %.3fs", u["copy"], u["columns"], u["products"])
	}
	if e := r.Extrapolated; e != nil {
		s += fmt.Sprintf("  [128×512 extrapolated, per layer: stage1 %.0fs stage2 %.0fs forward %.0fs stage2_of_total=%.2f]", e["stage1_s"], e["stage2_s"], e["forward_s"], e["stage2_of_total"])
	}
	return s
}

// withDefaults fills in the zero values (Options).
func (o Options) withDefaults() Options {
	if o.Shape.Hidden == 0 {
		o.Shape = TinyLlama
	}
	if o.Layers <= 0 {
		o.Layers = 1
	}
	if o.Windows <= 0 {
		o.Windows = 128
	}
	if o.Tokens <= 0 {
		o.Tokens = 512
	}
	if o.Method == "" {
		o.Method = quant.MethodRPIQ
	}
	return o
}

// Name is the run's benchmark name, as Run reports it (what `rpiq bench --filter` matches).
func (o Options) Name() string {
	o = o.withDefaults()
	if o.Layers > 1 {
		return fmt.Sprintf("quantize_%dlayers_%s_%s_%dx%d", o.Layers, o.Shape.Name, o.Method, o.Windows, o.Tokens)
	}
	return fmt.Sprintf("quantize_layer_%s_%s_%dx%d", o.Shape.Name, o.Method, o.Windows, o.Tokens)
}

// Run quantizes o.Layers random layers and reports the costs.
func Run(o Options) (*Result, error) {
	o = o.withDefaults()
	rd := quant.DefaultReading()
	if o.Reading != nil {
		rd = *o.Reading
	}
	threads := o.Threads
	if threads <= 0 {
		threads = cpu.DefaultThreads()
	}
	lm, be, err := randomModel(o.Shape, o.Layers, threads, o.Tokens)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	windows := make([][]int32, o.Windows+1)
	for i := range windows {
		windows[i] = make([]int32, o.Tokens)
		for j := range windows[i] {
			windows[i][j] = int32(rng.IntN(vocab))
		}
	}
	runtime.GC()
	opt := quant.Options{
		Method: o.Method,
		Stage1: quant.Config{Grid: quant.Grid{Bits: 4, ScaleFP16: true}, GroupSize: 128, Damp: 0.01, BlockSize: 128},
		Stage2: quant.Stage2Config{Reading: rd, Iters: 5},
	}
	t0 := time.Now()
	res, err := quant.QuantizeModel(lm, be, windows[:o.Windows], windows[o.Windows:], opt)
	if err != nil {
		return nil, err
	}
	total := time.Since(t0).Seconds()
	c := res.Cost
	peak := cpu.PeakGFLOPs(threads)
	r := &Result{
		Name:    o.Name(),
		Threads: threads, Layers: o.Layers, Ms: total * 1000, Stage1S: c.Stage1Sec(), Stage2S: c.Stage2Sec(), ForwardS: c.ForwardSec,
		Stage1PeakBytes: c.Stage1PeakBytes, Stage2PeakBytes: c.Stage2PeakBytes,
		InstanceBytes: int64(o.Tokens) * int64(o.Shape.Inter) * 4 * 2,
		GFLOPs:        c.HessianGFLOPs,
		Limits:        map[string]float64{"peak_gflop_s": peak},
		Ratios: map[string]float64{"of_peak": c.HessianGFLOPs / peak, "stage1_of_peak": c.Stage1GFLOPs / peak,
			"gptq_of_peak": c.GPTQGFLOPs / peak, "gptq_inverse_of_peak": c.GPTQInverseGFLOPs / peak,
			"gptq_update_of_peak": c.GPTQUpdateGFLOPs / peak, "gptq_products_of_peak": c.GPTQProductGFLOPs / peak,
			"stage2_of_peak": c.Stage2GFLOPs / peak},
		Note: "stage1 = Hessian accumulation + GPTQ; stage2 = cross-term accumulation (FP target) + Gauss-Seidel rounds; forward = the layer's passes over both streams; peak = float32 FMA peak; of_peak = the Hessian's accumulation, stage1/gptq/stage2_of_peak = their matrix work (quant.Cost); gptq_inverse/gptq_update_of_peak = GPTQ's inverses (one per input) and its updates (copy of Wᵀ + column loop + deferred products) apart; gptq_products_of_peak = the deferred products alone",
	}
	if c.GPTQProductSec > 0 {
		r.GPTQUpdateS = map[string]float64{"copy": c.GPTQConvertSec, "columns": c.GPTQColumnsSec, "products": c.GPTQProductSec}
	}
	if t := c.Stage1Sec() + c.Stage2Sec() + c.ForwardSec; t > 0 {
		r.Ratios["stage2_of_total"] = c.Stage2Sec() / t
	}
	if o.Windows != 128 || o.Tokens != 512 {
		// accumulation and forward passes scale with tokens, the solves do not
		f := 128 * 512 / float64(o.Windows*o.Tokens)
		l := float64(o.Layers)
		s1 := (c.HessianSec*f + c.GPTQSec) / l
		s2 := (c.Stage2AccumSec*f + c.Stage2SolveSec) / l
		fw := c.ForwardSec * f / l
		r.Extrapolated = map[string]float64{"stage1_s": s1, "stage2_s": s2, "forward_s": fw, "stage2_of_total": s2 / (s1 + s2 + fw)}
	}
	return r, nil
}

const vocab = 256

// randomModel builds a LLaMA of the shape with layers random decoder layers (the embedding and
// head are tiny: only the decoder layers matter here).
func randomModel(s Shape, layers, threads, maxSeq int) (model.Layered, backend.Backend, error) {
	hd := s.Hidden / s.Heads
	cfg := &hf.Config{
		Architecture: llama.ArchLlama, HiddenSize: s.Hidden, IntermediateSize: s.Inter, NumLayers: layers,
		NumHeads: s.Heads, NumKVHeads: s.KVHeads, HeadDim: hd, VocabSize: vocab, MaxPositions: max(maxSeq, 2048),
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: 1, EOSTokenIDs: []int{2},
	}
	mem := hfmodel.MemTensors{}
	rng := rand.New(rand.NewPCG(7, 7))
	add := func(name string, scale float32, one bool, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		b := make([]byte, 4*n)
		f := cpu.Float32s(b)
		for i := range f {
			if one {
				f[i] = 1
			} else {
				f[i] = float32(rng.NormFloat64()) * scale
			}
		}
		mem[name] = safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: shape, Data: b}
	}
	add("model.embed_tokens.weight", 1, false, vocab, s.Hidden)
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		add(p+"input_layernorm.weight", 0, true, s.Hidden)
		add(p+"post_attention_layernorm.weight", 0, true, s.Hidden)
		add(p+"self_attn.q_proj.weight", 0.02, false, s.Heads*hd, s.Hidden)
		add(p+"self_attn.k_proj.weight", 0.02, false, s.KVHeads*hd, s.Hidden)
		add(p+"self_attn.v_proj.weight", 0.02, false, s.KVHeads*hd, s.Hidden)
		add(p+"self_attn.o_proj.weight", 0.02, false, s.Hidden, s.Heads*hd)
		add(p+"mlp.gate_proj.weight", 0.02, false, s.Inter, s.Hidden)
		add(p+"mlp.up_proj.weight", 0.02, false, s.Inter, s.Hidden)
		add(p+"mlp.down_proj.weight", 0.02, false, s.Hidden, s.Inter)
	}
	add("model.norm.weight", 0, true, s.Hidden)
	add("lm_head.weight", 0.02, false, vocab, s.Hidden)
	be := quant.NewWorkBackend(cpubackend.New(threads))
	m, err := hfmodel.Build(cfg, mem, be)
	if err != nil {
		return nil, nil, err
	}
	lm, ok := m.(model.Layered)
	if !ok {
		return nil, nil, fmt.Errorf("quantbench: the LLaMA model is not model.Layered")
	}
	return lm, be, nil
}

package bench

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/llama"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// Shape is a LLaMA-shaped model size for benchmarks.
type Shape struct {
	Name                                         string
	Hidden, Inter, Layers, Heads, KVHeads, Vocab int
}

// Shape1B is TinyLlama-1.1B's shape (1.10e9 parameters): the "1B-parameter LLaMA" of issue 2.
var Shape1B = Shape{Name: "llama1b", Hidden: 2048, Inter: 5632, Layers: 22, Heads: 32, KVHeads: 4, Vocab: 32000}

// Params is the parameter count (embedding and untied head included).
func (s Shape) Params() int64 {
	hd := s.Hidden / s.Heads
	layer := int64(s.Hidden)*int64(s.Heads*hd)*2 + int64(s.Hidden)*int64(s.KVHeads*hd)*2 + 3*int64(s.Hidden)*int64(s.Inter) + 2*int64(s.Hidden)
	return int64(s.Layers)*layer + 2*int64(s.Vocab)*int64(s.Hidden) + int64(s.Hidden)
}

// matmulParams are the weights one token's forward pass multiplies by (all but the embedding).
func (s Shape) matmulParams() int64 {
	hd := s.Hidden / s.Heads
	layer := int64(s.Hidden)*int64(s.Heads*hd)*2 + int64(s.Hidden)*int64(s.KVHeads*hd)*2 + 3*int64(s.Hidden)*int64(s.Inter)
	return int64(s.Layers)*layer + int64(s.Vocab)*int64(s.Hidden)
}

// LlamaResult is one benchmark line (the `rpiq bench --json` result format).
type LlamaResult struct {
	Name    string  `json:"name"`
	Kernel  string  `json:"kernel"`
	Threads int     `json:"threads"`
	Ms      float64 `json:"ms"` // per token (decode) or per pass (prompt)
	// CPUMs is the process CPU time per token or pass divided by the threads: the wall time the
	// work would take with the CPUs to itself (the machine may be shared; 0 when unknown).
	CPUMs  float64            `json:"cpu_ms,omitempty"`
	GBs    float64            `json:"gb_s,omitempty"`    // weight bytes streamed per second
	GFLOPs float64            `json:"gflop_s,omitempty"` // 2·params·tokens per second / 1e9
	TokS   float64            `json:"tokens_s,omitempty"`
	Limits map[string]float64 `json:"limits,omitempty"`
	Ratios map[string]float64 `json:"ratios,omitempty"` // measured / limit
	Note   string             `json:"note,omitempty"`
}

func (r LlamaResult) String() string {
	s := fmt.Sprintf("%-28s %-5s threads=%d %9.2f ms  %7.1f tok/s", r.Name, r.Kernel, r.Threads, r.Ms, r.TokS)
	if r.GBs > 0 {
		s += fmt.Sprintf("  %6.1f GB/s", r.GBs)
	}
	if r.GFLOPs > 0 {
		s += fmt.Sprintf("  %6.1f GFLOP/s", r.GFLOPs)
	}
	if r.CPUMs > 0 {
		s += fmt.Sprintf("  (cpu %.2f ms)", r.CPUMs)
	}
	for _, k := range []string{"of_read_bandwidth", "of_read_bandwidth_cpu", "of_peak", "of_peak_cpu"} {
		if v, ok := r.Ratios[k]; ok {
			s += fmt.Sprintf("  %s=%.2f", k, v)
		}
	}
	return s
}

// LlamaOptions selects what Bench runs.
type LlamaOptions struct {
	Shape        Shape    // default Shape1B
	DTypes       []string // "F32", "BF16" (default both)
	Threads      int      // default cpu.DefaultThreads()
	DecodeSteps  int      // timed decode steps (default 16)
	PromptTokens int      // prompt processing batch (default 512; 0 = default, <0 = skip)
	BandwidthMiB int      // read-bandwidth buffer (default 1024)
	Filter       func(name string) bool
	PeakGFLOPs   float64 // default cpu.PeakGFLOPs(threads)
}

// Bench measures, for a random model of the given shape built in memory: read bandwidth (the
// ceiling), decode ms/token with effective weight GB/s, and prompt-processing GFLOP/s.
func Llama(o LlamaOptions) ([]LlamaResult, error) {
	if o.Shape.Hidden == 0 {
		o.Shape = Shape1B
	}
	if len(o.DTypes) == 0 {
		o.DTypes = []string{"F32", "BF16"}
	}
	if o.Threads <= 0 {
		o.Threads = cpu.DefaultThreads()
	}
	if o.DecodeSteps <= 0 {
		o.DecodeSteps = 16
	}
	if o.PromptTokens == 0 {
		o.PromptTokens = 512
	}
	if o.BandwidthMiB <= 0 {
		o.BandwidthMiB = 1024
	}
	if o.PeakGFLOPs <= 0 {
		o.PeakGFLOPs = cpu.PeakGFLOPs(o.Threads)
	}
	want := func(n string) bool { return o.Filter == nil || o.Filter(n) }
	pool := cpu.NewPool(o.Threads)
	defer pool.Close()
	var out []LlamaResult

	bwName := fmt.Sprintf("read_bandwidth_%dMiB", o.BandwidthMiB)
	buf := make([]uint64, o.BandwidthMiB<<17)
	pool.Run(len(buf), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			buf[i] = uint64(i)
		}
	})
	var bw, bwCPU float64 // best by wall time, and by CPU time per thread
	for range 5 {
		c0 := processCPU()
		bw = max(bw, cpu.ReadBandwidth(pool, buf, 1))
		if c := (processCPU() - c0) / float64(o.Threads); c > 0 {
			bwCPU = max(bwCPU, float64(8*len(buf))/c)
		}
	}
	buf = nil
	if want(bwName) {
		r := LlamaResult{Name: bwName, Kernel: "go", Threads: o.Threads, Ms: float64(o.BandwidthMiB<<20) / bw * 1e3, GBs: bw / 1e9}
		if bwCPU > 0 {
			r.CPUMs = float64(o.BandwidthMiB<<20) / bwCPU * 1e3
			r.Note = fmt.Sprintf("%.1f GB/s by CPU time", bwCPU/1e9)
		}
		out = append(out, r)
	}
	for _, dt := range o.DTypes {
		dname := fmt.Sprintf("decode_%s_%s", o.Shape.Name, strings.ToLower(dt))
		pname := fmt.Sprintf("prompt%d_%s_%s", o.PromptTokens, o.Shape.Name, strings.ToLower(dt))
		if !want(dname) && !(o.PromptTokens > 0 && want(pname)) {
			continue
		}
		m, err := randomModel(o.Shape, dt, o.Threads, pool)
		if err != nil {
			return out, err
		}
		size := int64(4)
		if dt != "F32" {
			size = 2
		}
		streamed := float64(o.Shape.matmulParams() * size)
		if want(dname) {
			c := m.NewCache(o.DecodeSteps + 2)
			if _, err := m.Forward(c, []int32{1}, false); err != nil { // warm-up
				return out, err
			}
			best, bestCPU := math.Inf(1), math.Inf(1)
			for i := 0; i < o.DecodeSteps; i++ {
				t, c0 := time.Now(), processCPU()
				if _, err := m.Forward(c, []int32{int32(i + 2)}, false); err != nil {
					return out, err
				}
				best = math.Min(best, time.Since(t).Seconds())
				if cs := (processCPU() - c0) / float64(o.Threads); cs > 0 {
					bestCPU = math.Min(bestCPU, cs)
				}
			}
			gbs := streamed / best / 1e9
			r := LlamaResult{
				Name: dname, Kernel: strings.ToLower(dt), Threads: o.Threads, Ms: best * 1e3, TokS: 1 / best, GBs: gbs,
				Limits: map[string]float64{"read_bandwidth_gb_s": bw / 1e9},
				Ratios: map[string]float64{"of_read_bandwidth": gbs / (bw / 1e9)},
				Note:   fmt.Sprintf("%.2fe9 params, %.2f GB multiplied per token; best of %d steps", float64(o.Shape.Params())/1e9, streamed/1e9, o.DecodeSteps),
			}
			if !math.IsInf(bestCPU, 1) && bwCPU > 0 {
				r.CPUMs = bestCPU * 1e3
				r.Limits["read_bandwidth_cpu_gb_s"] = bwCPU / 1e9
				r.Ratios["of_read_bandwidth_cpu"] = streamed / bestCPU / bwCPU
				r.Note += fmt.Sprintf("; by CPU time %.1f GB/s", streamed/bestCPU/1e9)
			}
			out = append(out, r)
		}
		if o.PromptTokens > 0 && want(pname) {
			n := o.PromptTokens
			tokens := make([]int32, n)
			for i := range tokens {
				tokens[i] = int32((i*7919 + 3) % o.Shape.Vocab)
			}
			c := m.NewCache(n)
			t, c0 := time.Now(), processCPU()
			if _, err := m.Forward(c, tokens, false); err != nil {
				return out, err
			}
			sec := time.Since(t).Seconds()
			cpuSec := (processCPU() - c0) / float64(o.Threads)
			// Matrix products only: every layer's linears for n rows, the head for the last row.
			flops := 2 * (float64(o.Shape.matmulParams()-int64(o.Shape.Vocab*o.Shape.Hidden))*float64(n) + float64(o.Shape.Vocab*o.Shape.Hidden))
			g := flops / sec / 1e9
			r := LlamaResult{
				Name: pname, Kernel: strings.ToLower(dt), Threads: o.Threads, Ms: sec * 1e3, TokS: float64(n) / sec, GFLOPs: g,
				Limits: map[string]float64{"peak_gflop_s": o.PeakGFLOPs},
				Ratios: map[string]float64{"of_peak": g / o.PeakGFLOPs},
				Note:   fmt.Sprintf("one batched forward of %d tokens; peak = cpu.PeakGFLOPs (the widest FMA, measured)", n),
			}
			if cpuSec > 0 {
				r.CPUMs = cpuSec * 1e3
				r.Ratios["of_peak_cpu"] = flops / cpuSec / 1e9 / o.PeakGFLOPs
				r.Note += fmt.Sprintf("; by CPU time %.1f GFLOP/s", flops/cpuSec/1e9)
			}
			out = append(out, r)
		}
		m = nil
		runtime.GC()
	}
	return out, nil
}

// randomModel builds a LLaMA model of the given shape with random weights in memory.
func randomModel(s Shape, dt string, threads int, pool *cpu.Pool) (*llama.Model, error) {
	hd := s.Hidden / s.Heads
	cfg := &hf.Config{
		Architecture: llama.ArchLlama, HiddenSize: s.Hidden, IntermediateSize: s.Inter, NumLayers: s.Layers,
		NumHeads: s.Heads, NumKVHeads: s.KVHeads, HeadDim: hd, VocabSize: s.Vocab, MaxPositions: 2048,
		RMSNormEps: 1e-5, RopeTheta: 10000, HiddenAct: "silu", BOSTokenID: 1, EOSTokenIDs: []int{2},
	}
	sdt := safetensors.F32
	if dt == "BF16" {
		sdt = safetensors.BF16
	} else if dt != "F32" {
		return nil, fmt.Errorf("llama: benchmark dtype %q (want F32 or BF16)", dt)
	}
	mem := hfmodel.MemTensors{}
	seed := uint64(1)
	add := func(name string, norm bool, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		if norm {
			b := make([]byte, 4*n)
			f := cpu.Float32s(b)
			for i := range f {
				f[i] = 1
			}
			mem[name] = safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: shape, Data: b}
			return
		}
		seed++
		b := make([]byte, n*map[safetensors.DType]int{safetensors.F32: 4, safetensors.BF16: 2}[sdt])
		fillRandom(pool, b, sdt, seed, 0.02)
		mem[name] = safetensors.Tensor{Name: name, DType: sdt, Shape: shape, Data: b}
	}
	add("model.embed_tokens.weight", false, s.Vocab, s.Hidden)
	for i := 0; i < s.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", true, s.Hidden)
		add(p+"post_attention_layernorm.weight", true, s.Hidden)
		add(p+"self_attn.q_proj.weight", false, s.Heads*hd, s.Hidden)
		add(p+"self_attn.k_proj.weight", false, s.KVHeads*hd, s.Hidden)
		add(p+"self_attn.v_proj.weight", false, s.KVHeads*hd, s.Hidden)
		add(p+"self_attn.o_proj.weight", false, s.Hidden, s.Heads*hd)
		add(p+"mlp.gate_proj.weight", false, s.Inter, s.Hidden)
		add(p+"mlp.up_proj.weight", false, s.Inter, s.Hidden)
		add(p+"mlp.down_proj.weight", false, s.Hidden, s.Inter)
	}
	add("model.norm.weight", true, s.Hidden)
	add("lm_head.weight", false, s.Vocab, s.Hidden)
	m, err := hfmodel.Build(cfg, mem, cpubackend.New(threads))
	if err != nil {
		return nil, err
	}
	return m.(*llama.Model), nil
}

// fillRandom writes uniform values in [-scale, scale) (xorshift; the speed of a matmul does not
// depend on the values), in parallel.
func fillRandom(p *cpu.Pool, b []byte, dt safetensors.DType, seed uint64, scale float32) {
	if dt == safetensors.F32 {
		f := cpu.Float32s(b)
		p.Run(len(f), 4096, func(lo, hi int) {
			x := seed*0x9e3779b97f4a7c15 + uint64(lo) | 1
			for i := lo; i < hi; i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				f[i] = (float32(x>>40)/(1<<24)*2 - 1) * scale
			}
		})
		return
	}
	h := cpu.Uint16s(b)
	p.Run(len(h), 4096, func(lo, hi int) {
		x := seed*0x9e3779b97f4a7c15 + uint64(lo) | 1
		for i := lo; i < hi; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			v := (float32(x>>40)/(1<<24)*2 - 1) * scale
			h[i] = uint16(math.Float32bits(v) >> 16)
		}
	})
}

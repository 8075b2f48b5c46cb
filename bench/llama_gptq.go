package bench

import (
	"fmt"
	"math"
	"runtime"
	rtmetrics "runtime/metrics"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/kernels/cpu/q"
	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/llama"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/nn"
)

// The shapes of issue 4's quantized decode benchmarks.
var (
	ShapeLlama32_1B = Shape{Name: "llama3.2-1b", Hidden: 2048, Inter: 8192, Layers: 16, Heads: 32, KVHeads: 8, Vocab: 128256}
	ShapeLlama3_8B  = Shape{Name: "llama3-8b", Hidden: 4096, Inter: 14336, Layers: 32, Heads: 32, KVHeads: 8, Vocab: 128256}
)

// LlamaGPTQ measures decode of a random GPTQ model of o.Shape (default Llama-3.2-1B's) whose
// linears, lm_head included, are bits-bit, group 128, symmetric (embeddings BF16), loaded
// through hfmodel like a checkpoint, so they run on kernels/cpu/q. Per token it reports ms,
// tokens/s and the packed bytes multiplied per second next to the measured read bandwidth
// (of_read_bandwidth: the goal is ≥ 0.6), and the Go heap after loading (weights + KV
// cache, what stays resident) against the packed weights plus the KV cache (of_packed: goal
// ≤ 1.1). o.PromptTokens > 0 also times one batched forward of that many tokens.
func LlamaGPTQ(o LlamaOptions, bits int) ([]LlamaResult, error) {
	if o.Shape.Hidden == 0 {
		o.Shape = ShapeLlama32_1B
	}
	if o.Threads <= 0 {
		o.Threads = cpu.DefaultThreads()
	}
	if o.DecodeSteps <= 0 {
		o.DecodeSteps = 16
	}
	if o.BandwidthMiB <= 0 {
		o.BandwidthMiB = 1024
	}
	if o.PeakGFLOPs <= 0 {
		o.PeakGFLOPs = cpu.PeakGFLOPs(o.Threads)
	}
	want := func(n string) bool { return o.Filter == nil || o.Filter(n) }
	dname := fmt.Sprintf("decode_%s_q%d_g128", o.Shape.Name, bits)
	pname := fmt.Sprintf("prompt%d_%s_q%d_g128", o.PromptTokens, o.Shape.Name, bits)
	if !want(dname) && !(o.PromptTokens > 0 && want(pname)) {
		return nil, nil
	}
	pool := cpu.NewPool(o.Threads)
	defer pool.Close()
	buf := make([]uint64, o.BandwidthMiB<<17)
	pool.Run(len(buf), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			buf[i] = uint64(i)
		}
	})
	// The bandwidth is measured again between the decode steps below and the best of all is
	// kept: on a shared or virtual machine the bandwidth a process gets changes from second to
	// second, and a figure taken only before the model is built may come from another state.
	bw := cpu.ReadBandwidth(pool, buf, 5) / 1e9

	mem, cfg, release := randomGPTQTensors(o.Shape, bits, pool)
	defer release() // after the model, the last user of the embedding, is done
	m, err := hfmodel.Build(cfg, mem, cpubackend.New(o.Threads))
	if err != nil {
		return nil, err
	}
	mem = nil
	packed := int64(0)
	lm := m.(*llama.Model)
	ws := []*nn.Linear{lm.LMHead()}
	for _, l := range lm.Linear { // every decoder linear
		ws = append(ws, l)
	}
	for _, l := range ws {
		g, ok := l.W.(*cpubackend.GPTQ)
		if !ok {
			return nil, fmt.Errorf("llama: benchmark linear is %T, not a quantized weight (RPIQ_GPTQ=dequant?)", l.W)
		}
		packed += int64(g.Bytes())
	}
	maxSeq := o.DecodeSteps + 2 + max(o.PromptTokens, 0)
	c := m.NewCache(maxSeq)
	runtime.GC()
	heap := heapBytes() - int64(8*len(buf)) // the bandwidth buffer is not the model
	kv := int64(2 * o.Shape.Layers * maxSeq * o.Shape.KVHeads * (o.Shape.Hidden / o.Shape.Heads) * 4)
	embed := int64(o.Shape.Vocab * o.Shape.Hidden * 2)
	var out []LlamaResult
	if want(dname) {
		if _, err := m.Forward(c, []int32{1}, false); err != nil { // warm-up
			return out, err
		}
		best := math.Inf(1)
		for i := 0; i < o.DecodeSteps; i++ {
			if i%decodeRound == 0 {
				bw = max(bw, cpu.ReadBandwidth(pool, buf, 1)/1e9)
			}
			t := time.Now()
			if _, err := m.Forward(c, []int32{int32(i + 2)}, false); err != nil {
				return out, err
			}
			best = math.Min(best, time.Since(t).Seconds())
		}
		gbs := float64(packed) / best / 1e9
		out = append(out, LlamaResult{
			Name: dname, Kernel: q.Active(), Threads: o.Threads, Ms: best * 1e3, TokS: 1 / best, GBs: gbs,
			Limits: map[string]float64{"read_bandwidth_gb_s": bw, "packed_gb": float64(packed) / 1e9,
				"heap_gb": float64(heap) / 1e9, "packed_plus_kv_gb": float64(packed+embed+kv) / 1e9,
				"bandwidth_tok_s": bw * 1e9 / float64(packed)},
			Ratios: map[string]float64{"of_read_bandwidth": gbs / bw, "of_packed": float64(heap) / float64(packed+embed+kv)},
			Note: fmt.Sprintf("%.2fe9 params; %.2f GB of packed linears per token; BF16 embedding %.2f GB; KV cache %d positions; best of %d steps, read bandwidth best of 5 before and one every %d steps",
				float64(o.Shape.Params())/1e9, float64(packed)/1e9, float64(embed)/1e9, maxSeq, o.DecodeSteps, decodeRound),
		})
	}
	buf = nil
	if o.PromptTokens > 0 && want(pname) {
		n := o.PromptTokens
		tokens := make([]int32, n)
		for i := range tokens {
			tokens[i] = int32((i*7919 + 3) % o.Shape.Vocab)
		}
		c := m.NewCache(n)
		t := time.Now()
		if _, err := m.Forward(c, tokens, false); err != nil {
			return out, err
		}
		sec := time.Since(t).Seconds()
		flops := 2 * (float64(o.Shape.matmulParams()-int64(o.Shape.Vocab*o.Shape.Hidden))*float64(n) + float64(o.Shape.Vocab*o.Shape.Hidden))
		out = append(out, LlamaResult{
			Name: pname, Kernel: q.Active(), Threads: o.Threads, Ms: sec * 1e3, TokS: float64(n) / sec, GFLOPs: flops / sec / 1e9,
			Note: fmt.Sprintf("one batched forward of %d tokens (integer ops counted as flops)", n),
		})
	}
	return out, nil
}

func heapBytes() int64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// randomGPTQTensors is a GPTQ checkpoint of shape s in memory: random codes (xorshift words),
// symmetric v1 zeros, fp16 scales around 1/(8·sqrt(in)) so activations stay O(1) through the
// layers (speed does not depend on values).
func randomGPTQTensors(s Shape, bits int, pool *cpu.Pool) (hfmodel.MemTensors, *hf.Config, func()) {
	hd := s.Hidden / s.Heads
	cfg := &hf.Config{
		Architecture: llama.ArchLlama, HiddenSize: s.Hidden, IntermediateSize: s.Inter, NumLayers: s.Layers,
		NumHeads: s.Heads, NumKVHeads: s.KVHeads, HeadDim: hd, VocabSize: s.Vocab, MaxPositions: 8192,
		RMSNormEps: 1e-5, RopeTheta: 500000, HiddenAct: "silu", BOSTokenID: 1, EOSTokenIDs: []int{2},
		Quantization: &hf.QuantizationConfig{Method: "gptq", Bits: bits, GroupSize: 128, Sym: true, CheckpointFormat: "gptq", LMHead: true},
	}
	mem := hfmodel.MemTensors{}
	seed := uint64(7)
	ones := func(name string, n int) {
		b := make([]byte, 4*n)
		f := cpu.Float32s(b)
		for i := range f {
			f[i] = 1
		}
		mem[name] = safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: []int{n}, Data: b}
	}
	linear := func(prefix string, out, in int) {
		groups := (in + 127) / 128
		seed++
		qw := make([]byte, 4*(in*bits/32)*out)
		fillRandom(pool, qw, safetensors.F32, seed, 1) // any bits are valid codes
		zw := make([]byte, 4*groups*(out*bits/32))
		z := uint32(0x77777777) // 4-bit: stored zero−1 = 7 in every nibble
		if bits == 8 {
			z = 0x7f7f7f7f
		}
		for i := 0; i < len(zw); i += 4 {
			zw[i], zw[i+1], zw[i+2], zw[i+3] = byte(z), byte(z>>8), byte(z>>16), byte(z>>24)
		}
		sc := make([]byte, 2*groups*out)
		scale := float32(1 / (8 * math.Sqrt(float64(in))))
		if bits == 8 {
			scale /= 16
		}
		h := half.F32ToF16(scale)
		for i := 0; i < len(sc); i += 2 {
			sc[i], sc[i+1] = byte(h), byte(h>>8)
		}
		mem[prefix+".qweight"] = safetensors.Tensor{Name: prefix + ".qweight", DType: safetensors.I32, Shape: []int{in * bits / 32, out}, Data: qw}
		mem[prefix+".qzeros"] = safetensors.Tensor{Name: prefix + ".qzeros", DType: safetensors.I32, Shape: []int{groups, out * bits / 32}, Data: zw}
		mem[prefix+".scales"] = safetensors.Tensor{Name: prefix + ".scales", DType: safetensors.F16, Shape: []int{groups, out}, Data: sc}
	}
	emb, release := mapped(2 * s.Vocab * s.Hidden)
	fillRandom(pool, emb, safetensors.BF16, 1, 0.02)
	mem["model.embed_tokens.weight"] = safetensors.Tensor{Name: "model.embed_tokens.weight", DType: safetensors.BF16, Shape: []int{s.Vocab, s.Hidden}, Data: emb}
	for i := 0; i < s.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		ones(p+"input_layernorm.weight", s.Hidden)
		ones(p+"post_attention_layernorm.weight", s.Hidden)
		linear(p+"self_attn.q_proj", s.Heads*hd, s.Hidden)
		linear(p+"self_attn.k_proj", s.KVHeads*hd, s.Hidden)
		linear(p+"self_attn.v_proj", s.KVHeads*hd, s.Hidden)
		linear(p+"self_attn.o_proj", s.Hidden, s.Heads*hd)
		linear(p+"mlp.gate_proj", s.Inter, s.Hidden)
		linear(p+"mlp.up_proj", s.Inter, s.Hidden)
		linear(p+"mlp.down_proj", s.Hidden, s.Inter)
	}
	ones("model.norm.weight", s.Hidden)
	linear("lm_head", s.Vocab, s.Hidden)
	return mem, cfg, release
}

// decodeRound is how many decode steps run between two read-bandwidth measurements.
const decodeRound = 4

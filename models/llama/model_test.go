package llama

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/model"
)

// A tiny random checkpoint in the real HF layout, plus the float64 values the reference uses
// (after rounding to the stored dtype).
type ckpt struct {
	r       *rand.Rand
	dt      safetensors.DType
	tensors []safetensors.Tensor
	vals    map[string][]float64
}

func (c *ckpt) add(name string, scale float64, shape ...int) {
	n := 1
	for _, s := range shape {
		n *= s
	}
	v := make([]float64, n)
	var b []byte
	for i := range v {
		f := float32(c.r.NormFloat64() * scale)
		if len(shape) == 1 && scale < 0 { // norm weights: around 1
			f = float32(1 + 0.2*c.r.NormFloat64())
		}
		switch c.dt {
		case safetensors.BF16:
			h := half.F32ToBF16(f)
			b = binary.LittleEndian.AppendUint16(b, h)
			v[i] = float64(half.BF16ToF32(h))
		default:
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
			v[i] = float64(f)
		}
	}
	c.tensors = append(c.tensors, safetensors.Tensor{Name: name, DType: c.dt, Shape: shape, Data: b})
	c.vals[name] = v
}

type spec struct {
	arch                           string
	hidden, inter, layers, heads   int
	kvHeads, headDim, vocab        int
	tied, bias, qkNorm, llama3Rope bool
	theta                          float64
	dt                             safetensors.DType
}

func build(t *testing.T, s spec) (string, *ckpt, map[string]any) {
	dir := t.TempDir()
	c := &ckpt{r: rand.New(rand.NewPCG(uint64(len(s.arch)), 7)), dt: s.dt, vals: map[string][]float64{}}
	H, hd := s.hidden, s.headDim
	c.add("model.embed_tokens.weight", 1, s.vocab, H)
	for i := 0; i < s.layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		c.add(p+"input_layernorm.weight", -1, H)
		c.add(p+"post_attention_layernorm.weight", -1, H)
		for _, m := range []struct {
			n       string
			out, in int
		}{{"q_proj", s.heads * hd, H}, {"k_proj", s.kvHeads * hd, H}, {"v_proj", s.kvHeads * hd, H}} {
			c.add(p+"self_attn."+m.n+".weight", 0.3, m.out, m.in)
			if s.bias {
				c.add(p+"self_attn."+m.n+".bias", 0.3, m.out)
			}
		}
		c.add(p+"self_attn.o_proj.weight", 0.3, H, s.heads*hd)
		if s.qkNorm {
			c.add(p+"self_attn.q_norm.weight", -1, hd)
			c.add(p+"self_attn.k_norm.weight", -1, hd)
		}
		c.add(p+"mlp.gate_proj.weight", 0.3, s.inter, H)
		c.add(p+"mlp.up_proj.weight", 0.3, s.inter, H)
		c.add(p+"mlp.down_proj.weight", 0.3, H, s.inter)
	}
	c.add("model.norm.weight", -1, H)
	if !s.tied {
		c.add("lm_head.weight", 0.3, s.vocab, H)
	}
	cfg := map[string]any{
		"architectures": []string{s.arch}, "hidden_size": H, "intermediate_size": s.inter,
		"num_hidden_layers": s.layers, "num_attention_heads": s.heads, "num_key_value_heads": s.kvHeads,
		"head_dim": hd, "vocab_size": s.vocab, "rms_norm_eps": 1e-6, "rope_theta": s.theta,
		"tie_word_embeddings": s.tied, "max_position_embeddings": 64, "hidden_act": "silu",
	}
	if s.arch == ArchLlama {
		cfg["attention_bias"] = s.bias
	}
	if s.llama3Rope {
		cfg["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
	}
	if err := hf.WriteJSON(dir+"/config.json", cfg); err != nil {
		t.Fatal(err)
	}
	if err := hf.WriteCheckpoint(dir, c.tensors, nil, 0); err != nil {
		t.Fatal(err)
	}
	return dir, c, cfg
}

// reference is the HF forward pass in float64, written from modeling_llama.py / modeling_qwen3.py:
// all positions of tokens at once with a causal mask.
func reference(s spec, w map[string][]float64, tokens []int32) [][]float64 {
	H, hd, n := s.hidden, s.headDim, len(tokens)
	rms := func(x, g []float64) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+1e-6)
		out := make([]float64, len(x))
		for i := range x {
			out[i] = g[i] * (x[i] * inv)
		}
		return out
	}
	lin := func(x []float64, name string, out int) []float64 {
		W, b := w[name+".weight"], w[name+".bias"]
		in := len(x)
		y := make([]float64, out)
		for j := range y {
			for k := 0; k < in; k++ {
				y[j] += W[j*in+k] * x[k]
			}
			if b != nil {
				y[j] += b[j]
			}
		}
		return y
	}
	invFreq := make([]float64, hd/2)
	for i := range invFreq {
		f := 1 / math.Pow(s.theta, float64(2*i)/float64(hd))
		if s.llama3Rope {
			const factor, lowF, highF, old = 8.0, 1.0, 4.0, 16.0
			wl := 2 * math.Pi / f
			if wl > old/lowF {
				f = f / factor
			} else if wl >= old/highF {
				sm := (old/wl - lowF) / (highF - lowF)
				f = (1-sm)*f/factor + sm*f
			}
		}
		invFreq[i] = f
	}
	rope := func(x []float64, pos int) {
		for h := 0; h < len(x); h += hd {
			for i := 0; i < hd/2; i++ {
				c, sn := math.Cos(float64(pos)*invFreq[i]), math.Sin(float64(pos)*invFreq[i])
				a, b := x[h+i], x[h+i+hd/2]
				x[h+i] = a*c - b*sn
				x[h+i+hd/2] = b*c + a*sn
			}
		}
	}
	xs := make([][]float64, n)
	emb := w["model.embed_tokens.weight"]
	for i, t := range tokens {
		xs[i] = append([]float64(nil), emb[int(t)*H:int(t+1)*H]...)
	}
	for l := 0; l < s.layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for i := range xs {
			h := rms(xs[i], w[p+"input_layernorm.weight"])
			qs[i] = lin(h, p+"self_attn.q_proj", s.heads*hd)
			ks[i] = lin(h, p+"self_attn.k_proj", s.kvHeads*hd)
			vs[i] = lin(h, p+"self_attn.v_proj", s.kvHeads*hd)
			if s.qkNorm {
				for hh := 0; hh < s.heads; hh++ {
					copy(qs[i][hh*hd:], rms(qs[i][hh*hd:(hh+1)*hd], w[p+"self_attn.q_norm.weight"]))
				}
				for hh := 0; hh < s.kvHeads; hh++ {
					copy(ks[i][hh*hd:], rms(ks[i][hh*hd:(hh+1)*hd], w[p+"self_attn.k_norm.weight"]))
				}
			}
			rope(qs[i], i)
			rope(ks[i], i)
		}
		for i := range xs {
			att := make([]float64, s.heads*hd)
			for hh := 0; hh < s.heads; hh++ {
				g := hh / (s.heads / s.kvHeads) // repeat_kv
				sc := make([]float64, i+1)
				mx := math.Inf(-1)
				for j := 0; j <= i; j++ {
					for d := 0; d < hd; d++ {
						sc[j] += qs[i][hh*hd+d] * ks[j][g*hd+d]
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				var sum float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for d := 0; d < hd; d++ {
						att[hh*hd+d] += sc[j] / sum * vs[j][g*hd+d]
					}
				}
			}
			o := lin(att, p+"self_attn.o_proj", H)
			for k := range o {
				xs[i][k] += o[k]
			}
			h := rms(xs[i], w[p+"post_attention_layernorm.weight"])
			g, u := lin(h, p+"mlp.gate_proj", s.inter), lin(h, p+"mlp.up_proj", s.inter)
			for k := range g {
				g[k] = g[k] / (1 + math.Exp(-g[k])) * u[k]
			}
			d := lin(g, p+"mlp.down_proj", H)
			for k := range d {
				xs[i][k] += d[k]
			}
		}
	}
	head := "lm_head"
	if s.tied {
		w["tied.weight"] = w["model.embed_tokens.weight"]
		head = "tied"
	}
	out := make([][]float64, n)
	for i := range xs {
		out[i] = lin(rms(xs[i], w["model.norm.weight"]), head, s.vocab)
	}
	return out
}

func compareLogits(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	var maxRef, maxDiff float64
	for i := range want {
		maxRef = math.Max(maxRef, math.Abs(want[i]))
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i])-want[i]))
	}
	if len(got) != len(want) || !(maxDiff <= 1e-4*maxRef) {
		t.Fatalf("%s: max |diff| %.3g vs max |logit| %.3g (relative %.2g > 1e-4)", what, maxDiff, maxRef, maxDiff/maxRef)
	}
}

var specs = []spec{
	{arch: ArchLlama, hidden: 48, inter: 80, layers: 2, heads: 6, kvHeads: 2, headDim: 8, vocab: 67,
		tied: true, llama3Rope: true, theta: 500000, dt: safetensors.F32},
	{arch: ArchQwen2, hidden: 36, inter: 52, layers: 2, heads: 6, kvHeads: 3, headDim: 6, vocab: 53,
		bias: true, theta: 10000, dt: safetensors.BF16},
	{arch: ArchQwen3, hidden: 40, inter: 72, layers: 3, heads: 4, kvHeads: 2, headDim: 16, vocab: 71,
		qkNorm: true, theta: 1000000, dt: safetensors.F32},
}

func TestForwardMatchesFloat64Reference(t *testing.T) {
	for _, s := range specs {
		t.Run(s.arch, func(t *testing.T) {
			dir, c, _ := build(t, s)
			be := cpubackend.New(2)
			m, _, closeFn, err := hfmodel.Open(dir, be)
			if err != nil {
				t.Fatal(err)
			}
			defer closeFn()
			// 13 prompt tokens take the packed GEMM path (>= 12 rows), decode steps the GEMV path.
			tokens := []int32{5, 17, 3, 3, 42, 0, 11, 29, 8, 50, 1, 2, 44, 31, 7, 19}
			prompt := 13
			want := reference(s, c.vals, tokens)

			// Batched: every position of the whole sequence at once.
			all, err := model.Logits(m, tokens)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tokens {
				compareLogits(t, fmt.Sprintf("batched position %d", i), all[i*s.vocab:(i+1)*s.vocab], want[i])
			}
			// A prompt, then single-token decode steps through the KV cache.
			cache := m.NewCache(len(tokens))
			last, err := m.Forward(cache, tokens[:prompt], false)
			if err != nil {
				t.Fatal(err)
			}
			compareLogits(t, "prompt", last, want[prompt-1])
			for i := prompt; i < len(tokens); i++ {
				step, err := m.Forward(cache, tokens[i:i+1], false)
				if err != nil {
					t.Fatal(err)
				}
				compareLogits(t, fmt.Sprintf("decode position %d", i), step, want[i])
			}
			if cache.Len() != len(tokens) {
				t.Fatalf("cache length %d, want %d", cache.Len(), len(tokens))
			}
		})
	}
}

// The quantizer's path: Embed, RunLayer per layer, Head must equal the whole forward, the hook
// must see each linear's input, and SetLinear must change the output.
func TestLayeredAccess(t *testing.T) {
	s := specs[2]
	dir, _, _ := build(t, s)
	be := cpubackend.New(1)
	mm, _, closeFn, err := hfmodel.Open(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	m := mm.(model.Layered)
	tokens := []int32{1, 2, 3, 4, 5}
	n := len(tokens)
	full, _ := model.Logits(m, tokens)
	h, err := m.Embed(tokens)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := 0; i < m.NumLayers(); i++ {
		h, err = m.RunLayer(i, h, n, func(name string, x []float32, rows int) {
			seen[name] = len(x) / rows
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, _ := m.Head(h, n)
	for i := range full {
		if got[i] != full[i] {
			t.Fatalf("layer-by-layer logit %d = %g, whole forward %g", i, got[i], full[i])
		}
	}
	groups := m.Linears(1)
	var names []string
	for _, g := range groups {
		for _, l := range g {
			names = append(names, l.Name[len("model.layers.1."):])
		}
	}
	if fmt.Sprint(names) != "[self_attn.q_proj self_attn.k_proj self_attn.v_proj self_attn.o_proj mlp.gate_proj mlp.up_proj mlp.down_proj]" || len(groups) != 4 {
		t.Fatalf("Linears(1) = %v", groups)
	}
	if seen["model.layers.1.self_attn.q_proj"] != s.hidden || seen["model.layers.1.self_attn.o_proj"] != s.heads*s.headDim || seen["model.layers.1.mlp.down_proj"] != s.inter {
		t.Fatalf("hook saw inputs %v", seen)
	}
	name := "model.layers.0.mlp.down_proj"
	w, b, err := m.LinearF32(name)
	if err != nil || b != nil || len(w) != s.hidden*s.inter {
		t.Fatalf("LinearF32: %d values, bias %v, %v", len(w), b, err)
	}
	for i := range w {
		w[i] = 0
	}
	if err := m.SetLinear(name, be.NewWeightF32(s.hidden, s.inter, w), nil); err != nil {
		t.Fatal(err)
	}
	after, _ := model.Logits(m, tokens)
	same := true
	for i := range after {
		same = same && after[i] == full[i]
	}
	if same {
		t.Fatal("zeroing down_proj did not change the logits")
	}
	if err := m.SetLinear(name, be.NewWeightF32(2, 2, make([]float32, 4)), nil); err == nil {
		t.Fatal("SetLinear accepted a 2×2 weight")
	}
}

func TestMissingTensorIsNamed(t *testing.T) {
	s := specs[0]
	dir, c, _ := build(t, s)
	var keep []safetensors.Tensor
	for _, tt := range c.tensors {
		if tt.Name != "model.layers.1.mlp.up_proj.weight" {
			keep = append(keep, tt)
		}
	}
	if err := hf.WriteCheckpoint(dir, keep, nil, 0); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := hfmodel.Open(dir, cpubackend.New(1))
	if err == nil || !contains(err.Error(), "model.layers.1.mlp.up_proj.weight") {
		t.Fatalf("error %v does not name the missing tensor", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestUnsupportedConfigIsBadInput(t *testing.T) {
	for _, c := range []struct {
		field string
		value any
		want  string
	}{
		{"rope_scaling", map[string]any{"rope_type": "dynamic", "factor": 2.0}, "rope_scaling"},
		{"hidden_act", "gelu", "hidden_act"},
	} {
		dir, _, cfg := build(t, specs[0])
		cfg[c.field] = c.value
		if err := hf.WriteJSON(dir+"/config.json", cfg); err != nil {
			t.Fatal(err)
		}
		_, _, _, err := hfmodel.Open(dir, cpubackend.New(1))
		var bad interface{ BadInput() bool }
		if err == nil || !contains(err.Error(), c.want) || !errors.As(err, &bad) {
			t.Fatalf("%s=%v: error %v, want a bad-input error naming %s", c.field, c.value, err, c.want)
		}
	}
}

package opt

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/model"
)

type spec struct {
	name                              string
	hidden, ffn, layers, heads, vocab int
	proj, maxPos                      int
	preNorm, tied                     bool
	bare                              bool // names start at "decoder." (no "model."), as facebook/opt-350m is stored
}

// build writes a random OPT checkpoint in the HF layout and returns its float64 values.
func build(t *testing.T, s spec) (string, map[string][]float64) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(uint64(s.hidden), 3))
	vals := map[string][]float64{}
	var ts []safetensors.Tensor
	add := func(name string, norm bool, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float64, n)
		var b []byte
		for i := range v {
			f := float32(0.3 * r.NormFloat64())
			if norm {
				f = float32(1 + 0.2*r.NormFloat64())
			}
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
			v[i] = float64(f)
		}
		vals[name] = v // the reference reads the canonical names
		if s.bare {
			name = strings.TrimPrefix(name, "model.")
		}
		ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: shape, Data: b})
	}
	H, d := s.hidden, "model.decoder."
	add(d+"embed_tokens.weight", false, s.vocab, s.proj)
	add(d+"embed_positions.weight", false, s.maxPos+2, H)
	if s.proj != H {
		add(d+"project_in.weight", false, H, s.proj)
		add(d+"project_out.weight", false, s.proj, H)
	}
	for i := 0; i < s.layers; i++ {
		p := fmt.Sprintf("%slayers.%d.", d, i)
		for _, m := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			add(p+"self_attn."+m+".weight", false, H, H)
			add(p+"self_attn."+m+".bias", false, H)
		}
		add(p+"self_attn_layer_norm.weight", true, H)
		add(p+"self_attn_layer_norm.bias", false, H)
		add(p+"fc1.weight", false, s.ffn, H)
		add(p+"fc1.bias", false, s.ffn)
		add(p+"fc2.weight", false, H, s.ffn)
		add(p+"fc2.bias", false, H)
		add(p+"final_layer_norm.weight", true, H)
		add(p+"final_layer_norm.bias", false, H)
	}
	if s.preNorm {
		add(d+"final_layer_norm.weight", true, H)
		add(d+"final_layer_norm.bias", false, H)
	}
	if !s.tied {
		add("lm_head.weight", false, s.vocab, s.proj)
	}
	cfg := map[string]any{
		"architectures": []string{"OPTForCausalLM"}, "model_type": "opt", "hidden_size": H, "ffn_dim": s.ffn,
		"num_hidden_layers": s.layers, "num_attention_heads": s.heads, "vocab_size": s.vocab,
		"max_position_embeddings": s.maxPos, "word_embed_proj_dim": s.proj, "do_layer_norm_before": s.preNorm,
		"activation_function": "relu", "tie_word_embeddings": s.tied, "enable_bias": true,
	}
	if err := hf.WriteJSON(dir+"/config.json", cfg); err != nil {
		t.Fatal(err)
	}
	if err := hf.WriteCheckpoint(dir, ts, nil, 0); err != nil {
		t.Fatal(err)
	}
	return dir, vals
}

// reference is modeling_opt.py's forward in float64 over the whole sequence.
func reference(s spec, w map[string][]float64, tokens []int32) [][]float64 {
	H, n, hd := s.hidden, len(tokens), s.hidden/s.heads
	ln := func(x []float64, name string) []float64 {
		var mu, va float64
		for _, v := range x {
			mu += v
		}
		mu /= float64(len(x))
		for _, v := range x {
			va += (v - mu) * (v - mu)
		}
		va /= float64(len(x))
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = (v-mu)/math.Sqrt(va+1e-5)*w[name+".weight"][i] + w[name+".bias"][i]
		}
		return out
	}
	lin := func(x []float64, name string, out int) []float64 {
		W, b := w[name+".weight"], w[name+".bias"]
		y := make([]float64, out)
		for j := range y {
			for k := range x {
				y[j] += W[j*len(x)+k] * x[k]
			}
			if b != nil {
				y[j] += b[j]
			}
		}
		return y
	}
	d := "model.decoder."
	xs := make([][]float64, n)
	for i, t := range tokens {
		e := w[d+"embed_tokens.weight"][int(t)*s.proj : int(t+1)*s.proj]
		if s.proj != H {
			e = lin(e, d+"project_in", H)
		}
		x := make([]float64, H)
		for k := range x {
			x[k] = e[k] + w[d+"embed_positions.weight"][(i+2)*H+k] // OPTLearnedPositionalEmbedding offset 2
		}
		xs[i] = x
	}
	for l := 0; l < s.layers; l++ {
		p := fmt.Sprintf("%slayers.%d.", d, l)
		qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for i := range xs {
			h := xs[i]
			if s.preNorm {
				h = ln(h, p+"self_attn_layer_norm")
			}
			qs[i] = lin(h, p+"self_attn.q_proj", H)
			for k := range qs[i] {
				qs[i][k] *= 1 / math.Sqrt(float64(hd)) // q_proj(h) * scaling
			}
			ks[i], vs[i] = lin(h, p+"self_attn.k_proj", H), lin(h, p+"self_attn.v_proj", H)
		}
		for i := range xs {
			att := make([]float64, H)
			for hh := 0; hh < s.heads; hh++ {
				sc := make([]float64, i+1)
				var sum float64
				for j := 0; j <= i; j++ {
					for e := 0; e < hd; e++ {
						sc[j] += qs[i][hh*hd+e] * ks[j][hh*hd+e]
					}
				}
				mx := math.Inf(-1)
				for _, v := range sc {
					mx = math.Max(mx, v)
				}
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for e := 0; e < hd; e++ {
						att[hh*hd+e] += sc[j] / sum * vs[j][hh*hd+e]
					}
				}
			}
			o := lin(att, p+"self_attn.out_proj", H)
			for k := range o {
				xs[i][k] += o[k]
			}
			if !s.preNorm {
				xs[i] = ln(xs[i], p+"self_attn_layer_norm")
			}
			h := xs[i]
			if s.preNorm {
				h = ln(h, p+"final_layer_norm")
			}
			f := lin(h, p+"fc1", s.ffn)
			for k := range f {
				f[k] = math.Max(0, f[k])
			}
			f = lin(f, p+"fc2", H)
			for k := range f {
				xs[i][k] += f[k]
			}
			if !s.preNorm {
				xs[i] = ln(xs[i], p+"final_layer_norm")
			}
		}
	}
	head := "lm_head"
	if s.tied {
		w["tied.weight"] = w[d+"embed_tokens.weight"]
		head = "tied"
	}
	out := make([][]float64, n)
	for i := range xs {
		h := xs[i]
		if s.preNorm {
			h = ln(h, d+"final_layer_norm")
		}
		if s.proj != H {
			h = lin(h, d+"project_out", s.proj)
		}
		out[i] = lin(h, head, s.vocab)
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
	{name: "pre-norm tied", hidden: 32, ffn: 56, layers: 2, heads: 4, vocab: 61, proj: 32, maxPos: 24, preNorm: true, tied: true},
	{name: "post-norm project_in/out (opt-350m shape)", hidden: 40, ffn: 48, layers: 2, heads: 5, vocab: 47, proj: 24, maxPos: 16, preNorm: false, tied: false},
	// facebook/opt-350m as stored: decoder.* names, no lm_head (tied), post-norm, project_in/out
	{name: "opt-350m file layout", hidden: 40, ffn: 48, layers: 2, heads: 5, vocab: 47, proj: 24, maxPos: 16, preNorm: false, tied: true, bare: true},
	{name: "pre-norm, decoder. names", hidden: 32, ffn: 56, layers: 2, heads: 4, vocab: 61, proj: 32, maxPos: 24, preNorm: true, tied: true, bare: true},
}

func TestForwardMatchesFloat64Reference(t *testing.T) {
	for _, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			dir, vals := build(t, s)
			m, _, closeFn, err := hfmodel.Open(dir, cpubackend.New(2))
			if err != nil {
				t.Fatal(err)
			}
			defer closeFn()
			tokens := []int32{2, 9, 33, 4, 4, 17, 40, 1, 12, 5, 6, 30, 31, 8, 0, 3}
			want := reference(s, vals, tokens)
			all, err := model.Logits(m, tokens)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tokens {
				compareLogits(t, fmt.Sprintf("batched position %d", i), all[i*s.vocab:(i+1)*s.vocab], want[i])
			}
			c := m.NewCache(len(tokens))
			prompt := 12 // the packed GEMM path; decode steps take the GEMV path
			last, err := m.Forward(c, tokens[:prompt], false)
			if err != nil {
				t.Fatal(err)
			}
			compareLogits(t, "prompt", last, want[prompt-1])
			for i := prompt; i < len(tokens); i++ {
				step, err := m.Forward(c, tokens[i:i+1], false)
				if err != nil {
					t.Fatal(err)
				}
				compareLogits(t, fmt.Sprintf("decode position %d", i), step, want[i])
			}
		})
	}
}

func TestLayeredAccess(t *testing.T) {
	s := specs[1]
	dir, _ := build(t, s)
	mm, _, closeFn, err := hfmodel.Open(dir, cpubackend.New(1))
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	m := mm.(model.Layered)
	tokens := []int32{3, 1, 4, 1, 5, 9}
	full, _ := model.Logits(m, tokens)
	h, err := m.Embed(tokens)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < m.NumLayers(); i++ {
		if h, err = m.RunLayer(i, h, len(tokens), nil); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := m.Head(h, len(tokens))
	for i := range full {
		if got[i] != full[i] {
			t.Fatalf("layer-by-layer logit %d = %g, whole forward %g", i, got[i], full[i])
		}
	}
	var names []string
	for _, g := range m.Linears(0) {
		var grp []string
		for _, l := range g {
			grp = append(grp, l.Name)
		}
		names = append(names, fmt.Sprint(grp))
	}
	want := "[[model.decoder.layers.0.self_attn.q_proj model.decoder.layers.0.self_attn.k_proj model.decoder.layers.0.self_attn.v_proj] [model.decoder.layers.0.self_attn.out_proj] [model.decoder.layers.0.fc1] [model.decoder.layers.0.fc2]]"
	if fmt.Sprint(names) != want {
		t.Fatalf("Linears(0) = %v", names)
	}
	w, b, err := m.LinearF32("model.decoder.layers.1.fc1")
	if err != nil || len(w) != s.ffn*s.hidden || len(b) != s.ffn {
		t.Fatalf("LinearF32 fc1: %d, %d, %v", len(w), len(b), err)
	}
}

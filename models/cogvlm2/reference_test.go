package cogvlm2

// A float64 implementation of CogVLM2 written straight from reference/cogvlm2.md (§1.2-1.5), the
// outside reference the optimized model is checked against, and the tiny checkpoint with the real
// tensor names that the tests build.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// tinyConfig keeps the real vocabulary (so the hard-coded ids 128000-128009 stay valid) and
// shrinks everything else (§1.9): LM hidden 64, 2 layers, 4 heads, 2 KV heads; vision hidden 32,
// 4 heads, 2 layers, patch 14, image 56 (a 4×4 grid: 2×2 = 4 image tokens + boi/eoi).
func tinyConfig(mqHeads int) string {
	mq := ""
	if mqHeads > 0 {
		mq = fmt.Sprintf(`"num_multi_query_heads": %d,`, mqHeads)
	}
	return `{
  "architectures": ["CogVLMForCausalLM"],
  "vision_config": {"hidden_act": "gelu", "in_channels": 3, "num_hidden_layers": 2, "hidden_size": 32,
    "patch_size": 14, "num_heads": 4, "intermediate_size": 64, "layer_norm_eps": 1e-06,
    "num_positions": 17, "image_size": 56},
  "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, ` + mq + `
  "max_position_embeddings": 256, "rms_norm_eps": 1e-05, "template_version": "chat",
  "bos_token_id": 128000, "eos_token_id": [128001, 128009], "pad_token_id": 128002,
  "vocab_size": 128256, "num_hidden_layers": 2, "hidden_act": "silu", "torch_dtype": "float32"
}`
}

// writeTiny writes a tiny random CogVLM2 checkpoint (config.json, model.safetensors in F32)
// and returns its directory, config and weights.
func writeTiny(t testing.TB, mqHeads int, seed uint64) (string, *Config, map[string][]float32) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tinyConfig(mqHeads)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := map[string][]float32{}
	var ts []safetensors.Tensor
	for _, spec := range cfg.Tensors() {
		n := int(spec.Numel())
		v := make([]float32, n)
		fanIn := 1
		if len(spec.Shape) > 1 {
			fanIn = n / spec.Shape[0]
		}
		scale := 1 / math.Sqrt(float64(fanIn))
		for i := range v {
			v[i] = float32(r.NormFloat64() * scale)
		}
		switch {
		case hasSuffix(spec.Name, "layernorm.weight"), hasSuffix(spec.Name, "norm.weight"), hasSuffix(spec.Name, "norm1.weight"):
			for i := range v {
				v[i] = 1 + 0.1*float32(r.NormFloat64())
			}
		case hasSuffix(spec.Name, "rotary_emb.inv_freq"):
			hd := cfg.LM.HeadDim
			for i := range v {
				v[i] = float32(1 / math.Pow(500000, float64(2*i)/float64(hd)))
			}
		}
		w[spec.Name] = v
		ts = append(ts, safetensors.Tensor{Name: spec.Name, DType: "F32", Shape: spec.Shape, Data: f32Bytes(v)})
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return dir, cfg, w
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		u := math.Float32bits(f)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

// --- the float64 reference ---

type mat [][]float64 // rows × cols

func newMat(r, c int) mat {
	m := make(mat, r)
	for i := range m {
		m[i] = make([]float64, c)
	}
	return m
}

// linear is x·Wᵀ (+ b), W stored out×in row-major as in the checkpoint.
func linear(x mat, w []float32, b []float32, out int) mat {
	in := len(x[0])
	y := newMat(len(x), out)
	for i, row := range x {
		for o := 0; o < out; o++ {
			s := 0.0
			if b != nil {
				s = float64(b[o])
			}
			for k := 0; k < in; k++ {
				s += row[k] * float64(w[o*in+k])
			}
			y[i][o] = s
		}
	}
	return y
}

func layerNorm(x mat, w, b []float32, eps float64) mat {
	y := newMat(len(x), len(x[0]))
	for i, row := range x {
		mean, v := 0.0, 0.0
		for _, a := range row {
			mean += a
		}
		mean /= float64(len(row))
		for _, a := range row {
			v += (a - mean) * (a - mean)
		}
		v /= float64(len(row))
		for j, a := range row {
			y[i][j] = (a-mean)/math.Sqrt(v+eps)*float64(w[j]) + float64(b[j])
		}
	}
	return y
}

func rmsNorm(row []float64, w []float32, eps float64) []float64 {
	ss := 0.0
	for _, a := range row {
		ss += a * a
	}
	r := 1 / math.Sqrt(ss/float64(len(row))+eps)
	out := make([]float64, len(row))
	for j, a := range row {
		out[j] = a * r * float64(w[j])
	}
	return out
}

func gelu(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
func silu(x float64) float64 { return x / (1 + math.Exp(-x)) }

// attention of q over keys allowed(i, j), heads sharing kv head h/(heads/kvHeads).
func attention(q, k, v mat, heads, kvHeads, hd int, allowed func(i, j int) bool) mat {
	out := newMat(len(q), heads*hd)
	scale := 1 / math.Sqrt(float64(hd))
	for h := 0; h < heads; h++ {
		kh := h / (heads / kvHeads)
		for i := range q {
			var ws []float64
			var js []int
			mx := math.Inf(-1)
			for j := range k {
				if !allowed(i, j) {
					continue
				}
				s := 0.0
				for d := 0; d < hd; d++ {
					s += q[i][h*hd+d] * k[j][kh*hd+d]
				}
				s *= scale
				ws = append(ws, s)
				js = append(js, j)
				mx = math.Max(mx, s)
			}
			sum := 0.0
			for a := range ws {
				ws[a] = math.Exp(ws[a] - mx)
				sum += ws[a]
			}
			for a, j := range js {
				for d := 0; d < hd; d++ {
					out[i][h*hd+d] += ws[a] / sum * v[j][kh*hd+d]
				}
			}
		}
	}
	return out
}

// refVision encodes a CHW image into the (G/2)²+2 embeddings the LM receives (§1.2, §1.3).
func refVision(c *Config, w map[string][]float32, img []float32) mat {
	v := c.Vision
	G, P, Hv := v.Grid(), v.PatchSize, v.HiddenSize
	S := v.ImageSize
	// patch embedding: Conv2d(3, Hv, P, stride P) with bias, patches row-major, CLS first
	x := newMat(1+G*G, Hv)
	pw, pb := w["model.vision.patch_embedding.proj.weight"], w["model.vision.patch_embedding.proj.bias"]
	for gy := 0; gy < G; gy++ {
		for gx := 0; gx < G; gx++ {
			row := x[1+gy*G+gx]
			for o := 0; o < Hv; o++ {
				s := float64(pb[o])
				for ch := 0; ch < 3; ch++ {
					for ky := 0; ky < P; ky++ {
						for kx := 0; kx < P; kx++ {
							s += float64(pw[((o*3+ch)*P+ky)*P+kx]) * float64(img[ch*S*S+(gy*P+ky)*S+gx*P+kx])
						}
					}
				}
				row[o] = s
			}
		}
	}
	cls := w["model.vision.patch_embedding.cls_embedding"]
	pos := w["model.vision.patch_embedding.position_embedding.weight"]
	for i := range x {
		for j := 0; j < Hv; j++ {
			if i == 0 {
				x[0][j] = float64(cls[j])
			}
			x[i][j] += float64(pos[i*Hv+j])
		}
	}
	eps := v.LayerNormEps
	hd := Hv / v.NumHeads
	for l := 0; l < v.NumLayers; l++ {
		p := fmt.Sprintf("model.vision.transformer.layers.%d.", l)
		qkv := linear(x, w[p+"attention.query_key_value.weight"], w[p+"attention.query_key_value.bias"], 3*Hv)
		q, k, vv := newMat(len(x), Hv), newMat(len(x), Hv), newMat(len(x), Hv)
		for i := range qkv {
			copy(q[i], qkv[i][:Hv])
			copy(k[i], qkv[i][Hv:2*Hv])
			copy(vv[i], qkv[i][2*Hv:])
		}
		a := attention(q, k, vv, v.NumHeads, v.NumHeads, hd, func(i, j int) bool { return true })
		a = linear(a, w[p+"attention.dense.weight"], w[p+"attention.dense.bias"], Hv)
		a = layerNorm(a, w[p+"input_layernorm.weight"], w[p+"input_layernorm.bias"], eps)
		for i := range x {
			for j := range x[i] {
				x[i][j] += a[i][j]
			}
		}
		m := linear(x, w[p+"mlp.fc1.weight"], w[p+"mlp.fc1.bias"], v.IntermediateSize)
		for i := range m {
			for j := range m[i] {
				m[i][j] = gelu(m[i][j])
			}
		}
		m = linear(m, w[p+"mlp.fc2.weight"], w[p+"mlp.fc2.bias"], Hv)
		m = layerNorm(m, w[p+"post_attention_layernorm.weight"], w[p+"post_attention_layernorm.bias"], eps)
		for i := range x {
			for j := range x[i] {
				x[i][j] += m[i][j]
			}
		}
	}
	// drop CLS, 2×2 stride-2 conv over the G×G grid (NCHW, weight [Hv, Hv, 2, 2])
	g2 := G / 2
	cw, cb := w["model.vision.conv.weight"], w["model.vision.conv.bias"]
	y := newMat(g2*g2, Hv)
	for i := 0; i < g2; i++ {
		for j := 0; j < g2; j++ {
			for o := 0; o < Hv; o++ {
				s := float64(cb[o])
				for ch := 0; ch < Hv; ch++ {
					for dy := 0; dy < 2; dy++ {
						for dx := 0; dx < 2; dx++ {
							s += float64(cw[((o*Hv+ch)*2+dy)*2+dx]) * x[1+(2*i+dy)*G+2*j+dx][ch]
						}
					}
				}
				y[i*g2+j][o] = s
			}
		}
	}
	// GLU adapter
	H, I := c.LM.HiddenSize, c.LM.IntermediateSize
	z := linear(y, w["model.vision.linear_proj.linear_proj.weight"], nil, H)
	z = layerNorm(z, w["model.vision.linear_proj.norm1.weight"], w["model.vision.linear_proj.norm1.bias"], 1e-5)
	for i := range z {
		for j := range z[i] {
			z[i][j] = gelu(z[i][j])
		}
	}
	gt := linear(z, w["model.vision.linear_proj.gate_proj.weight"], nil, I)
	up := linear(z, w["model.vision.linear_proj.dense_h_to_4h.weight"], nil, I)
	for i := range gt {
		for j := range gt[i] {
			gt[i][j] = silu(gt[i][j]) * up[i][j]
		}
	}
	z = linear(gt, w["model.vision.linear_proj.dense_4h_to_h.weight"], nil, H)
	out := newMat(0, 0)
	boi, eoi := w["model.vision.boi"], w["model.vision.eoi"]
	out = append(out, f64(boi))
	out = append(out, z...)
	out = append(out, f64(eoi))
	return out
}

func f64(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, a := range v {
		o[i] = float64(a)
	}
	return o
}

// refPositions is build_position_ids (§1.5).
func refPositions(tt []int) []int {
	n := len(tt)
	tmp := append([]int(nil), tt...)
	mark := make([]bool, n)
	for i := 0; i < n; i++ {
		if tt[i] != VisionTokenType {
			continue
		}
		if i == 0 || tt[i-1] == LanguageTokenType || i == n-1 || tt[i+1] == LanguageTokenType {
			mark[i] = true
		}
	}
	for i := range mark {
		if mark[i] {
			tmp[i] = LanguageTokenType
		}
	}
	pos := make([]int, n)
	for i := 1; i < n; i++ {
		inc := 0
		if tmp[i] == LanguageTokenType || (tmp[i] == VisionTokenType && tmp[i-1] == LanguageTokenType) {
			inc = 1
		}
		pos[i] = pos[i-1] + inc
	}
	return pos
}

// refVisionMask is get_expert_mask: vision expert only where this and the next token are vision.
func refVisionMask(tt []int) []bool {
	m := make([]bool, len(tt))
	for i := 0; i+1 < len(tt); i++ {
		m[i] = tt[i] == VisionTokenType && tt[i+1] == VisionTokenType
	}
	return m
}

// refLM runs the visual-expert language model over embeddings x with token types tt and position
// ids pos, returning logits for every position.
func refLM(c *Config, w map[string][]float32, x mat, tt, pos []int) mat {
	H, I, V := c.LM.HiddenSize, c.LM.IntermediateSize, c.LM.VocabSize
	heads, kv, hd := c.LM.NumHeads, c.LM.NumKVHeads, c.LM.HeadDim
	Q := c.QKVSize()
	vm := refVisionMask(tt)
	eps := c.LM.RMSNormEps
	n := len(x)
	for l := 0; l < c.LM.NumLayers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		q, k, v := newMat(n, H), newMat(n, kv*hd), newMat(n, kv*hd)
		for i := 0; i < n; i++ {
			h := mat{rmsNorm(x[i], w[p+"input_layernorm.weight"], eps)}
			var qkv mat
			if vm[i] {
				qkv = linear(h, w[p+"self_attn.vision_expert_query_key_value.weight"], w[p+"self_attn.vision_expert_query_key_value.bias"], Q)
			} else {
				qkv = linear(h, w[p+"self_attn.language_expert_query_key_value.weight"], nil, Q)
			}
			copy(q[i], qkv[0][:H])
			copy(k[i], qkv[0][H:H+kv*hd])
			copy(v[i], qkv[0][H+kv*hd:])
			invFreq := w[p+"self_attn.rotary_emb.inv_freq"]
			ropeRow(q[i], heads, hd, pos[i], invFreq)
			ropeRow(k[i], kv, hd, pos[i], invFreq)
		}
		a := attention(q, k, v, heads, kv, hd, func(i, j int) bool { return j <= i })
		for i := 0; i < n; i++ {
			var o mat
			if vm[i] {
				o = linear(mat{a[i]}, w[p+"self_attn.vision_expert_dense.weight"], nil, H)
			} else {
				o = linear(mat{a[i]}, w[p+"self_attn.language_expert_dense.weight"], nil, H)
			}
			for j := range x[i] {
				x[i][j] += o[0][j]
			}
		}
		for i := 0; i < n; i++ {
			h := mat{rmsNorm(x[i], w[p+"post_attention_layernorm.weight"], eps)}
			e := "language_mlp"
			if vm[i] {
				e = "vision_mlp"
			}
			g := linear(h, w[p+"mlp."+e+".gate_proj.weight"], nil, I)
			u := linear(h, w[p+"mlp."+e+".up_proj.weight"], nil, I)
			for j := range g[0] {
				g[0][j] = silu(g[0][j]) * u[0][j]
			}
			d := linear(g, w[p+"mlp."+e+".down_proj.weight"], nil, H)
			for j := range x[i] {
				x[i][j] += d[0][j]
			}
		}
	}
	out := newMat(n, 0)
	for i := 0; i < n; i++ {
		h := mat{rmsNorm(x[i], w["model.norm.weight"], eps)}
		out[i] = linear(h, w["lm_head.weight"], nil, V)[0]
	}
	return out
}

// ropeRow rotates each head's first half against its second half (GPT-NeoX style) at position p.
func ropeRow(x []float64, heads, hd, p int, invFreq []float32) {
	half := hd / 2
	for h := 0; h < heads; h++ {
		for d := 0; d < half; d++ {
			ang := float64(p) * float64(invFreq[d])
			cs, sn := math.Cos(ang), math.Sin(ang)
			a, b := x[h*hd+d], x[h*hd+d+half]
			x[h*hd+d] = a*cs - b*sn
			x[h*hd+d+half] = b*cs + a*sn
		}
	}
}

// refForward runs image + text ids as the reference builds them (§1.6): [BOS, image..., text...].
func refForward(c *Config, w map[string][]float32, img []float32, text []int) mat {
	vis := refVision(c, w, img)
	ids := []int{c.LM.BOSTokenID}
	tt := []int{LanguageTokenType}
	for range vis {
		ids = append(ids, PadTokenID)
		tt = append(tt, VisionTokenType)
	}
	for _, id := range text {
		ids = append(ids, id)
		tt = append(tt, LanguageTokenType)
	}
	H := c.LM.HiddenSize
	emb := w["model.embed_tokens.weight"]
	x := newMat(len(ids), H)
	for i, id := range ids {
		if tt[i] == VisionTokenType {
			copy(x[i], vis[i-1])
			continue
		}
		for j := 0; j < H; j++ {
			x[i][j] = float64(emb[id*H+j])
		}
	}
	return refLM(c, w, x, tt, refPositions(tt))
}

// The reference's own details, as the notes state them.
func TestReferencePositionsAndMask(t *testing.T) {
	tt := []int{0, 1, 1, 1, 1, 1, 1, 0, 0, 0}
	pos := refPositions(tt)
	want := []int{0, 1, 2, 2, 2, 2, 3, 4, 5, 6}
	for i := range want {
		if pos[i] != want[i] {
			t.Fatalf("positions %v, want %v", pos, want)
		}
	}
	vm := refVisionMask(tt)
	// boi and patches go to the vision expert, eoi (index 6) to the language expert
	wantVM := []bool{false, true, true, true, true, true, false, false, false, false}
	for i := range wantVM {
		if vm[i] != wantVM[i] {
			t.Fatalf("mask %v, want %v", vm, wantVM)
		}
	}
}

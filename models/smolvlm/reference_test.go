package smolvlm

// A float64 implementation of Idefics3ForConditionalGeneration written from transformers'
// modeling_idefics3.py (Idefics3VisionEmbeddings, Idefics3EncoderLayer, post_layernorm,
// Idefics3Connector.pixel_shuffle as its view/permute/reshape steps, inputs_merger) and
// modeling_llama.py (LlamaDecoderLayer, rotate_half RoPE, repeat_kv, RMSNorm): the outside
// reference the optimized model is checked against, on a tiny random checkpoint in the real
// tensor layout.

import (
	"math"
	"testing"
)

type refModel struct {
	cfg *Config
	w   map[string][]float64
}

func newRef(t testing.TB, cfg *Config, seed uint64) *refModel {
	t.Helper()
	mt := RandomTensors(cfg, seed)
	r := &refModel{cfg: cfg, w: map[string][]float64{}}
	for name, ten := range mt {
		v, err := mt.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		_ = ten
		f := make([]float64, len(v))
		for i, x := range v {
			f[i] = float64(x)
		}
		r.w[name] = f
	}
	return r
}

// linear: y[n][o] = Σ_i x[n][i]·W[o][i] + b[o].
func linear(x [][]float64, w, b []float64, out int) [][]float64 {
	in := len(x[0])
	y := make([][]float64, len(x))
	for n := range x {
		y[n] = make([]float64, out)
		for o := 0; o < out; o++ {
			s := 0.0
			for i := 0; i < in; i++ {
				s += x[n][i] * w[o*in+i]
			}
			if b != nil {
				s += b[o]
			}
			y[n][o] = s
		}
	}
	return y
}

func layerNorm(x [][]float64, w, b []float64, eps float64) [][]float64 {
	y := make([][]float64, len(x))
	for n, row := range x {
		mean, v := 0.0, 0.0
		for _, a := range row {
			mean += a
		}
		mean /= float64(len(row))
		for _, a := range row {
			v += (a - mean) * (a - mean)
		}
		v /= float64(len(row))
		y[n] = make([]float64, len(row))
		for i, a := range row {
			y[n][i] = (a-mean)/math.Sqrt(v+eps)*w[i] + b[i]
		}
	}
	return y
}

func rmsNorm(x [][]float64, w []float64, eps float64) [][]float64 {
	y := make([][]float64, len(x))
	for n, row := range x {
		ss := 0.0
		for _, a := range row {
			ss += a * a
		}
		r := 1 / math.Sqrt(ss/float64(len(row))+eps)
		y[n] = make([]float64, len(row))
		for i, a := range row {
			y[n][i] = w[i] * (a * r)
		}
	}
	return y
}

// attention over heads; kv head of query head h is h / (heads/kvHeads); causal masks j > i.
func attention(q, k, v [][]float64, heads, kvHeads, hd int, causal bool) [][]float64 {
	n := len(q)
	out := make([][]float64, n)
	group := heads / kvHeads
	for i := 0; i < n; i++ {
		out[i] = make([]float64, heads*hd)
		for h := 0; h < heads; h++ {
			kh := h / group
			m := n
			if causal {
				m = i + 1
			}
			sc := make([]float64, m)
			mx := math.Inf(-1)
			for j := 0; j < m; j++ {
				s := 0.0
				for d := 0; d < hd; d++ {
					s += q[i][h*hd+d] * k[j][kh*hd+d]
				}
				sc[j] = s / math.Sqrt(float64(hd))
				mx = math.Max(mx, sc[j])
			}
			z := 0.0
			for j := range sc {
				sc[j] = math.Exp(sc[j] - mx)
				z += sc[j]
			}
			for j := range sc {
				for d := 0; d < hd; d++ {
					out[i][h*hd+d] += sc[j] / z * v[j][kh*hd+d]
				}
			}
		}
	}
	return out
}

func add(a, b [][]float64) {
	for i := range a {
		for j := range a[i] {
			a[i][j] += b[i][j]
		}
	}
}

// encode is Idefics3Model's vision path for one tile (CHW float64): conv patch embedding,
// position embeddings, pre-norm SigLIP layers, post_layernorm, pixel shuffle, projection.
func (r *refModel) encode(tile []float64) [][]float64 {
	v := r.cfg.Vision
	S, P, G, D := v.ImageSize, v.PatchSize, v.Grid(), v.HiddenSize
	e := visionPrefix + "embeddings."
	cw, cb, pos := r.w[e+"patch_embedding.weight"], r.w[e+"patch_embedding.bias"], r.w[e+"position_embedding.weight"]
	x := make([][]float64, G*G)
	for gy := 0; gy < G; gy++ {
		for gx := 0; gx < G; gx++ {
			row := make([]float64, D)
			for o := 0; o < D; o++ {
				s := cb[o]
				for c := 0; c < 3; c++ {
					for ky := 0; ky < P; ky++ {
						for kx := 0; kx < P; kx++ {
							s += cw[((o*3+c)*P+ky)*P+kx] * tile[c*S*S+(gy*P+ky)*S+gx*P+kx]
						}
					}
				}
				// patch_embeds.flatten(2).transpose(1, 2): token index gy·G+gx; position id the same
				row[o] = s + pos[(gy*G+gx)*D+o]
			}
			x[gy*G+gx] = row
		}
	}
	hd := D / v.NumHeads
	for i := 0; i < v.NumLayers; i++ {
		p := visionPrefix + "encoder.layers." + itoa(i) + "."
		h := layerNorm(x, r.w[p+"layer_norm1.weight"], r.w[p+"layer_norm1.bias"], v.LayerNormEps)
		q := linear(h, r.w[p+"self_attn.q_proj.weight"], r.w[p+"self_attn.q_proj.bias"], D)
		k := linear(h, r.w[p+"self_attn.k_proj.weight"], r.w[p+"self_attn.k_proj.bias"], D)
		vv := linear(h, r.w[p+"self_attn.v_proj.weight"], r.w[p+"self_attn.v_proj.bias"], D)
		a := attention(q, k, vv, v.NumHeads, v.NumHeads, hd, false)
		add(x, linear(a, r.w[p+"self_attn.out_proj.weight"], r.w[p+"self_attn.out_proj.bias"], D))
		h = layerNorm(x, r.w[p+"layer_norm2.weight"], r.w[p+"layer_norm2.bias"], v.LayerNormEps)
		f := linear(h, r.w[p+"mlp.fc1.weight"], r.w[p+"mlp.fc1.bias"], v.IntermediateSize)
		for _, row := range f {
			for j, a := range row {
				row[j] = 0.5 * a * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(a+0.044715*a*a*a)))
			}
		}
		add(x, linear(f, r.w[p+"mlp.fc2.weight"], r.w[p+"mlp.fc2.bias"], D))
	}
	x = layerNorm(x, r.w[visionPrefix+"post_layernorm.weight"], r.w[visionPrefix+"post_layernorm.bias"], v.LayerNormEps)
	sh := refPixelShuffle(x, r.cfg.ScaleFactor)
	return linear(sh, r.w[connectorWeight], nil, r.cfg.Text.HiddenSize)
}

// refPixelShuffle follows pixel_shuffle's tensor ops literally on a flat buffer: view
// (h, w, D) → view (h, w/s, D·s) → permute(1, 0, 2) → reshape (w/s, h/s, D·s²) →
// permute(1, 0, 2) → reshape (seq/s², D·s²).
func refPixelShuffle(x [][]float64, s int) [][]float64 {
	seq, D := len(x), len(x[0])
	hgt := int(math.Sqrt(float64(seq)))
	wid := hgt
	flat := make([]float64, 0, seq*D)
	for _, row := range x {
		flat = append(flat, row...)
	}
	// view (h, w/s, D·s): same buffer. permute(1, 0, 2) → A[c][r][k] = flat[r][c][k].
	A := make([]float64, len(flat))
	w2, k2 := wid/s, D*s
	for c := 0; c < w2; c++ {
		for r := 0; r < hgt; r++ {
			for k := 0; k < k2; k++ {
				A[(c*hgt+r)*k2+k] = flat[(r*w2+c)*k2+k]
			}
		}
	}
	// reshape (w/s, h/s, D·s²): same buffer A. permute(1, 0, 2) → B[i][c][m] = A[c][i][m].
	h2, k3 := hgt/s, D*s*s
	B := make([]float64, len(A))
	for i := 0; i < h2; i++ {
		for c := 0; c < w2; c++ {
			for m := 0; m < k3; m++ {
				B[(i*w2+c)*k3+m] = A[(c*h2+i)*k3+m]
			}
		}
	}
	out := make([][]float64, seq/(s*s))
	for i := range out {
		out[i] = B[i*k3 : (i+1)*k3]
	}
	return out
}

// logits runs the decoder on the whole sequence (embeddings with the image rows merged in at
// the image token ids) and returns every position's logits.
func (r *refModel) logits(ids []int32, image [][]float64) [][]float64 {
	t := r.cfg.Text
	H, hd := t.HiddenSize, t.HeadDim
	emb := r.w[textPrefix+"embed_tokens.weight"]
	x := make([][]float64, len(ids))
	j := 0
	for i, id := range ids {
		if int(id) == r.cfg.ImageTokenID {
			x[i] = append([]float64(nil), image[j]...)
			j++
			continue
		}
		x[i] = append([]float64(nil), emb[int(id)*H:(int(id)+1)*H]...)
	}
	rope := func(m [][]float64, heads int) {
		for p, row := range m {
			for h := 0; h < heads; h++ {
				v := row[h*hd : (h+1)*hd]
				rot := make([]float64, hd)
				for d := 0; d < hd; d++ {
					inv := 1 / math.Pow(t.RopeTheta, float64(2*(d%(hd/2)))/float64(hd))
					c, s := math.Cos(float64(p)*inv), math.Sin(float64(p)*inv)
					var other float64 // rotate_half: (-x2, x1)
					if d < hd/2 {
						other = -v[d+hd/2]
					} else {
						other = v[d-hd/2]
					}
					rot[d] = v[d]*c + other*s
				}
				copy(v, rot)
			}
		}
	}
	for i := 0; i < t.NumLayers; i++ {
		p := textPrefix + "layers." + itoa(i) + "."
		h := rmsNorm(x, r.w[p+"input_layernorm.weight"], t.RMSNormEps)
		q := linear(h, r.w[p+"self_attn.q_proj.weight"], nil, t.NumHeads*hd)
		k := linear(h, r.w[p+"self_attn.k_proj.weight"], nil, t.NumKVHeads*hd)
		v := linear(h, r.w[p+"self_attn.v_proj.weight"], nil, t.NumKVHeads*hd)
		rope(q, t.NumHeads)
		rope(k, t.NumKVHeads)
		a := attention(q, k, v, t.NumHeads, t.NumKVHeads, hd, true)
		add(x, linear(a, r.w[p+"self_attn.o_proj.weight"], nil, H))
		h = rmsNorm(x, r.w[p+"post_attention_layernorm.weight"], t.RMSNormEps)
		g := linear(h, r.w[p+"mlp.gate_proj.weight"], nil, t.IntermediateSize)
		u := linear(h, r.w[p+"mlp.up_proj.weight"], nil, t.IntermediateSize)
		for n := range g {
			for j := range g[n] {
				a := g[n][j]
				g[n][j] = a / (1 + math.Exp(-a)) * u[n][j]
			}
		}
		add(x, linear(g, r.w[p+"mlp.down_proj.weight"], nil, H))
	}
	x = rmsNorm(x, r.w[textPrefix+"norm.weight"], t.RMSNormEps)
	head := "lm_head.weight"
	if r.cfg.TieWordEmbeddings {
		head = textPrefix + "embed_tokens.weight"
	}
	return linear(x, r.w[head], nil, t.VocabSize)
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

package cogvlm2

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// rewrite writes w (edited) back as dir's model.safetensors.
func rewrite(t testing.TB, dir string, cfg *Config, w map[string][]float32) {
	t.Helper()
	var ts []safetensors.Tensor
	for _, spec := range cfg.Tensors() {
		v, ok := w[spec.Name]
		if !ok {
			continue
		}
		ts = append(ts, safetensors.Tensor{Name: spec.Name, DType: "F32", Shape: spec.Shape, Data: f32Bytes(v)})
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

func loadTiny(t testing.TB, dir string, threads int) *Model {
	t.Helper()
	m, closer, err := Load(dir, cpubackend.New(threads))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closer() })
	return m
}

func randImage(c *Config, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	S := c.Vision.ImageSize
	img := make([]float32, 3*S*S)
	for i := range img {
		img[i] = float32(r.NormFloat64())
	}
	return img
}

// question is a fixed "Question: ... Answer:" id list (real Llama-3 ids, no tokenizer needed).
var question = []int32{14924, 25, 3639, 374, 304, 4156, 315, 757, 30, 22559, 25}

// run does the optimized forward of [BOS, image, text] and returns all logits.
func run(t testing.TB, m *Model, img []float32, text []int32) ([]float32, []int) {
	t.Helper()
	emb, err := m.EncodeImage(img)
	if err != nil {
		t.Fatal(err)
	}
	ids, tt := BuildInput(int32(m.cfg.LM.BOSTokenID), m.cfg.Vision.ImageTokens(), text)
	s := m.NewSequence(len(ids) + 8)
	out, err := m.ForwardAll(s, Input{IDs: ids, Types: tt, Image: emb})
	if err != nil {
		t.Fatal(err)
	}
	return out, tt
}

// closeRel checks got against want row by row: |diff| ≤ tol·max(1, max|row|).
func closeRel(t *testing.T, what string, got []float32, want [][]float64, tol float64) {
	t.Helper()
	V := len(want[0])
	if len(got) != len(want)*V {
		t.Fatalf("%s: %d values, want %d×%d", what, len(got), len(want), V)
	}
	worst := 0.0
	for i, row := range want {
		scale := 1.0
		for _, v := range row {
			scale = math.Max(scale, math.Abs(v))
		}
		for j, v := range row {
			d := math.Abs(float64(got[i*V+j])-v) / scale
			worst = math.Max(worst, d)
			if !(d <= tol) {
				t.Fatalf("%s: row %d col %d = %g, want %g (relative %.3g > %g)", what, i, j, got[i*V+j], v, d, tol)
			}
		}
	}
	t.Logf("%s: worst relative difference %.3g", what, worst)
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// The whole model (image + question, every position's logits) against the float64 reference.
func TestForwardMatchesReference(t *testing.T) {
	dir, cfg, w := writeTiny(t, 2, 1)
	img := randImage(cfg, 2)
	want := refForward(cfg, w, img, toInts(question))
	for _, threads := range []int{1, 2} {
		m := loadTiny(t, dir, threads)
		got, _ := run(t, m, img, question)
		closeRel(t, fmt.Sprintf("logits (%d threads)", threads), got, want, 1e-4)
	}
}

// Decoding token by token through the KV cache equals recomputing the whole sequence, and both
// equal the reference.
func TestDecodeThroughCacheEqualsRecompute(t *testing.T) {
	dir, cfg, w := writeTiny(t, 2, 3)
	m := loadTiny(t, dir, 2)
	img := randImage(cfg, 4)
	emb, err := m.EncodeImage(img)
	if err != nil {
		t.Fatal(err)
	}
	ids, tt := BuildInput(int32(cfg.LM.BOSTokenID), cfg.Vision.ImageTokens(), question)
	more := []int32{791, 2217, 374, 264}
	s := m.NewSequence(len(ids) + len(more))
	last, err := m.Forward(s, Input{IDs: ids, Types: tt, Image: emb})
	if err != nil {
		t.Fatal(err)
	}
	V := cfg.LM.VocabSize
	steps := [][]float32{last}
	for _, id := range more {
		l, err := m.Forward(s, Input{IDs: []int32{id}, Types: []int{LanguageTokenType}})
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, l)
	}
	// Positions continue from the previous maximum + 1.
	pos := s.Positions()
	n0 := len(ids)
	for i := range more {
		if pos[n0+i] != pos[n0-1]+int32(i+1) {
			t.Fatalf("decode position %d = %d, want %d", i, pos[n0+i], pos[n0-1]+int32(i+1))
		}
	}
	full, _ := run(t, m, img, append(append([]int32{}, question...), more...))
	ref := refForward(cfg, w, img, toInts(append(append([]int32{}, question...), more...)))
	for i, l := range steps {
		row := n0 - 1 + i
		if d := maxDiff(l, full[row*V:(row+1)*V]); d > 1e-4 {
			t.Fatalf("step %d: cached decode differs from recompute by %g", i, d)
		}
		closeRel(t, fmt.Sprintf("decode step %d vs reference", i), l, ref[row:row+1], 1e-4)
	}
}

// All image tokens share one RoPE position: shifting every position by a constant changes
// nothing (RoPE is relative), while numbering the image tokens 2, 3, 4, ... as ordinary tokens
// changes the answer, and the reference given those same positions agrees with it.
func TestSharedImagePosition(t *testing.T) {
	dir, cfg, w := writeTiny(t, 2, 5)
	m := loadTiny(t, dir, 2)
	img := randImage(cfg, 6)
	emb, _ := m.EncodeImage(img)
	ids, tt := BuildInput(int32(cfg.LM.BOSTokenID), cfg.Vision.ImageTokens(), question)
	pos := PositionIDs(tt)
	nImg := cfg.Vision.ImageTokens()
	// [BOS, boi, p1..p4, eoi, text]: boi 1, patches 2, eoi 3, text from 4.
	if pos[1] != 1 || pos[nImg] != 3 || pos[nImg+1] != 4 {
		t.Fatalf("positions %v", pos)
	}
	for i := 2; i < nImg; i++ {
		if pos[i] != 2 {
			t.Fatalf("patch %d at position %d, want 2: %v", i, pos[i], pos)
		}
	}
	forward := func(p []int32) []float32 {
		s := m.NewSequence(len(ids))
		out, err := m.forwardWith(s, Input{IDs: ids, Types: tt, Image: emb}, true, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	base := forward(pos)
	shifted := make([]int32, len(pos))
	seq := make([]int32, len(pos))
	for i := range pos {
		shifted[i] = pos[i] + 37
		seq[i] = int32(i)
	}
	if d := maxDiff(base, forward(shifted)); d > 1e-3 {
		t.Fatalf("shifting all positions by 37 changed logits by %g", d)
	}
	moved := forward(seq)
	if d := maxDiff(base, moved); d < 1e-3 {
		t.Fatalf("numbering image tokens sequentially changed logits by only %g: positions are not used", d)
	}
	x := refEmbed(cfg, w, img, toInts(question))
	seqInt := make([]int, len(seq))
	for i := range seq {
		seqInt[i] = i
	}
	closeRel(t, "sequential positions vs reference", moved, refLM(cfg, w, x, tt, seqInt), 1e-4)
}

// refEmbed is refForward's input embeddings.
func refEmbed(c *Config, w map[string][]float32, img []float32, text []int) mat {
	vis := refVision(c, w, img)
	H := c.LM.HiddenSize
	emb := w["model.embed_tokens.weight"]
	x := newMat(0, 0)
	x = append(x, f64(emb[c.LM.BOSTokenID*H:(c.LM.BOSTokenID+1)*H]))
	x = append(x, vis...)
	for _, id := range text {
		x = append(x, f64(emb[int(id)*H:(int(id)+1)*H]))
	}
	return x
}

// The expert mask is asymmetric: boi and patches go to the vision expert, eoi to the language
// expert; routing eoi to the vision expert instead gives different logits.
func TestExpertMaskAsymmetric(t *testing.T) {
	for _, tt := range [][]int{
		{0, 1, 1, 1, 1, 1, 1, 0, 0},
		{0, 1, 1, 0},
		{1, 1, 0},
		{0, 0, 1, 1, 1},
	} {
		got, want := VisionExpert(tt), refVisionMask(tt)
		gp, wp := PositionIDs(tt), refPositions(tt)
		for i := range tt {
			if got[i] != want[i] || int(gp[i]) != wp[i] {
				t.Fatalf("types %v: mask %v positions %v, reference %v %v", tt, got, gp, want, wp)
			}
		}
	}
	dir, cfg, _ := writeTiny(t, 2, 7)
	m := loadTiny(t, dir, 2)
	emb, _ := m.EncodeImage(randImage(cfg, 8))
	ids, tt := BuildInput(int32(cfg.LM.BOSTokenID), cfg.Vision.ImageTokens(), question)
	mask := VisionExpert(tt)
	eoi := cfg.Vision.ImageTokens()
	if !mask[1] || !mask[eoi-1] || mask[eoi] || mask[0] {
		t.Fatalf("mask %v: boi and patches vision, eoi (%d) language", mask, eoi)
	}
	forward := func(mk []bool) []float32 {
		s := m.NewSequence(len(ids))
		out, err := m.forwardWith(s, Input{IDs: ids, Types: tt, Image: emb}, false, nil, mk)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	wrong := append([]bool(nil), mask...)
	wrong[eoi] = true
	if d := maxDiff(forward(mask), forward(wrong)); d < 1e-3 {
		t.Fatalf("routing eoi to the vision expert changed the logits by only %g", d)
	}
}

// EVA2-CLIP layers are post-norm: input_layernorm is applied to the attention output, so with
// its weight and bias zero the attention branch vanishes and its dense weights stop mattering
// (with a pre-norm layer they would still matter).
func TestVisionPostNorm(t *testing.T) {
	dir, cfg, w := writeTiny(t, 2, 9)
	p := "model.vision.transformer.layers.0."
	for _, n := range []string{"input_layernorm.weight", "input_layernorm.bias"} {
		clear(w[p+n])
	}
	rewrite(t, dir, cfg, w)
	img := randImage(cfg, 10)
	m := loadTiny(t, dir, 1)
	a, _ := m.EncodeImage(img)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range w[p+"attention.dense.weight"] {
		w[p+"attention.dense.weight"][i] = float32(r.NormFloat64())
	}
	rewrite(t, dir, cfg, w)
	m2 := loadTiny(t, dir, 1)
	b, _ := m2.EncodeImage(img)
	ga, gb := download(m, a), download(m2, b)
	if d := maxDiff(ga, gb); d != 0 {
		t.Fatalf("with input_layernorm zeroed the attention dense weights changed the output by %g", d)
	}
	// And the tower matches the reference in that state too.
	want := refVision(cfg, w, img)
	closeRel(t, "vision tower", gb, want, 1e-4)
}

func download(m *Model, x interface{ Rows() int }) []float32 {
	t := x.(*cpubackend.Tensor)
	return append([]float32(nil), t.Data...)
}

// The image placeholders are the hard-coded pad id 128002, and their embedding-table row is
// never used: the image embeddings replace it.
func TestPadID(t *testing.T) {
	ids, tt := BuildInput(128000, 6, []int32{1, 2})
	for i := 1; i <= 6; i++ {
		if ids[i] != 128002 || tt[i] != VisionTokenType {
			t.Fatalf("placeholder %d: id %d type %d", i, ids[i], tt[i])
		}
	}
	if ids[0] != 128000 || tt[7] != LanguageTokenType || len(ids) != 9 {
		t.Fatalf("layout %v %v", ids, tt)
	}
	dir, cfg, w := writeTiny(t, 2, 11)
	img := randImage(cfg, 12)
	m := loadTiny(t, dir, 1)
	a, _ := run(t, m, img, question)
	H := cfg.LM.HiddenSize
	r := rand.New(rand.NewPCG(3, 4))
	for j := 0; j < H; j++ {
		w["model.embed_tokens.weight"][PadTokenID*H+j] = float32(r.NormFloat64() * 10)
	}
	rewrite(t, dir, cfg, w)
	b, _ := run(t, loadTiny(t, dir, 1), img, question)
	if d := maxDiff(a, b); d != 0 {
		t.Fatalf("the pad row of embed_tokens changed the logits by %g", d)
	}
}

// A config.json without num_multi_query_heads has 8 KV heads (the Python default), and that
// model loads and runs (the tiny config gets 8 heads so 8 KV heads divide them).
func TestMissingMultiQueryHeadsMeansEight(t *testing.T) {
	dir := t.TempDir()
	conf := strings.Replace(tinyConfig(0), `"num_attention_heads": 4`, `"num_attention_heads": 8`, 1)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LM.NumKVHeads != 8 || cfg.LM.HeadDim != 8 || cfg.QKVSize() != 64+2*8*8 {
		t.Fatalf("kv heads %d head_dim %d qkv %d, want 8, 8, %d", cfg.LM.NumKVHeads, cfg.LM.HeadDim, cfg.QKVSize(), 64+2*8*8)
	}
	w := randomWeights(cfg, 13)
	rewrite(t, dir, cfg, w)
	img := randImage(cfg, 14)
	got, _ := run(t, loadTiny(t, dir, 2), img, question[:3])
	closeRel(t, "8 KV heads", got, refForward(cfg, w, img, toInts(question[:3])), 1e-4)
}

// A checkpoint missing one expert's tensor fails to load with an error naming that tensor.
func TestMissingExpertTensor(t *testing.T) {
	for _, name := range []string{
		"model.layers.1.self_attn.vision_expert_query_key_value.bias",
		"model.layers.0.mlp.vision_mlp.up_proj.weight",
		"model.layers.1.self_attn.language_expert_dense.weight",
		"model.vision.transformer.layers.1.mlp.fc2.bias",
		"model.vision.conv.weight",
	} {
		dir, cfg, w := writeTiny(t, 2, 15)
		delete(w, name)
		rewrite(t, dir, cfg, w)
		_, _, err := Load(dir, cpubackend.New(1))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("without %s: error %v", name, err)
		}
	}
	// A wrong shape is named too.
	dir, cfg, w := writeTiny(t, 2, 16)
	n := "model.layers.0.self_attn.language_expert_query_key_value.weight"
	w[n] = w[n][:len(w[n])-cfg.LM.HiddenSize]
	var ts []safetensors.Tensor
	for _, spec := range cfg.Tensors() {
		shape := spec.Shape
		if spec.Name == n {
			shape = []int{shape[0] - 1, shape[1]}
		}
		ts = append(ts, safetensors.Tensor{Name: spec.Name, DType: "F32", Shape: shape, Data: f32Bytes(w[spec.Name])})
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir, cpubackend.New(1)); err == nil || !strings.Contains(err.Error(), n) {
		t.Fatalf("misshapen %s: error %v", n, err)
	}
}

// Bad inputs to the forward pass are errors, not panics.
func TestForwardInputErrors(t *testing.T) {
	dir, cfg, _ := writeTiny(t, 2, 17)
	m := loadTiny(t, dir, 1)
	emb, _ := m.EncodeImage(randImage(cfg, 18))
	ids, tt := BuildInput(128000, cfg.Vision.ImageTokens(), question)
	for name, in := range map[string]Input{
		"no image":      {IDs: ids, Types: tt},
		"image no slot": {IDs: question, Types: make([]int, len(question)), Image: emb},
		"bad id":        {IDs: []int32{128256}, Types: []int{0}},
		"bad type":      {IDs: []int32{1}, Types: []int{2}},
		"lengths":       {IDs: []int32{1, 2}, Types: []int{0}},
		"two runs":      {IDs: []int32{1, 2, 3, 4, 5, 6, 7, 8}, Types: []int{0, 1, 1, 0, 1, 1, 1, 1}, Image: emb},
	} {
		if _, err := m.Forward(m.NewSequence(64), in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := m.Forward(m.NewSequence(3), Input{IDs: ids, Types: tt, Image: emb}); err == nil {
		t.Error("overfull cache: no error")
	}
	if _, err := m.EncodeImage(make([]float32, 10)); err == nil {
		t.Error("wrong image size: no error")
	}
}

// randomWeights draws weights for cfg like writeTiny does.
func randomWeights(cfg *Config, seed uint64) map[string][]float32 {
	r := rand.New(rand.NewPCG(seed, seed+1))
	w := map[string][]float32{}
	specs := cfg.Tensors()
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	for _, spec := range specs {
		n := int(spec.Numel())
		v := make([]float32, n)
		fanIn := 1
		if len(spec.Shape) > 1 {
			fanIn = n / spec.Shape[0]
		}
		for i := range v {
			v[i] = float32(r.NormFloat64() / math.Sqrt(float64(fanIn)))
		}
		if strings.HasSuffix(spec.Name, "inv_freq") {
			for i := range v {
				v[i] = float32(1 / math.Pow(500000, float64(2*i)/float64(cfg.LM.HeadDim)))
			}
		}
		w[spec.Name] = v
	}
	return w
}

func toInts(v []int32) []int {
	o := make([]int, len(v))
	for i, x := range v {
		o[i] = int(x)
	}
	return o
}

// The sharded layout (model.safetensors.index.json + shards, a layer split across shards as in
// the real checkpoint) loads through the same code and gives the same logits.
func TestShardedCheckpoint(t *testing.T) {
	dir, cfg, w := writeTiny(t, 2, 19)
	img := randImage(cfg, 20)
	want, _ := run(t, loadTiny(t, dir, 1), img, question)
	sh := t.TempDir()
	var ts []safetensors.Tensor
	for _, spec := range cfg.Tensors() {
		ts = append(ts, safetensors.Tensor{Name: spec.Name, DType: "F32", Shape: spec.Shape, Data: f32Bytes(w[spec.Name])})
	}
	if err := hf.WriteCheckpoint(sh, ts, map[string]string{"format": "pt"}, 1<<20); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	os.WriteFile(filepath.Join(sh, "config.json"), b, 0o644)
	if _, err := os.Stat(filepath.Join(sh, "model.safetensors.index.json")); err != nil {
		t.Fatalf("no index written: %v", err)
	}
	got, _ := run(t, loadTiny(t, sh, 1), img, question)
	if d := maxDiff(got, want); d != 0 {
		t.Fatalf("sharded checkpoint differs by %g", d)
	}
}

func TestPromptTemplates(t *testing.T) {
	for tv, want := range map[string]string{
		"chat": "Question: What is this? Answer:",
		"vqa":  "Question: What is this? Short answer:",
		"base": "What is this?",
	} {
		if got := PromptText(tv, "What is this?"); got != want {
			t.Errorf("%s: %q, want %q", tv, got, want)
		}
	}
}

// Without an image the model is a text model.Model (hfmodel.Open): cached decode equals the
// reference over language tokens only.
func TestTextModelThroughHFModel(t *testing.T) {
	dir, cfg, w := writeTiny(t, 2, 23)
	m, _, closer, err := hfmodel.Open(dir, cpubackend.New(1))
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	ids := append([]int32{128000}, question...)
	c := m.NewCache(len(ids))
	first, err := m.Forward(c, ids[:5], true)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := m.Forward(c, ids[5:], true)
	if err != nil {
		t.Fatal(err)
	}
	got := append(first, rest...)
	H := cfg.LM.HiddenSize
	emb := w["model.embed_tokens.weight"]
	x := newMat(0, 0)
	tt := make([]int, len(ids))
	pos := make([]int, len(ids))
	for i, id := range ids {
		x = append(x, f64(emb[int(id)*H:(int(id)+1)*H]))
		pos[i] = i
	}
	closeRel(t, "text-only logits", got, refLM(cfg, w, x, tt, pos), 1e-4)
	if info := m.Info(); info.Arch != "CogVLMForCausalLM" || len(info.EOS) != 2 {
		t.Fatalf("info %+v", info)
	}
}

// The real checkpoint is BF16: the same tiny model stored in BF16 (fused QKV split inside BF16
// data, 4-D convolution weights, BF16 inv_freq) matches the reference run on the BF16-rounded
// weights.
func TestBF16Checkpoint(t *testing.T) {
	dir, cfg, w := writeTiny(t, 2, 25)
	var ts []safetensors.Tensor
	for _, spec := range cfg.Tensors() {
		v := w[spec.Name]
		b := make([]byte, 2*len(v))
		for i, f := range v {
			h := half.F32ToBF16(f)
			v[i] = half.BF16ToF32(h) // the reference sees the rounded weights
			b[2*i], b[2*i+1] = byte(h), byte(h>>8)
		}
		ts = append(ts, safetensors.Tensor{Name: spec.Name, DType: "BF16", Shape: spec.Shape, Data: b})
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	m := loadTiny(t, dir, 2)
	if m.WeightBytes() != cfg.WeightBytes(Bits{LM: 16, Vision: 16, Adapter: 16, Head: 16}) {
		t.Fatalf("bound %d bytes, the BF16 table says %d", m.WeightBytes(), cfg.WeightBytes(Bits{LM: 16, Vision: 16, Adapter: 16, Head: 16}))
	}
	img := randImage(cfg, 26)
	got, _ := run(t, m, img, question)
	closeRel(t, "BF16 logits", got, refForward(cfg, w, img, toInts(question)), 1e-4)
}

// What `rpiq eval --image` scores, through the architecture-blind interface (hfmodel.Open,
// multimodal.Logits): every position of [BOS, image, text] equals the float64 reference.
func TestImageLogitsThroughInterface(t *testing.T) {
	dir, cfg, w := writeTiny(t, 2, 27)
	m, _, closer, err := hfmodel.Open(dir, cpubackend.New(2))
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	mm, ok := m.(multimodal.Model)
	if !ok {
		t.Fatalf("%T does not implement multimodal.Model", m)
	}
	img := randImage(cfg, 28)
	im := &multimodal.Image{Source: "random", Pixels: img, Tokens: cfg.Vision.ImageTokens()}
	got, first, err := multimodal.Logits(mm, nil, im, question)
	if err != nil {
		t.Fatal(err)
	}
	if first != 1+cfg.Vision.ImageTokens() || len(got) != (first+len(question))*cfg.LM.VocabSize {
		t.Fatalf("first text position %d, %d logits", first, len(got))
	}
	closeRel(t, "image+text logits", got, refForward(cfg, w, img, toInts(question)), 1e-4)
}

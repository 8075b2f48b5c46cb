package gguf

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/llama2c"
	_ "github.com/rpiq/rpiq/models/opt" // a registered architecture GGUF export does not take
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/models/tokenizer"
)

// stories converts the shared stories260K llama2.c checkpoint to an HF folder.
func stories(t *testing.T) (dir string, orig *llama2c.Checkpoint) {
	t.Helper()
	ckpt := shareddata.Path(t, "llama2c/stories260K.bin")
	tok := shareddata.Path(t, "llama2c/tok512.bin")
	dir = filepath.Join(t.TempDir(), "stories260K")
	if err := llama2c.Convert(ckpt, tok, dir); err != nil {
		t.Fatal(err)
	}
	orig, err := llama2c.Read(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	return dir, orig
}

// quantizedCopy writes a GPTQ checkpoint of src with every linear layer RTN-quantized by
// models/quant (fp16 scales, as rpiq quantize writes them).
// With shuffle, g_idx assigns the groups in reverse order (the shape act-order leaves).
func quantizedCopy(t *testing.T, src string, bits, groupSize int, sym, v2 bool, shuffle ...bool) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), fmt.Sprintf("q%d-g%d-sym%v", bits, groupSize, sym))
	ck, err := hf.OpenCheckpoint(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	var ts []safetensors.Tensor
	for _, name := range ck.Names() {
		info, _ := ck.Info(name)
		w, err := ck.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(name, "_proj.weight") {
			ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: info.Shape, Data: F32Bytes(w)})
			continue
		}
		m, n := info.Shape[0], info.Shape[1]
		w64 := make([]float64, len(w))
		for i, v := range w {
			w64[i] = float64(v)
		}
		cfg := quant.DefaultConfig()
		cfg.Grid = quant.Grid{Bits: bits, Sym: sym, ScaleFP16: true}
		cfg.GroupSize = groupSize
		q, err := quant.RTN(w64, m, n, cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := quant.Pack(q, v2)
		if err != nil {
			t.Fatal(err)
		}
		if len(shuffle) > 0 && shuffle[0] {
			for i := range p.GIdx {
				p.GIdx[i] = int32(p.Groups-1) - p.GIdx[i]
			}
		}
		ts = append(ts, p.Tensors(strings.TrimSuffix(name, ".weight"), nil)...)
	}
	os.MkdirAll(dst, 0o755)
	if err := hf.WriteCheckpoint(dst, ts, map[string]string{"format": "pt"}, 0); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(src, "config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	format := "gptq"
	if v2 {
		format = "gptq_v2"
	}
	cfg["quantization_config"] = map[string]any{"quant_method": "gptq", "bits": bits, "group_size": groupSize,
		"desc_act": false, "sym": sym, "checkpoint_format": format}
	if err := hf.WriteJSON(filepath.Join(dst, "config.json"), cfg); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, f), b, 0o644)
	}
	return dst
}

func exportAndRead(t *testing.T, dir string, opt ExportOptions) (*File, *ExportReport) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "model.gguf")
	rep, err := Export(dir, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(rep.Tensors) {
		t.Fatalf("%d tensors read, %d reported", len(f.Tensors), len(rep.Tensors))
	}
	return f, rep
}

// hfOrder dequantizes a GGUF tensor and undoes the q/k permutation, giving HF's [out][in].
func hfOrder(t *testing.T, tn *Tensor, cfg *hf.Config) []float32 {
	t.Helper()
	v, err := Dequantize(tn)
	if err != nil {
		t.Fatal(err)
	}
	heads := 0
	switch {
	case strings.HasSuffix(tn.Name, "attn_q.weight"):
		heads = cfg.NumHeads
	case strings.HasSuffix(tn.Name, "attn_k.weight"):
		heads = cfg.NumKVHeads
	}
	if heads == 0 {
		return v
	}
	b := UnpermuteRows(F32Bytes(v), int(tn.Dims[1]), heads)
	out := make([]float32, len(v))
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// The F32 export of stories260K: hyper-parameters, every tensor bit-exact against the HF
// checkpoint after undoing the permutation, and attn_q/attn_k bit-exact against the original
// llama2.c file — an outside reference, since llama2.c stores Meta's interleaved rotary layout,
// which is what convert_hf_to_gguf.py's permute produces.
func TestExportStoriesF32(t *testing.T) {
	dir, orig := stories(t)
	f, rep := exportAndRead(t, dir, ExportOptions{})
	cfg, _ := hf.LoadConfig(dir)
	want := map[string]any{
		"general.architecture": "llama", "general.file_type": FileTypeAllF32, "general.alignment": uint32(32),
		"llama.context_length": uint32(512), "llama.embedding_length": uint32(64), "llama.block_count": uint32(5),
		"llama.feed_forward_length": uint32(172), "llama.attention.head_count": uint32(8),
		"llama.attention.head_count_kv": uint32(4), "llama.rope.freq_base": float32(10000),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5), "llama.rope.dimension_count": uint32(8),
		"llama.vocab_size": uint32(512), "tokenizer.ggml.model": "llama",
		"tokenizer.ggml.bos_token_id": uint32(1), "tokenizer.ggml.eos_token_id": uint32(2),
	}
	for k, v := range want {
		if got := f.Get(k); got != v {
			t.Errorf("%s = %v (%T), want %v (%T)", k, got, got, v, v)
		}
	}
	if len(f.Tensors) != 1+5*9+1 || f.Tensor("output.weight") != nil {
		t.Fatalf("%d tensors (tied classifier: no output.weight)", len(f.Tensors))
	}
	ck, err := hf.OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	for _, r := range rep.Tensors {
		tn := f.Tensor(r.Name)
		if tn.Type != F32 || tn.Offset%32 != 0 {
			t.Fatalf("%s: %s at offset %d", r.Name, tn.Type, tn.Offset)
		}
		src, err := ck.Float32(r.Source)
		if err != nil {
			t.Fatal(err)
		}
		got := hfOrder(t, tn, cfg)
		for i := range src {
			if math.Float32bits(got[i]) != math.Float32bits(src[i]) {
				t.Fatalf("%s[%d] = %v, want %v (%s)", r.Name, i, got[i], src[i], r.Source)
			}
		}
	}
	d, kv := 64, 32
	for l := 0; l < 5; l++ {
		for _, c := range []struct {
			name string
			want []float32
		}{{"attn_q", orig.WQ[l*d*d : (l+1)*d*d]}, {"attn_k", orig.WK[l*kv*d : (l+1)*kv*d]}} {
			tn := f.Tensor(fmt.Sprintf("blk.%d.%s.weight", l, c.name))
			got, _ := Dequantize(tn)
			for i := range c.want {
				if got[i] != c.want[i] {
					t.Fatalf("%s[%d] = %v, llama2.c has %v", tn.Name, i, got[i], c.want[i])
				}
			}
		}
	}
	checkVocab(t, f, dir)
}

// The vocabulary matches our tokenizer piece for piece, marks the byte tokens, and its scores
// order the merged tokens as tok512.bin's own scores do.
func checkVocab(t *testing.T, f *File, dir string) {
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := f.Get("tokenizer.ggml.tokens").([]string)
	types, _ := f.Get("tokenizer.ggml.token_type").([]int32)
	scores, _ := f.Get("tokenizer.ggml.scores").([]float32)
	if len(tokens) != 512 || len(types) != 512 || len(scores) != 512 {
		t.Fatalf("%d tokens, %d types, %d scores", len(tokens), len(types), len(scores))
	}
	for id, s := range tokens {
		if s != tok.Piece(id) {
			t.Fatalf("token %d = %q, tokenizer says %q", id, s, tok.Piece(id))
		}
	}
	if types[0] != TokenUnknown || types[1] != TokenControl || types[2] != TokenControl || types[3] != TokenByte || types[258] != TokenByte || types[259] != TokenNormal {
		t.Fatalf("token types %v", types[:5])
	}
	bin, err := os.ReadFile(shareddata.Path(t, "llama2c/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	orig := make([]float32, 512)
	off := 4
	for i := range orig {
		orig[i] = math.Float32frombits(binary.LittleEndian.Uint32(bin[off:]))
		off += 8 + int(binary.LittleEndian.Uint32(bin[off+4:]))
	}
	checked := 0
	for a := 259; a < 512; a++ {
		for b := 259; b < 512; b++ {
			if len([]rune(tokens[a])) > 1 && len([]rune(tokens[b])) > 1 && orig[a] > orig[b] {
				checked++
				if scores[a] <= scores[b] {
					t.Fatalf("tok512 scores %q (%v) above %q (%v), GGUF scores %v <= %v", tokens[a], orig[a], tokens[b], orig[b], scores[a], scores[b])
				}
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d ordered pairs checked", checked)
	}
}

// A 4-bit group-32 symmetric GPTQ checkpoint: every module whose inputs fill blocks of 32 is
// Q4_0 and bit-exact against the GPTQ dequantization; ffn_down (172 inputs) falls back to F16
// with a warning naming it.
func TestExportGPTQSym(t *testing.T) {
	src, _ := stories(t)
	dir := quantizedCopy(t, src, 4, 32, true, false)
	f, rep := exportAndRead(t, dir, ExportOptions{})
	if f.Get("general.file_type") != FileTypeMostlyQ4_0 || f.Get("general.quantization_version") != uint32(2) {
		t.Fatalf("file_type %v", f.Get("general.file_type"))
	}
	compareQuantized(t, f, rep, dir, func(r reportM, got, want float32, i int) {
		if r.Type == Q4_0 && math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("%s[%d] = %v, GPTQ gives %v", r.Name, i, got, want)
		}
	})
	warned := 0
	for _, w := range rep.Warnings {
		if strings.Contains(w, "mlp.down_proj") && strings.Contains(w, "172 inputs") {
			warned++
		}
	}
	if warned != 5 || len(rep.Warnings) != 5 {
		t.Fatalf("warnings %q", rep.Warnings)
	}
}

// Asymmetric: Q4_1 with d = s, m = fp16(−s·z), within the fp16 rounding of m.
func TestExportGPTQAsym(t *testing.T) {
	src, _ := stories(t)
	dir := quantizedCopy(t, src, 4, 32, false, true)
	f, rep := exportAndRead(t, dir, ExportOptions{})
	if f.Get("general.file_type") != FileTypeMostlyQ4_1 {
		t.Fatalf("file_type %v", f.Get("general.file_type"))
	}
	worst := 0.0
	compareQuantized(t, f, rep, dir, func(r reportM, got, want float32, i int) {
		if r.Type != Q4_1 {
			return
		}
		e := math.Abs(float64(got) - float64(want))
		worst = math.Max(worst, e)
		// m = −s·z is at most 15·max|s| ≤ 15·max|w|/15·... : bound by half an fp16 ulp of m plus
		// float32 rounding of both sides.
		if bound := math.Abs(float64(want))*0x1p-22 + r.maxM*0x1p-11 + 1e-9; e > bound {
			t.Fatalf("%s[%d] = %v, GPTQ gives %v: error %g > %g", r.Name, i, got, want, e, bound)
		}
	})
	if worst == 0 {
		t.Fatal("Q4_1 was exact everywhere: the fp16 rounding of m was not exercised")
	}
	t.Logf("Q4_1 max |GGUF − GPTQ| = %g", worst)
}

// 8-bit and group-64 checkpoints are requantized to Q8_0 (or F16 where the inputs are not
// blocks of 32), each with a warning, and the reported error is the measured one.
func TestExportFallbacks(t *testing.T) {
	src, _ := stories(t)
	for _, c := range []struct {
		bits, gs int
		actOrder bool
		reason   string
	}{{8, 32, false, "8-bit"}, {4, 64, false, "want group size 32"}, {4, 32, true, "act-order"}} {
		dir := quantizedCopy(t, src, c.bits, c.gs, true, false, c.actOrder)
		f, rep := exportAndRead(t, dir, ExportOptions{})
		if len(rep.Warnings) != 5*7 || !strings.Contains(rep.Warnings[0], c.reason) || !strings.Contains(rep.Warnings[0], "q_proj") {
			t.Fatalf("bits %d gs %d: %d warnings: %q", c.bits, c.gs, len(rep.Warnings), rep.Warnings[0])
		}
		if f.Tensor("blk.0.attn_q.weight").Type != Q8_0 || f.Tensor("blk.0.ffn_down.weight").Type != F16 {
			t.Fatal("fallback types")
		}
		compareQuantized(t, f, rep, dir, func(r reportM, got, want float32, i int) {
			if !r.Lossy {
				t.Fatalf("%s not marked lossy", r.Name)
			}
			if e := math.Abs(float64(got) - float64(want)); e > r.MaxAbsErr {
				t.Fatalf("%s[%d]: error %g above the reported %g", r.Name, i, e, r.MaxAbsErr)
			}
		})
	}
}

// compareQuantized checks every linear tensor against quant.DequantizeLinear (the reference
// GPTQ dequantization) and every other tensor bit-exact against the checkpoint.
func compareQuantized(t *testing.T, f *File, rep *ExportReport, dir string, check func(r reportM, got, want float32, i int)) {
	t.Helper()
	ck, err := hf.OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	cfg, err := hf.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	types := map[TensorType]int{}
	for _, r := range rep.Tensors {
		got := hfOrder(t, f.Tensor(r.Name), cfg)
		types[r.Type]++
		if !quant.IsPacked(ck, r.Source) {
			want, err := ck.Float32(r.Source)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s[%d] = %v, want %v", r.Name, i, got[i], want[i])
				}
			}
			continue
		}
		want, _, _, err := quant.DequantizeLinear(ck, cfg.Quantization, r.Source)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := quant.ReadPacked(ck, r.Source, quant.Format{Bits: cfg.Quantization.Bits, GroupSize: cfg.Quantization.GroupSize, V2: cfg.Quantization.CheckpointFormat == "gptq_v2"})
		rm := reportM{TensorReport: r}
		for g := 0; g < p.Groups; g++ {
			for c := 0; c < p.Out; c++ {
				rm.maxM = math.Max(rm.maxM, math.Abs(float64(half.F16ToF32(p.Scales[g*p.Out+c]))*float64(p.Zero(g, c))))
			}
		}
		for i := range want {
			check(rm, got[i], want[i], i)
		}
	}
	if len(rep.Tensors) < 47 || types[F32] < 11 {
		t.Fatalf("tensor types %v", types)
	}
}

type reportM struct {
	TensorReport
	maxM float64 // largest |s·z| of the module
}

func TestExportBadInput(t *testing.T) {
	src, _ := stories(t)
	edit := func(name string, change func(dir string)) string {
		dir := filepath.Join(t.TempDir(), name)
		os.MkdirAll(dir, 0o755)
		for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
			b, _ := os.ReadFile(filepath.Join(src, f))
			os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
		change(dir)
		return dir
	}
	setConfig := func(key string, v any) func(string) {
		return func(dir string) {
			var cfg map[string]any
			b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
			json.Unmarshal(b, &cfg)
			cfg[key] = v
			hf.WriteJSON(filepath.Join(dir, "config.json"), cfg)
		}
	}
	q := quantizedCopy(t, src, 4, 32, true, false)
	awq := filepath.Join(t.TempDir(), "awq")
	os.MkdirAll(awq, 0o755)
	for _, f := range []string{"model.safetensors", "tokenizer.json"} {
		b, _ := os.ReadFile(filepath.Join(q, f))
		os.WriteFile(filepath.Join(awq, f), b, 0o644)
	}
	var qcfg map[string]any
	b, _ := os.ReadFile(filepath.Join(q, "config.json"))
	json.Unmarshal(b, &qcfg)
	qcfg["quantization_config"].(map[string]any)["quant_method"] = "awq"
	hf.WriteJSON(filepath.Join(awq, "config.json"), qcfg)

	dropped := filepath.Join(t.TempDir(), "dropped")
	ck, _ := hf.OpenCheckpoint(src)
	var ts []safetensors.Tensor
	for _, n := range ck.Names() {
		if n == "model.layers.3.mlp.up_proj.weight" {
			continue
		}
		info, _ := ck.Info(n)
		w, _ := ck.Float32(n)
		ts = append(ts, safetensors.Tensor{Name: n, DType: safetensors.F32, Shape: info.Shape, Data: F32Bytes(w)})
	}
	ck.Close()
	os.MkdirAll(dropped, 0o755)
	if err := hf.WriteCheckpoint(dropped, ts, nil, 0); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "tokenizer.json"} {
		b, _ := os.ReadFile(filepath.Join(src, f))
		os.WriteFile(filepath.Join(dropped, f), b, 0o644)
	}

	cases := []struct {
		name, dir, want string
	}{
		{"missing tensor", dropped, "model.layers.3.mlp.up_proj.weight: missing"},
		{"awq", awq, `quant_method "awq"`},
		{"opt", edit("opt", func(d string) {
			setConfig("architectures", []string{"OPTForCausalLM"})(d)
			setConfig("model_type", "opt")(d)
			setConfig("ffn_dim", 172)(d)
		}), "OPTForCausalLM: GGUF export supports LlamaForCausalLM"},
		{"sliding window", edit("swa", func(d string) {
			setConfig("architectures", []string{"Qwen2ForCausalLM"})(d)
			setConfig("use_sliding_window", true)(d)
		}), "use_sliding_window"},
		{"rope scaling", edit("rope", setConfig("rope_scaling", map[string]any{"rope_type": "yarn", "factor": 2.0})), "rope_scaling"},
		{"no tokenizer", edit("notok", func(d string) { os.Remove(filepath.Join(d, "tokenizer.json")) }), "tokenizer.json"},
		{"unigram", edit("unigram", func(d string) {
			os.WriteFile(filepath.Join(d, "tokenizer.json"), []byte(`{"model":{"type":"Unigram","vocab":[]}}`), 0o644)
		}), `model.type: "Unigram"`},
	}
	for _, c := range cases {
		out := filepath.Join(t.TempDir(), "x.gguf")
		_, err := Export(c.dir, out, ExportOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%s: output written", c.name)
		}
	}
}

// Byte-level vocabularies (Llama-3, Qwen3) are "gpt2" models with their merges, the
// pre-tokenizer named as llama.cpp names it, and special tokens marked CONTROL.
func TestVocabByteLevel(t *testing.T) {
	for _, c := range []struct {
		name, pre string
		n         int
		special   int
	}{{"llama3", "llama-bpe", 128256 + 8, 128000}, {"qwen3", "qwen2", 151936, 151643}} {
		dir := filepath.Dir(shareddata.Path(t, "tokenizers/"+c.name+"/tokenizer.json"))
		v, err := loadVocab(dir, &hf.Config{VocabSize: c.n, BOSTokenID: -1, PadTokenID: -1})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tokenizer.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if v.model != "gpt2" || v.preTokenize != c.pre || len(v.tokens) != c.n || v.scores != nil || len(v.merges) < 150000 {
			t.Fatalf("%s: model %s pre %s, %d tokens, %d merges", c.name, v.model, v.preTokenize, len(v.tokens), len(v.merges))
		}
		if v.types[c.special] != TokenControl || v.types[100] != TokenNormal || v.types[c.n-1] != TokenUnused || !strings.Contains(v.merges[0], " ") {
			t.Fatalf("%s: types %d %d %d, merge %q", c.name, v.types[c.special], v.types[100], v.types[c.n-1], v.merges[0])
		}
		for id := 0; id < tok.VocabSize(); id += 97 {
			if v.tokens[id] != tok.Piece(id) {
				t.Fatalf("%s: token %d %q, tokenizer %q", c.name, id, v.tokens[id], tok.Piece(id))
			}
		}
	}
}

// A BF16 checkpoint with its own classifier: BF16 matrices written as BF16 (lossless), norms
// F32, output.weight present.
func TestExportBF16Untied(t *testing.T) {
	src, _ := stories(t)
	dir := filepath.Join(t.TempDir(), "bf16")
	os.MkdirAll(dir, 0o755)
	ck, err := hf.OpenCheckpoint(src)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	bf16 := func(name string, shape []int, w []float32) {
		b := make([]byte, 2*len(w))
		for i, v := range w {
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToBF16(v*1.37))
		}
		ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.BF16, Shape: shape, Data: b})
	}
	for _, n := range ck.Names() {
		info, _ := ck.Info(n)
		w, _ := ck.Float32(n)
		bf16(n, info.Shape, w)
		if n == "model.embed_tokens.weight" {
			rev := append([]float32(nil), w...)
			for i := range rev {
				rev[i] = -rev[i]
			}
			bf16("lm_head.weight", info.Shape, rev)
		}
	}
	ck.Close()
	if err := hf.WriteCheckpoint(dir, ts, nil, 0); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(src, "config.json"))
	json.Unmarshal(b, &cfg)
	cfg["tie_word_embeddings"] = false
	cfg["torch_dtype"] = "bfloat16"
	hf.WriteJSON(filepath.Join(dir, "config.json"), cfg)
	for _, n := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(src, n))
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	f, rep := exportAndRead(t, dir, ExportOptions{})
	if f.Get("general.file_type") != FileTypeMostlyBF16 || f.Tensor("output.weight") == nil || f.Tensor("output.weight").Type != BF16 || f.Tensor("output_norm.weight").Type != F32 {
		t.Fatalf("file_type %v", f.Get("general.file_type"))
	}
	compareQuantized(t, f, rep, dir, func(r reportM, got, want float32, i int) {})
	f, rep = exportAndRead(t, dir, ExportOptions{Dense: DenseF32})
	if f.Get("general.file_type") != FileTypeAllF32 || f.Tensor("output.weight").Type != F32 {
		t.Fatalf("--dense f32: file_type %v", f.Get("general.file_type"))
	}
	compareQuantized(t, f, rep, dir, func(r reportM, got, want float32, i int) {})
}

func convertStories(tb testing.TB, dir string) error {
	return llama2c.Convert(shareddata.Path(tb, "llama2c/stories260K.bin"), shareddata.Path(tb, "llama2c/tok512.bin"), dir)
}

func FuzzParseVocab(f *testing.F) {
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"<0x41>":3},"merges":["a b"],"byte_fallback":true,"unk_token":"a"},"added_tokens":[{"id":4,"content":"<s>","special":true}]}`), 6)
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]},"pre_tokenizer":{"type":"ByteLevel"}}`), 3)
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":7},"merges":["ab"]}}`), 3)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		n = n%1000 + 1
		if n < 1 {
			n += 1000
		}
		v, err := parseVocab("tokenizer.json", data, &hf.Config{VocabSize: n, BOSTokenID: 0, PadTokenID: -1})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tokenizer.json") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if len(v.tokens) != n || len(v.types) != n || (v.scores != nil && len(v.scores) != n) {
			t.Fatalf("%d tokens, %d types for %d", len(v.tokens), len(v.types), n)
		}
		if _, err := valueType(v.kvs()[0].Value); err != nil {
			t.Fatal(err)
		}
	})
}

// Attention biases (attention_bias: true) become .bias tensors in F32, q and k permuted like
// their rows.
func TestExportBiases(t *testing.T) {
	src, _ := stories(t)
	dir := filepath.Join(t.TempDir(), "bias")
	os.MkdirAll(dir, 0o755)
	ck, err := hf.OpenCheckpoint(src)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	biases := map[string][]float32{}
	for _, n := range ck.Names() {
		info, _ := ck.Info(n)
		w, _ := ck.Float32(n)
		ts = append(ts, safetensors.Tensor{Name: n, DType: safetensors.F32, Shape: info.Shape, Data: F32Bytes(w)})
		for _, proj := range []string{"q_proj", "k_proj", "v_proj"} {
			if strings.HasSuffix(n, proj+".weight") {
				b := make([]float32, info.Shape[0])
				for i := range b {
					b[i] = float32(i) + 0.25*float32(len(n))
				}
				name := strings.TrimSuffix(n, "weight") + "bias"
				biases[name] = b
				ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: []int{len(b)}, Data: F32Bytes(b)})
			}
		}
	}
	ck.Close()
	if err := hf.WriteCheckpoint(dir, ts, nil, 0); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(src, "config.json"))
	json.Unmarshal(b, &cfg)
	cfg["attention_bias"] = true
	hf.WriteJSON(filepath.Join(dir, "config.json"), cfg)
	b, _ = os.ReadFile(filepath.Join(src, "tokenizer.json"))
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644)
	f, rep := exportAndRead(t, dir, ExportOptions{})
	if len(f.Tensors) != 47+15 {
		t.Fatalf("%d tensors", len(f.Tensors))
	}
	hcfg, _ := hf.LoadConfig(dir)
	found := 0
	for _, r := range rep.Tensors {
		want, ok := biases[r.Source]
		if !ok {
			continue
		}
		found++
		tn := f.Tensor(r.Name)
		v, _ := Dequantize(tn)
		heads := map[bool]int{true: hcfg.NumHeads, false: hcfg.NumKVHeads}[strings.Contains(r.Name, "attn_q")]
		if !strings.Contains(r.Name, "attn_v") {
			got := UnpermuteRows(F32Bytes(v), len(v), heads)
			if string(got) != string(F32Bytes(want)) {
				t.Fatalf("%s differs from %s after undoing the permutation", r.Name, r.Source)
			}
			if string(F32Bytes(v)) == string(F32Bytes(want)) {
				t.Fatalf("%s was not permuted", r.Name)
			}
		} else if string(F32Bytes(v)) != string(F32Bytes(want)) {
			t.Fatalf("%s differs", r.Name)
		}
	}
	if found != 15 {
		t.Fatalf("%d biases", found)
	}
}

// Qwen3: arch "qwen3" keys, q/k rows NOT permuted (llama.cpp's NEOX rope is HF's layout),
// q_norm/k_norm as attn_q_norm/attn_k_norm, head_dim ≠ hidden/heads as key_length.
func TestExportQwen3(t *testing.T) {
	src, _ := stories(t)
	dir := filepath.Join(t.TempDir(), "qwen3")
	os.MkdirAll(dir, 0o755)
	ck, err := hf.OpenCheckpoint(src)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	const hd = 16 // head_dim 16 with 8 heads on a 64-wide model: q is 128×64
	r := rand.New(rand.NewSource(3))
	randT := func(name string, shape ...int) {
		w := make([]float32, shape[0]*shape[len(shape)-1])
		if len(shape) == 1 {
			w = w[:shape[0]]
		}
		for i := range w {
			w[i] = float32(r.NormFloat64())
		}
		ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: shape, Data: F32Bytes(w)})
	}
	for _, n := range ck.Names() {
		info, _ := ck.Info(n)
		switch {
		case strings.HasSuffix(n, "q_proj.weight"):
			randT(n, 8*hd, 64)
		case strings.HasSuffix(n, "k_proj.weight"), strings.HasSuffix(n, "v_proj.weight"):
			randT(n, 4*hd, 64)
		case strings.HasSuffix(n, "o_proj.weight"):
			randT(n, 64, 8*hd)
		default:
			w, _ := ck.Float32(n)
			ts = append(ts, safetensors.Tensor{Name: n, DType: safetensors.F32, Shape: info.Shape, Data: F32Bytes(w)})
		}
		if strings.HasSuffix(n, "input_layernorm.weight") {
			p := strings.TrimSuffix(n, "input_layernorm.weight")
			randT(p+"self_attn.q_norm.weight", hd)
			randT(p+"self_attn.k_norm.weight", hd)
		}
	}
	ck.Close()
	if err := hf.WriteCheckpoint(dir, ts, nil, 0); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(src, "config.json"))
	json.Unmarshal(b, &cfg)
	cfg["architectures"], cfg["model_type"], cfg["head_dim"] = []string{"Qwen3ForCausalLM"}, "qwen3", hd
	hf.WriteJSON(filepath.Join(dir, "config.json"), cfg)
	b, _ = os.ReadFile(filepath.Join(src, "tokenizer.json"))
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644)
	f, rep := exportAndRead(t, dir, ExportOptions{})
	for k, v := range map[string]any{"general.architecture": "qwen3", "qwen3.block_count": uint32(5), "qwen3.attention.key_length": uint32(hd),
		"qwen3.rope.dimension_count": uint32(hd), "qwen3.attention.head_count_kv": uint32(4)} {
		if f.Get(k) != v {
			t.Errorf("%s = %v, want %v", k, f.Get(k), v)
		}
	}
	if f.Get("llama.block_count") != nil || f.Tensor("blk.2.attn_k_norm.weight") == nil || len(f.Tensors) != 47+10 {
		t.Fatalf("%d tensors", len(f.Tensors))
	}
	ck, _ = hf.OpenCheckpoint(dir)
	defer ck.Close()
	for _, r := range rep.Tensors { // every tensor as in the checkpoint, no permutation
		got, _ := Dequantize(f.Tensor(r.Name))
		want, _ := ck.Float32(r.Source)
		if string(F32Bytes(got)) != string(F32Bytes(want)) {
			t.Fatalf("%s differs from %s", r.Name, r.Source)
		}
	}
}

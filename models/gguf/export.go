package gguf

import (
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/llama" // registers the architectures GGUF export takes
	"github.com/rpiq/rpiq/models/quant"
)

// ExportOptions configures Export.
type ExportOptions struct {
	// Dense is the type of dense 2-D weights. Norms and other 1-D tensors are always F32.
	Dense DenseMode
	// Log receives one warning per tensor that could not be written losslessly (nil: none).
	Log *slog.Logger
}

// DenseMode chooses the type of dense matrices.
type DenseMode int

const (
	// DenseKeep keeps the checkpoint's precision: F32, F16 and BF16 are written as they are
	// (lossless).
	DenseKeep DenseMode = iota
	DenseF32
	DenseF16
)

// TensorReport says how one GGUF tensor was made from the checkpoint.
type TensorReport struct {
	Name   string     // GGUF name, e.g. blk.0.attn_q.weight
	Source string     // checkpoint tensor or module prefix
	Type   TensorType // what was written
	// Rule is "dense", "q4_0 (gptq sym, exact)", "q4_1 (gptq asym)", or a fallback with its reason.
	Rule string
	// MaxAbsErr is the largest |GGUF dequantized − checkpoint dequantized| over the tensor
	// (measured while exporting; 0 for the lossless cases).
	MaxAbsErr float64
	Lossy     bool // a fallback that requantized the weights
}

// ExportReport describes a finished export.
type ExportReport struct {
	FileType uint32
	Tensors  []TensorReport
	Warnings []string
}

// Export writes the LLaMA, Qwen2 or Qwen3 Hugging Face model in modelDir (dense, or a GPTQ
// checkpoint written by rpiq quantize or another GPTQ tool) to outPath as GGUF v3, atomically.
// The mapping rules are those of llama.cpp's convert_hf_to_gguf.py (for LLaMA including its
// q/k row permutation back to the interleaved rotary layout); see build for the rules for
// quantized modules.
func Export(modelDir, outPath string, opt ExportOptions) (*ExportReport, error) {
	f, rep, ck, err := build(modelDir, opt)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	if err := WriteFile(outPath, f); err != nil {
		return nil, err
	}
	return rep, nil
}

// build makes the GGUF file for modelDir: metadata, tensor infos, and for each tensor a fill
// function the writer calls, so one tensor at a time is in memory. The checkpoint stays open
// until the file is written.
//
// A GPTQ-packed linear module becomes:
//   - Q4_0 when bits = 4, every group is the 32 consecutive columns of one ggml block
//     (group_size 32, g_idx[i] = i/32: no act-order or static groups) and every zero is 8 (sym):
//     d = the fp16 scale, nibble = code. Bit-exact.
//   - Q4_1 under the same layout with other zeros (asym): d = s, m = fp16(−s·z). Exact up to the
//     fp16 rounding of m (at most half an ulp of m per group); the measured maximum is reported.
//   - otherwise (other bits or group sizes, act-order): dequantized, then Q8_0 when the input
//     size is a multiple of 32 and F16 when it is not, with a warning naming the tensor.
func build(modelDir string, opt ExportOptions) (_ *File, _ *ExportReport, _ *hf.Checkpoint, err error) {
	cfg, err := hf.LoadConfig(modelDir)
	if err != nil {
		return nil, nil, nil, err
	}
	cfgFile := filepath.Join(modelDir, hf.ConfigFile)
	arch, ok := ggufArch[cfg.Architecture]
	if !ok {
		return nil, nil, nil, errorf(cfgFile, "architectures", "%s: GGUF export supports %s, %s and %s", cfg.Architecture, llama.ArchLlama, llama.ArchQwen2, llama.ArchQwen3)
	}
	if cfg.SlidingWindow > 0 {
		return nil, nil, nil, errorf(cfgFile, "use_sliding_window", "sliding-window attention is not exported")
	}
	// rope_scaling as llama.cpp's converter writes it: "llama3" (LLaMA-3.1/3.2) as the
	// rope_freqs tensor (LlamaModel only), "linear" as two keys.
	var ropeFreqs []float32
	var ropeKVs []KV
	if s := cfg.RopeScaling; s != nil {
		switch {
		case s.Type == "llama3" && arch == "llama":
			ropeFreqs = Llama3RopeFactors(cfg.RopeTheta, cfg.HeadDim, s)
		case s.Type == "linear" && s.Factor > 0:
			ropeKVs = []KV{{arch + ".rope.scaling.type", "linear"}, {arch + ".rope.scaling.factor", float32(s.Factor)}}
		default:
			return nil, nil, nil, errorf(cfgFile, "rope_scaling", "type %q is not exported for %s (llama3 for LLaMA and linear are)", s.Type, cfg.Architecture)
		}
	}
	if cfg.NumHeads <= 0 || cfg.NumKVHeads <= 0 || cfg.HeadDim <= 0 || cfg.HeadDim%2 != 0 {
		return nil, nil, nil, errorf(cfgFile, "num_attention_heads", "heads %d, kv heads %d, head_dim %d: want positive counts and an even head_dim", cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim)
	}
	var format quant.Format
	if cfg.Quantization != nil {
		if format, err = quant.FormatOf(cfg.Quantization); err != nil {
			return nil, nil, nil, &Error{File: cfg.Quantization.Source, Msg: strings.TrimPrefix(err.Error(), cfg.Quantization.Source+": ")}
		}
	}
	ck, err := hf.OpenCheckpoint(modelDir)
	if err != nil {
		return nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			ck.Close()
		}
	}()
	x := &exporter{ck: ck, cfg: cfg, format: format, opt: opt, used: map[string]bool{}, rep: &ExportReport{}}

	if ropeFreqs != nil { // the converter yields it before the checkpoint's tensors
		x.add(&Tensor{Name: "rope_freqs.weight", Type: F32, Dims: []uint64{uint64(len(ropeFreqs))}, Data: F32Bytes(ropeFreqs)},
			TensorReport{Source: "config.json rope_scaling (llama3)", Rule: "computed"})
	}
	if err := x.dense("token_embd.weight", "model.embed_tokens.weight", []int{cfg.VocabSize, cfg.HiddenSize}, 0); err != nil {
		return nil, nil, nil, err
	}
	hd := cfg.HeadDim
	for l := 0; l < cfg.NumLayers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		b := fmt.Sprintf("blk.%d.", l)
		qHeads, kHeads := 0, 0 // rows permuted for this many heads (0: none)
		if arch == "llama" {
			qHeads, kHeads = cfg.NumHeads, cfg.NumKVHeads
		}
		steps := []struct {
			gguf, hf string
			out, in  int
			heads    int
		}{
			{"attn_q", "self_attn.q_proj", cfg.NumHeads * hd, cfg.HiddenSize, qHeads},
			{"attn_k", "self_attn.k_proj", cfg.NumKVHeads * hd, cfg.HiddenSize, kHeads},
			{"attn_v", "self_attn.v_proj", cfg.NumKVHeads * hd, cfg.HiddenSize, 0},
			{"attn_output", "self_attn.o_proj", cfg.HiddenSize, cfg.NumHeads * hd, 0},
			{"ffn_gate", "mlp.gate_proj", cfg.IntermediateSize, cfg.HiddenSize, 0},
			{"ffn_up", "mlp.up_proj", cfg.IntermediateSize, cfg.HiddenSize, 0},
			{"ffn_down", "mlp.down_proj", cfg.HiddenSize, cfg.IntermediateSize, 0},
		}
		if err := x.norm(b+"attn_norm.weight", p+"input_layernorm.weight", cfg.HiddenSize); err != nil {
			return nil, nil, nil, err
		}
		for _, s := range steps {
			if err := x.linear(b+s.gguf, p+s.hf, s.out, s.in, s.heads); err != nil {
				return nil, nil, nil, err
			}
		}
		if cfg.QKNorm { // Qwen3: RMSNorm over head_dim on q and k
			if err := x.norm(b+"attn_q_norm.weight", p+"self_attn.q_norm.weight", hd); err != nil {
				return nil, nil, nil, err
			}
			if err := x.norm(b+"attn_k_norm.weight", p+"self_attn.k_norm.weight", hd); err != nil {
				return nil, nil, nil, err
			}
		}
		if err := x.norm(b+"ffn_norm.weight", p+"post_attention_layernorm.weight", cfg.HiddenSize); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := x.norm("output_norm.weight", "model.norm.weight", cfg.HiddenSize); err != nil {
		return nil, nil, nil, err
	}
	_, dense := ck.Info("lm_head.weight")
	if dense || quant.IsPacked(ck, "lm_head") {
		if err := x.linear("output", "lm_head", cfg.VocabSize, cfg.HiddenSize, 0); err != nil {
			return nil, nil, nil, err
		}
	} else if !cfg.TieWordEmbeddings {
		return nil, nil, nil, errorf(ck.Dir(), "tensor lm_head.weight", "missing (tie_word_embeddings is false)")
	}
	var left []string
	for _, n := range ck.Names() {
		if !x.used[n] && !strings.HasSuffix(n, "rotary_emb.inv_freq") {
			left = append(left, n)
		}
	}
	if len(left) > 0 {
		sort.Strings(left)
		return nil, nil, nil, errorf(ck.Dir(), "tensor "+left[0], "has no GGUF counterpart in a %s export (%d such tensors)", cfg.Architecture, len(left))
	}

	vocab, err := loadVocab(modelDir, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	x.rep.FileType = x.fileType()
	f := &File{Version: Version, Alignment: DefaultAlignment, Tensors: x.tensors}
	name := filepath.Base(filepath.Clean(modelDir))
	f.KVs = []KV{
		{"general.architecture", arch},
		{"general.name", name},
		{"general.file_type", x.rep.FileType},
		{"general.alignment", uint32(DefaultAlignment)},
	}
	if x.quantized {
		f.KVs = append(f.KVs, KV{"general.quantization_version", uint32(2)})
	}
	f.KVs = append(f.KVs,
		KV{arch + ".context_length", uint32(cfg.MaxPositions)},
		KV{arch + ".embedding_length", uint32(cfg.HiddenSize)},
		KV{arch + ".block_count", uint32(cfg.NumLayers)},
		KV{arch + ".feed_forward_length", uint32(cfg.IntermediateSize)},
		KV{arch + ".attention.head_count", uint32(cfg.NumHeads)},
		KV{arch + ".attention.head_count_kv", uint32(cfg.NumKVHeads)},
		KV{arch + ".rope.freq_base", float32(cfg.RopeTheta)},
		KV{arch + ".attention.layer_norm_rms_epsilon", float32(cfg.RMSNormEps)},
		KV{arch + ".rope.dimension_count", uint32(hd)},
		KV{arch + ".vocab_size", uint32(cfg.VocabSize)},
	)
	f.KVs = append(f.KVs, ropeKVs...)
	if hd*cfg.NumHeads != cfg.HiddenSize {
		f.KVs = append(f.KVs, KV{arch + ".attention.key_length", uint32(hd)}, KV{arch + ".attention.value_length", uint32(hd)})
	}
	f.KVs = append(f.KVs, vocab.kvs()...)
	return f, x.rep, ck, nil
}

// ggufArch is llama.cpp's architecture name for each exported HF architecture. Only "llama"
// permutes q/k rows: llama.cpp rotates interleaved pairs for it (rope type NORM) and halves for
// qwen2/qwen3 (NEOX), which is HF's own layout.
var ggufArch = map[string]string{llama.ArchLlama: "llama", llama.ArchQwen2: "qwen2", llama.ArchQwen3: "qwen3"}

type exporter struct {
	ck        *hf.Checkpoint
	cfg       *hf.Config
	format    quant.Format
	opt       ExportOptions
	used      map[string]bool
	tensors   []*Tensor
	rep       *ExportReport
	quantized bool
}

func (x *exporter) add(t *Tensor, r TensorReport) {
	x.tensors = append(x.tensors, t)
	r.Name, r.Type = t.Name, t.Type
	x.rep.Tensors = append(x.rep.Tensors, r)
}

func (x *exporter) warn(msg string) {
	x.rep.Warnings = append(x.rep.Warnings, msg)
	if x.opt.Log != nil {
		x.opt.Log.Warn(msg)
	}
}

// info checks that a dense tensor exists with the given shape.
func (x *exporter) info(name string, shape []int) (safetensors.TensorInfo, error) {
	if _, ok := x.ck.Info(name); !ok {
		return safetensors.TensorInfo{}, errorf(x.ck.Dir(), "tensor "+name, "missing")
	}
	if err := x.ck.CheckShape(name, shape...); err != nil {
		return safetensors.TensorInfo{}, err
	}
	x.used[name] = true
	t, _ := x.ck.Info(name)
	return t, nil
}

// norm writes a 1-D tensor as F32.
func (x *exporter) norm(gguf, name string, n int) error {
	if _, err := x.info(name, []int{n}); err != nil {
		return err
	}
	v, err := x.ck.Float32(name)
	if err != nil {
		return err
	}
	x.add(&Tensor{Name: gguf, Type: F32, Dims: []uint64{uint64(n)}, Data: F32Bytes(v)}, TensorReport{Source: name, Rule: "dense"})
	return nil
}

// dense writes a 2-D [out][in] checkpoint tensor, rows permuted for heads > 0.
func (x *exporter) dense(gguf, name string, shape []int, heads int) error {
	t, err := x.info(name, shape)
	if err != nil {
		return err
	}
	out, in := shape[0], shape[1]
	var typ TensorType
	switch {
	case x.opt.Dense == DenseF32:
		typ = F32
	case x.opt.Dense == DenseF16:
		typ = F16
	case x.opt.Dense != DenseKeep:
		return fmt.Errorf("gguf: dense mode %d, want DenseKeep, DenseF32 or DenseF16", x.opt.Dense)
	case t.DType == safetensors.F32:
		typ = F32
	case t.DType == safetensors.F16:
		typ = F16
	case t.DType == safetensors.BF16:
		typ = BF16
	default:
		return errorf(x.ck.Dir(), "tensor "+name, "dtype %s, want F32, F16 or BF16", t.DType)
	}
	keep := x.opt.Dense == DenseKeep
	idx := len(x.rep.Tensors)
	fill := func() ([]byte, error) {
		var data []byte
		if keep {
			_, raw, err := x.ck.Raw(name)
			if err != nil {
				return nil, err
			}
			data = raw
		} else {
			v, err := x.ck.Float32(name)
			if err != nil {
				return nil, err
			}
			if typ == F32 {
				data = F32Bytes(v)
			} else {
				data = F16Bytes(v)
				worst := 0.0
				for i, h := range v {
					back := half.F16ToF32(uint16(data[2*i]) | uint16(data[2*i+1])<<8)
					worst = math.Max(worst, math.Abs(float64(back)-float64(h)))
				}
				x.rep.Tensors[idx].MaxAbsErr = worst
			}
		}
		if heads > 0 {
			data = permuteRows(data, out, heads)
		}
		return data, nil
	}
	x.add(&Tensor{Name: gguf, Type: typ, Dims: []uint64{uint64(in), uint64(out)}, fill: fill}, TensorReport{Source: name, Rule: "dense"})
	return nil
}

// linear writes prefix.weight (dense or GPTQ-packed) as gguf.weight and prefix.bias as
// gguf.bias when present.
func (x *exporter) linear(gguf, prefix string, out, in, heads int) error {
	if quant.IsPacked(x.ck, prefix) {
		if err := x.packed(gguf+".weight", prefix, out, in, heads); err != nil {
			return err
		}
	} else if err := x.dense(gguf+".weight", prefix+".weight", []int{out, in}, heads); err != nil {
		return err
	}
	bias := prefix + ".bias"
	if _, ok := x.ck.Info(bias); !ok {
		return nil
	}
	if _, err := x.info(bias, []int{out}); err != nil {
		return err
	}
	v, err := x.ck.Float32(bias)
	if err != nil {
		return err
	}
	data := F32Bytes(v)
	if heads > 0 {
		data = permuteRows(data, out, heads)
	}
	x.add(&Tensor{Name: gguf + ".bias", Type: F32, Dims: []uint64{uint64(out)}, Data: data}, TensorReport{Source: bias, Rule: "dense"})
	return nil
}

// packed converts one GPTQ module (rules in build's doc comment).
func (x *exporter) packed(gguf, prefix string, out, in, heads int) error {
	if x.cfg.Quantization == nil {
		return errorf(x.ck.Dir(), "tensor "+prefix+".qweight", "packed weights but config.json has no quantization_config")
	}
	for _, s := range []string{".qweight", ".qzeros", ".scales", ".g_idx"} {
		x.used[prefix+s] = true
	}
	p, err := quant.ReadPacked(x.ck, prefix, x.format)
	if err != nil {
		return &Error{File: x.ck.Dir(), Field: "module " + prefix, Msg: err.Error()}
	}
	if p.Out != out || p.In != in {
		return errorf(x.ck.Dir(), "module "+prefix, "packed %d×%d, want %d×%d from config.json", p.Out, p.In, out, in)
	}
	x.quantized = true
	t := &Tensor{Name: gguf, Dims: []uint64{uint64(in), uint64(out)}}
	r := TensorReport{Source: prefix}
	reason := q4Blocks(p)
	sym := true
	if reason == "" {
		for g := 0; g < p.Groups && sym; g++ {
			for c := 0; c < p.Out; c++ {
				if p.Zero(g, c) != 8 {
					sym = false
					break
				}
			}
		}
		t.Type, r.Rule = Q4_1, "q4_1 (gptq asym: d = s, m = fp16(-s*z))"
		if sym {
			t.Type, r.Rule = Q4_0, "q4_0 (gptq sym: d = s, nibble = code; exact)"
		}
	} else {
		t.Type = F16
		if in%BlockElems == 0 {
			t.Type = Q8_0
		}
		r.Rule, r.Lossy = fmt.Sprintf("dequantized to %s (%s)", t.Type, reason), true
		x.warn(fmt.Sprintf("%s: %s is not a GGUF Q4 layout (%s); written as %s after dequantizing", x.ck.Dir(), prefix, reason, t.Type))
	}
	idx := len(x.rep.Tensors)
	t.fill = func() ([]byte, error) {
		p, err := quant.ReadPacked(x.ck, prefix, x.format)
		if err != nil {
			return nil, err
		}
		ref, err := p.Dequantize()
		if err != nil {
			return nil, &Error{File: x.ck.Dir(), Field: "module " + prefix, Msg: err.Error()}
		}
		var data []byte
		switch t.Type {
		case Q4_0, Q4_1:
			data = q4FromPacked(p, sym)
		case Q8_0:
			data, _ = QuantizeQ8_0(ref)
		default:
			data = F16Bytes(ref)
		}
		got, err := Dequantize(&Tensor{Name: t.Name, Type: t.Type, Dims: t.Dims, Data: data})
		if err != nil {
			return nil, err
		}
		worst := 0.0
		for i, v := range got {
			worst = math.Max(worst, math.Abs(float64(v)-float64(ref[i])))
		}
		x.rep.Tensors[idx].MaxAbsErr = worst
		if heads > 0 {
			data = permuteRows(data, out, heads)
		}
		return data, nil
	}
	x.add(t, r)
	return nil
}

// q4Blocks says why the packed module is not one ggml Q4 block per GPTQ group ("" if it is).
func q4Blocks(p *quant.Packed) string {
	if p.Bits != 4 {
		return fmt.Sprintf("%d-bit", p.Bits)
	}
	if p.In%BlockElems != 0 {
		return fmt.Sprintf("%d inputs are not whole blocks of 32", p.In)
	}
	if p.Groups != p.In/BlockElems {
		return fmt.Sprintf("%d groups over %d inputs, want group size 32", p.Groups, p.In)
	}
	for i, g := range p.GIdx {
		if int(g) != i/BlockElems {
			return fmt.Sprintf("g_idx[%d] = %d, want %d (act-order)", i, g, i/BlockElems)
		}
	}
	return ""
}

// q4FromPacked lays out one Q4_0 (sym) or Q4_1 block per (row, group): rows are the output
// channels, blocks run along the inputs, exactly as ggml's ne0 is the input dimension.
func q4FromPacked(p *quant.Packed, sym bool) []byte {
	nb := p.In / BlockElems
	size := Q4_1Bytes
	if sym {
		size = Q4_0Bytes
	}
	data := make([]byte, p.Out*nb*size)
	var codes [BlockElems]uint8
	for r := 0; r < p.Out; r++ {
		for b := 0; b < nb; b++ {
			// The block's 32 codes are the 4 qweight words (4b..4b+3, r), 8 nibbles each, LSB first.
			for w := 0; w < 4; w++ {
				word := p.QWeight[(4*b+w)*p.Out+r]
				for k := 0; k < 8; k++ {
					codes[8*w+k] = uint8(word>>(4*k)) & 15
				}
			}
			s := p.Scales[b*p.Out+r]
			dst := data[(r*nb+b)*size:]
			if sym {
				PutQ4_0(dst, s, &codes)
			} else {
				m := -half.F16ToF32(s) * float32(p.Zero(b, r))
				PutQ4_1(dst, s, half.F32ToF16(m), &codes)
			}
		}
	}
	return data
}

// permuteRows applies convert_hf_to_gguf.py's LLaMA permute(w, n_head) to the rows of data
// (rows equal byte rows of any type, dense or packed blocks): HF's rotary halves back to the
// interleaved pairs llama.cpp rotates. GGUF row h·hd + 2i + t is HF row h·hd + t·hd/2 + i.
func permuteRows(data []byte, rows, heads int) []byte {
	rb := len(data) / rows
	hd := rows / heads
	out := make([]byte, len(data))
	for h := 0; h < heads; h++ {
		for i := 0; i < hd/2; i++ {
			for t := 0; t < 2; t++ {
				dst := h*hd + 2*i + t
				src := h*hd + t*hd/2 + i
				copy(out[dst*rb:(dst+1)*rb], data[src*rb:(src+1)*rb])
			}
		}
	}
	return out
}

// UnpermuteRows is the inverse of the export's q/k permutation, for tests and readers that
// want Hugging Face row order back.
func UnpermuteRows(data []byte, rows, heads int) []byte {
	rb := len(data) / rows
	hd := rows / heads
	out := make([]byte, len(data))
	for h := 0; h < heads; h++ {
		for i := 0; i < hd/2; i++ {
			for t := 0; t < 2; t++ {
				src := h*hd + 2*i + t
				dst := h*hd + t*hd/2 + i
				copy(out[dst*rb:(dst+1)*rb], data[src*rb:(src+1)*rb])
			}
		}
	}
	return out
}

// fileType is general.file_type: the type most of the attention and FFN matrices have.
func (x *exporter) fileType() uint32 {
	count := map[TensorType]int{}
	for _, t := range x.tensors {
		if strings.HasPrefix(t.Name, "blk.") && len(t.Dims) == 2 {
			count[t.Type]++
		}
	}
	best, n := F32, -1
	for _, ty := range []TensorType{F32, F16, BF16, Q8_0, Q4_1, Q4_0} {
		if count[ty] > n {
			best, n = ty, count[ty]
		}
	}
	switch best {
	case F16:
		return FileTypeMostlyF16
	case BF16:
		return FileTypeMostlyBF16
	case Q8_0:
		return FileTypeMostlyQ8_0
	case Q4_1:
		return FileTypeMostlyQ4_1
	case Q4_0:
		return FileTypeMostlyQ4_0
	}
	return FileTypeAllF32
}

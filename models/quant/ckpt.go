package quant

import (
	"fmt"

	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// Tensors returns the module's GPTQ tensors named prefix.qweight, .qzeros, .scales, .g_idx
// (int32 words stored as their bit patterns), plus prefix.bias in fp16 when bias is not nil.
func (p *Packed) Tensors(prefix string, bias []float32) []safetensors.Tensor {
	ts := []safetensors.Tensor{
		{Name: prefix + ".qweight", DType: safetensors.I32, Shape: []int{PackedLen(p.In, p.Bits), p.Out}, Data: u32Bytes(p.QWeight)},
		{Name: prefix + ".qzeros", DType: safetensors.I32, Shape: []int{p.Groups, PackedLen(p.Out, p.Bits)}, Data: u32Bytes(p.QZeros)},
		{Name: prefix + ".scales", DType: safetensors.F16, Shape: []int{p.Groups, p.Out}, Data: u16Bytes(p.Scales)},
		{Name: prefix + ".g_idx", DType: safetensors.I32, Shape: []int{p.In}, Data: i32Bytes(p.GIdx)},
	}
	if bias != nil {
		b := make([]uint16, len(bias))
		for i, v := range bias {
			b[i] = half.F32ToF16(v)
		}
		ts = append(ts, safetensors.Tensor{Name: prefix + ".bias", DType: safetensors.F16, Shape: []int{len(b)}, Data: u16Bytes(b)})
	}
	return ts
}

// Tensors is where packed modules are read from: an open *hf.Checkpoint, or anything else that
// serves tensors by name (the runtime loader's hfmodel.Tensors).
type Tensors interface {
	Dir() string
	Info(name string) (safetensors.TensorInfo, bool)
	File(name string) (string, bool)
	Raw(name string) (safetensors.TensorInfo, []byte, error)
}

// IsPacked reports whether the checkpoint stores the linear module prefix (e.g.
// "model.layers.0.self_attn.q_proj") in the GPTQ layout.
func IsPacked(ck Tensors, prefix string) bool {
	_, ok := ck.Info(prefix + ".qweight")
	return ok
}

// Format is what a loader needs from quantization_config / quantize_config.json.
type Format struct {
	Bits      int
	GroupSize int  // -1 per channel
	V2        bool // checkpoint_format gptq_v2 (true zeros); else v1 (zero−1)
}

// FormatOf reads the packing format from a parsed quantization config.
func FormatOf(qc *hf.QuantizationConfig) (Format, error) {
	if qc == nil {
		return Format{}, fmt.Errorf("quant: the model has no quantization_config")
	}
	if qc.Method != "" && qc.Method != "gptq" {
		return Format{}, fmt.Errorf("%s: quant_method %q, want \"gptq\"", qc.Source, qc.Method)
	}
	f := Format{Bits: qc.Bits, GroupSize: qc.GroupSize}
	switch qc.CheckpointFormat {
	case "", "gptq":
	case "gptq_v2":
		f.V2 = true
	default:
		return Format{}, fmt.Errorf("%s: checkpoint_format %q, want \"gptq\" or \"gptq_v2\"", qc.Source, qc.CheckpointFormat)
	}
	switch f.Bits {
	case 2, 3, 4, 8:
	default:
		return Format{}, fmt.Errorf("%s: bits = %d, want 2, 3, 4 or 8", qc.Source, f.Bits)
	}
	if f.GroupSize == 0 || f.GroupSize < -1 {
		return Format{}, fmt.Errorf("%s: group_size = %d, want a positive size or -1", qc.Source, f.GroupSize)
	}
	return f, nil
}

// ReadPacked reads prefix.qweight/.qzeros/.scales/.g_idx. A missing g_idx (older tools
// without act-order) means column i belongs to group i/group_size.
func ReadPacked(ck Tensors, prefix string, f Format) (*Packed, error) {
	where := func(name string) string {
		if p, ok := ck.File(name); ok {
			return p + ": tensor " + name
		}
		return ck.Dir() + ": tensor " + name
	}
	get := func(suffix string, dt safetensors.DType, rank int) (safetensors.TensorInfo, []byte, error) {
		name := prefix + suffix
		t, b, err := ck.Raw(name)
		if err != nil {
			return t, nil, err
		}
		if t.DType != dt || len(t.Shape) != rank {
			return t, nil, fmt.Errorf("%s: dtype %s shape %v, want %s of rank %d", where(name), t.DType, t.Shape, dt, rank)
		}
		return t, b, nil
	}
	qw, qwb, err := get(".qweight", safetensors.I32, 2)
	if err != nil {
		return nil, err
	}
	sc, scb, err := get(".scales", safetensors.F16, 2)
	if err != nil {
		return nil, err
	}
	qz, qzb, err := get(".qzeros", safetensors.I32, 2)
	if err != nil {
		return nil, err
	}
	p := &Packed{Bits: f.Bits, GroupSize: f.GroupSize, V2: f.V2, Groups: sc.Shape[0], Out: sc.Shape[1],
		QWeight: bytesU32(qwb), QZeros: bytesU32(qzb), Scales: bytesU16(scb)}
	if _, ok := ck.Info(prefix + ".g_idx"); ok {
		gi, gib, err := get(".g_idx", safetensors.I32, 1)
		if err != nil {
			return nil, err
		}
		p.In = gi.Shape[0]
		w := bytesU32(gib)
		p.GIdx = make([]int32, len(w))
		for i, v := range w {
			p.GIdx[i] = int32(v)
		}
	} else {
		if f.Bits == 3 {
			p.In = qw.Shape[0] / 3 * 32
		} else {
			p.In = qw.Shape[0] * 32 / f.Bits
		}
		gs := f.GroupSize
		if gs == -1 {
			gs = p.In
		}
		p.GIdx = make([]int32, p.In)
		for i := range p.GIdx {
			p.GIdx[i] = int32(i / gs)
		}
	}
	if qw.Shape[0] != PackedLen(p.In, f.Bits) || qw.Shape[1] != p.Out {
		return nil, fmt.Errorf("%s: shape %v, want [%d %d] for %d inputs at %d bits", where(prefix+".qweight"), qw.Shape, PackedLen(p.In, f.Bits), p.Out, p.In, f.Bits)
	}
	if qz.Shape[0] != p.Groups || qz.Shape[1] != PackedLen(p.Out, f.Bits) {
		return nil, fmt.Errorf("%s: shape %v, want [%d %d]", where(prefix+".qzeros"), qz.Shape, p.Groups, PackedLen(p.Out, f.Bits))
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %v", where(prefix+".g_idx"), err)
	}
	return p, nil
}

// DequantizeLinear returns the Out×In float32 weight of a GPTQ-packed linear module (ours or
// another tool's: v1 zero−1 or v2 zeros, any g_idx order). It is what the runtime's loader calls
// for a module whose prefix.qweight exists.
func DequantizeLinear(ck Tensors, qc *hf.QuantizationConfig, prefix string) (w []float32, out, in int, err error) {
	f, err := FormatOf(qc)
	if err != nil {
		return nil, 0, 0, err
	}
	p, err := ReadPacked(ck, prefix, f)
	if err != nil {
		return nil, 0, 0, err
	}
	w, err = p.Dequantize()
	return w, p.Out, p.In, err
}

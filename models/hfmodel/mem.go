package hfmodel

import (
	"fmt"
	"slices"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/model"
)

// MemTensors is a checkpoint held in memory (name → tensor), for models built in code, such as
// the random 1B-parameter benchmark model, that never touch the disk.
type MemTensors map[string]safetensors.Tensor

func (m MemTensors) Dir() string { return "(memory)" }

func (m MemTensors) Info(name string) (safetensors.TensorInfo, bool) {
	t, ok := m[name]
	return safetensors.TensorInfo{Name: name, DType: t.DType, Shape: t.Shape, End: int64(len(t.Data))}, ok
}

func (m MemTensors) File(name string) (string, bool) { _, ok := m[name]; return "(memory)", ok }

func (m MemTensors) Raw(name string) (safetensors.TensorInfo, []byte, error) {
	info, ok := m.Info(name)
	if !ok {
		return info, nil, &Error{Msg: fmt.Sprintf("(memory): tensor %q: not in the checkpoint", name)}
	}
	return info, m[name].Data, nil
}

func (m MemTensors) CheckShape(name string, shape ...int) error {
	info, ok := m.Info(name)
	if !ok {
		return &Error{Msg: fmt.Sprintf("(memory): tensor %q: not in the checkpoint", name)}
	}
	if !slices.Equal(info.Shape, shape) {
		return &Error{Msg: fmt.Sprintf("(memory): tensor %q: shape is %v, want %v", name, info.Shape, shape)}
	}
	return nil
}

func (m MemTensors) Float32(name string, shape ...int) ([]float32, error) {
	if err := m.CheckShape(name, shape...); shape != nil && err != nil {
		return nil, err
	}
	info, b, err := m.Raw(name)
	if err != nil {
		return nil, err
	}
	switch info.DType {
	case safetensors.F32:
		return slices.Clone(cpu.Float32s(b)), nil
	case safetensors.BF16:
		out := make([]float32, len(b)/2)
		half.BF16SliceToF32(out, b)
		return out, nil
	case safetensors.F16:
		out := make([]float32, len(b)/2)
		half.F16SliceToF32(out, b)
		return out, nil
	}
	return nil, &Error{Msg: fmt.Sprintf("(memory): tensor %q: dtype %s", name, info.DType)}
}

// Build constructs a registered architecture from a config and in-memory tensors.
func Build(cfg *hf.Config, t MemTensors, be backend.Backend) (model.Model, error) {
	mu.Lock()
	a, ok := archs[cfg.Architecture]
	mu.Unlock()
	f := a.New
	if !ok {
		return nil, &Error{Msg: fmt.Sprintf("architecture %q has no runtime implementation", cfg.Architecture)}
	}
	return f(cfg, &Weights{Checkpoint: t, Backend: be, Quant: cfg.Quantization})
}

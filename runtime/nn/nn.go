// Package nn holds the small building blocks model code is made of: a linear module (weight
// plus optional bias) and a by-name table of a model's linear modules, which is what the
// quantizer swaps weights through.
package nn

import (
	"fmt"

	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/model"
)

// Linear is y = x·Wᵀ + b.
type Linear struct {
	Name string // HF module name ("model.layers.0.mlp.down_proj")
	W    backend.Weight
	B    backend.Tensor // 1×Out, or nil
}

// Forward returns x·Wᵀ + b as a new tensor.
func (l *Linear) Forward(be backend.Backend, x backend.Tensor) backend.Tensor {
	y := be.NewTensor(x.Rows(), l.W.Rows())
	be.MatMul(y, x, l.W)
	if l.B != nil {
		be.AddBias(y, l.B)
	}
	return y
}

// Info describes the module for model.Layered.Linears.
func (l *Linear) Info() model.Linear {
	return model.Linear{Name: l.Name, In: l.W.Cols(), Out: l.W.Rows(), Bias: l.B != nil}
}

// Linears indexes a model's linear modules by name.
type Linears map[string]*Linear

// Add records l under its name.
func (t Linears) Add(ls ...*Linear) {
	for _, l := range ls {
		t[l.Name] = l
	}
}

// Groups turns groups of modules into model.Linear descriptions.
func Groups(groups ...[]*Linear) [][]model.Linear {
	out := make([][]model.Linear, len(groups))
	for i, g := range groups {
		for _, l := range g {
			out[i] = append(out[i], l.Info())
		}
	}
	return out
}

// F32 returns float32 copies of a module's weight and bias.
func (t Linears) F32(be backend.Backend, name string) ([]float32, []float32, error) {
	l, ok := t[name]
	if !ok {
		return nil, nil, fmt.Errorf("nn: no linear module %q", name)
	}
	w := be.WeightF32(l.W)
	var b []float32
	if l.B != nil {
		b = make([]float32, l.B.Cols())
		be.Download(b, l.B)
	}
	return w, b, nil
}

// Set replaces a module's weight (same shape) and, when bias is not nil, its bias.
func (t Linears) Set(be backend.Backend, name string, w backend.Weight, bias []float32) error {
	l, ok := t[name]
	if !ok {
		return fmt.Errorf("nn: no linear module %q", name)
	}
	if w.Rows() != l.W.Rows() || w.Cols() != l.W.Cols() {
		return fmt.Errorf("nn: %s: new weight is %d×%d, want %d×%d", name, w.Rows(), w.Cols(), l.W.Rows(), l.W.Cols())
	}
	if bias != nil {
		if len(bias) != w.Rows() {
			return fmt.Errorf("nn: %s: bias of %d values, want %d", name, len(bias), w.Rows())
		}
		b := be.NewTensor(1, len(bias))
		be.Upload(b, bias)
		l.B = b
	}
	l.W = w
	return nil
}

// Tap calls hook with a copy of x's values when hook is set (the quantizer's view of a linear's
// input), unless the backend says it does not want this tap (the quantizer's work backend: taps
// of other modules than the one it captures, and any while it skips its ops, whose values would
// be meaningless).
func Tap(be backend.Backend, hook model.Hook, name string, x backend.Tensor) {
	if hook == nil {
		return
	}
	if w, ok := be.(interface{ Wants(name string) bool }); ok && !w.Wants(name) {
		return
	}
	v := make([]float32, x.Rows()*x.Cols())
	be.Download(v, x)
	hook(name, v, x.Rows())
}

// Package hfmodel is the architecture registry and the shared weight binder. Each architecture
// is one folder (models/llama, models/opt, models/cogvlm2, ...) that registers itself in init()
// with one Register call: its config.json name, a reader of its own hyper-parameters and a
// constructor that binds its tensors through Weights. Open turns a Hugging Face directory
// (config.json + safetensors) into a runtime model.Model of the architecture it names; nothing
// outside the architecture's folder knows it by name. A model that reads images also implements
// models/multimodal.Model, which callers find by a type assertion.
package hfmodel

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/model"
)

// New builds a model from a parsed config and its open checkpoint.
type New func(cfg *hf.Config, w *Weights) (model.Model, error)

var (
	mu    sync.Mutex
	archs = map[string]Arch{}
)

// Arch is one architecture, as it registers itself.
type Arch struct {
	Name       string          // config.json "architectures"[0], e.g. "LlamaForCausalLM"
	ModelTypes []string        // config.json "model_type" values that name it when "architectures" is absent
	Config     hf.ConfigReader // reads its hyper-parameters into hf.Config (and its own config into Config.Arch)
	New        New             // binds its tensors and returns the model
	Inspect    InspectFunc     // optional: parameters and a report from config.json alone (rpiq inspect)
}

// Register makes an architecture available to hf.LoadConfig and Open; call it from init(). A
// second registration of a name panics.
func Register(a Arch) {
	if a.Name == "" || a.Config == nil || a.New == nil {
		panic("hfmodel: Register needs Name, Config and New")
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := archs[a.Name]; dup {
		panic("hfmodel: architecture " + a.Name + " registered twice")
	}
	hf.RegisterConfig(a.Name, a.ModelTypes, a.Config)
	archs[a.Name] = a
}

// Architectures lists the registered names.
func Architectures() []string {
	mu.Lock()
	defer mu.Unlock()
	var out []string
	for a := range archs {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Error is a problem with a model directory that is the input's fault (exit status 2).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// BadInput marks the error as bad input for the CLI.
func (e *Error) BadInput() bool { return true }

// Open loads dir with the architecture its config.json names. The weights stay memory-mapped
// where the backend can use them in place; the returned Closer unmaps them.
func Open(dir string, be backend.Backend) (model.Model, *hf.Config, func() error, error) {
	cfg, err := hf.LoadConfig(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	if q := cfg.Quantization; q != nil && q.Method != "gptq" {
		return nil, nil, nil, &Error{Msg: fmt.Sprintf("%s: quantized (%s) checkpoints are not loaded by the runtime (GPTQ ones are)", dir, q.Method)}
	}
	mu.Lock()
	a, ok := archs[cfg.Architecture]
	mu.Unlock()
	f := a.New
	if !ok {
		return nil, nil, nil, &Error{Msg: fmt.Sprintf("%s/config.json: architecture %q has no runtime implementation (have %v)", dir, cfg.Architecture, Architectures())}
	}
	ck, err := hf.OpenCheckpoint(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := hf.CheckSizes(cfg, ck); err != nil { // before the constructor allocates by config.json's numbers
		ck.Close()
		return nil, nil, nil, err
	}
	m, err := f(cfg, &Weights{Checkpoint: ck, Backend: be, Quant: cfg.Quantization})
	if err != nil {
		ck.Close()
		return nil, nil, nil, err
	}
	return m, cfg, ck.Close, nil
}

// Tensors is where weights come from: an open *hf.Checkpoint (memory-mapped files), or
// MemTensors built in memory (benchmarks).
type Tensors interface {
	Dir() string
	Info(name string) (safetensors.TensorInfo, bool)
	File(name string) (string, bool)
	Raw(name string) (safetensors.TensorInfo, []byte, error)
	CheckShape(name string, shape ...int) error
	Float32(name string, shape ...int) ([]float32, error)
}

// Weights binds checkpoint tensors to backend weights by HF name, keeping the first error so a
// model constructor can bind everything and check once.
type Weights struct {
	Checkpoint Tensors
	Backend    backend.Backend
	Err        error
	Bytes      int64 // bytes of every tensor bound so far, as stored
	// Quant is the checkpoint's GPTQ quantization_config (nil for float checkpoints): a linear
	// stored as prefix.qweight/.qzeros/.scales/.g_idx is dequantized to float32 by
	// models/quant (a fast quantized weight can replace this later).
	Quant *hf.QuantizationConfig
}

func (w *Weights) fail(err error) {
	if w.Err == nil {
		w.Err = err
	}
}

// Has reports whether the checkpoint holds name.
func (w *Weights) Has(name string) bool {
	_, ok := w.Checkpoint.Info(name)
	return ok
}

// Matrix binds the 2-D tensor name of shape [rows, cols] as a backend weight, used in place
// (F32, BF16, F16) when the backend allows.
func (w *Weights) Matrix(name string, rows, cols int) backend.Weight {
	if w.Err != nil {
		return nil
	}
	if prefix, ok := strings.CutSuffix(name, ".weight"); ok && w.Quant != nil && quant.IsPacked(w.Checkpoint, prefix) {
		if wt, ok := w.gptqWeight(prefix, rows, cols); ok { // the backend's quantized layout (gptq.go)
			return wt
		}
		v, out, in, err := quant.DequantizeLinear(w.Checkpoint, w.Quant, prefix)
		if err != nil {
			w.fail(err)
			return nil
		}
		if out != rows || in != cols {
			w.fail(&Error{Msg: fmt.Sprintf("%s: GPTQ module %s is %d×%d, want %d×%d", w.Checkpoint.Dir(), prefix, out, in, rows, cols)})
			return nil
		}
		for _, suffix := range []string{".qweight", ".qzeros", ".scales", ".g_idx"} {
			if info, ok := w.Checkpoint.Info(prefix + suffix); ok {
				w.Bytes += info.Bytes()
			}
		}
		return w.Backend.NewWeightF32(rows, cols, v)
	}
	if err := w.Checkpoint.CheckShape(name, rows, cols); err != nil {
		w.fail(err)
		return nil
	}
	info, data, err := w.Checkpoint.Raw(name)
	if err != nil {
		w.fail(err)
		return nil
	}
	var dt backend.DType
	switch info.DType {
	case safetensors.F32:
		dt = backend.F32
	case safetensors.BF16:
		dt = backend.BF16
	case safetensors.F16:
		dt = backend.F16
	default:
		v, err := w.Checkpoint.Float32(name, rows, cols) // F64 and friends: widen once
		if err != nil {
			w.fail(err)
			return nil
		}
		w.Bytes += info.Bytes()
		return w.Backend.NewWeightF32(rows, cols, v)
	}
	wt, err := w.Backend.NewWeight(dt, rows, cols, data)
	if err != nil {
		file, _ := w.Checkpoint.File(name)
		w.fail(&Error{Msg: fmt.Sprintf("%s: tensor %q: %v", file, name, err)})
		return nil
	}
	w.Bytes += info.Bytes()
	return wt
}

// Vector binds the 1-D tensor name of length n as a 1×n backend tensor (norm weights, biases).
func (w *Weights) Vector(name string, n int) backend.Tensor {
	if w.Err != nil {
		return nil
	}
	v, err := w.Checkpoint.Float32(name, n)
	if err != nil {
		w.fail(err)
		return nil
	}
	info, _ := w.Checkpoint.Info(name)
	w.Bytes += info.Bytes()
	t := w.Backend.NewTensor(1, n)
	w.Backend.Upload(t, v)
	return t
}

// OptionalVector is Vector when the tensor exists, else nil.
func (w *Weights) OptionalVector(name string, n int) backend.Tensor {
	if !w.Has(name) {
		return nil
	}
	return w.Vector(name, n)
}

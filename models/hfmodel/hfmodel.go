// Package hfmodel is the architecture registry and the shared weight binder. Each architecture
// is one folder (models/llama, models/opt, models/cogvlm2, ...) that registers itself in init()
// with one Register call: its config.json name, a reader of its own hyper-parameters and a
// constructor that binds its tensors through Weights. Open turns a Hugging Face directory
// (config.json + safetensors) into a runtime model.Model of the architecture it names; nothing
// outside the architecture's folder knows it by name. A model that reads images also implements
// models/multimodal.Model, which callers find by a type assertion.
package hfmodel

import (
	"errors"
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
	return open(dir, be, WritePacked)
}

// WritePack loads dir once on be to write its pre-packed sidecar (pack.go) when it is missing or
// stale, as `rpiq quantize` does for the checkpoint it has just written. RPIQ_PACK=read or off
// skips it; so does a backend without kernel layouts or a float checkpoint.
func WritePack(dir string, be backend.Backend) error {
	_, _, closeM, err := open(dir, be, true)
	if err != nil {
		return err
	}
	return closeM()
}

func open(dir string, be backend.Backend, writePack bool) (model.Model, *hf.Config, func() error, error) {
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
	ps, err := openPack(dir, cfg, ck, be, writePack)
	if err != nil {
		ck.Close()
		return nil, nil, nil, err
	}
	m, err := f(cfg, &Weights{Checkpoint: ck, Backend: be, Quant: cfg.Quantization, pack: ps})
	if err != nil {
		ps.close()
		ck.Close()
		return nil, nil, nil, err
	}
	ps.finish()
	return m, cfg, func() error { return errors.Join(ck.Close(), ps.close()) }, nil
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

	pack *packState // the pre-packed sidecar of this load (pack.go); nil: none
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

// Matrix binds the tensor name as a rows×cols backend weight, used in place (F32, BF16, F16)
// when the backend allows. stored is the checkpoint's shape when it is not [rows, cols] (a
// convolution kernel [O, C, k, k] used as O × C·k·k); its elements must number rows·cols. A
// GPTQ module (prefix.qweight, ...) is bound in the backend's quantized layout with its own
// bits (ModuleQuant), or dequantized.
func (w *Weights) Matrix(name string, rows, cols int, stored ...int) backend.Weight {
	if w.Err != nil {
		return nil
	}
	if prefix, ok := strings.CutSuffix(name, ".weight"); ok && w.Quant != nil && quant.IsPacked(w.Checkpoint, prefix) {
		ws := w.packed(prefix, cols, []int{rows}) // quantized as a rows×cols linear, whatever its float shape
		return ws[0]
	}
	if len(stored) == 0 {
		stored = []int{rows, cols}
	}
	if err := w.Checkpoint.CheckShape(name, stored...); err != nil {
		w.fail(err)
		return nil
	}
	ws := w.dense(name, cols, []int{rows})
	return ws[0]
}

// Split binds the [sum(parts) × cols] matrix name (a fused projection such as query_key_value)
// as one weight per block of rows, without copying dense data; a GPTQ module is split on its
// packed words (bits dividing 32; otherwise dequantized).
func (w *Weights) Split(name string, cols int, parts ...int) []backend.Weight {
	if w.Err != nil {
		return make([]backend.Weight, len(parts))
	}
	if prefix, ok := strings.CutSuffix(name, ".weight"); ok && w.Quant != nil && quant.IsPacked(w.Checkpoint, prefix) {
		return w.packed(prefix, cols, parts)
	}
	rows := 0
	for _, p := range parts {
		rows += p
	}
	if err := w.Checkpoint.CheckShape(name, rows, cols); err != nil {
		w.fail(err)
		return make([]backend.Weight, len(parts))
	}
	return w.dense(name, cols, parts)
}

// dense binds the dense tensor name (shape already checked: sum(parts)·cols elements) as one
// weight per block of rows.
func (w *Weights) dense(name string, cols int, parts []int) []backend.Weight {
	out := make([]backend.Weight, len(parts))
	info, data, err := w.Checkpoint.Raw(name)
	if err != nil {
		w.fail(err)
		return out
	}
	var dt backend.DType
	switch info.DType {
	case safetensors.F32:
		dt = backend.F32
	case safetensors.BF16:
		dt = backend.BF16
	case safetensors.F16:
		dt = backend.F16
	default: // F64 and friends: widen once
		v, err := w.Checkpoint.Float32(name)
		if err != nil {
			w.fail(err)
			return out
		}
		w.Bytes += info.Bytes()
		lo := 0
		for i, p := range parts {
			out[i] = w.Backend.NewWeightF32(p, cols, v[lo*cols:(lo+p)*cols])
			lo += p
		}
		return out
	}
	es := len(data) / max(1, int(info.Numel()))
	lo := 0
	for i, p := range parts {
		wt, err := w.Backend.NewWeight(dt, p, cols, data[lo*cols*es:(lo+p)*cols*es])
		if err != nil {
			file, _ := w.Checkpoint.File(name)
			w.fail(&Error{Msg: fmt.Sprintf("%s: tensor %q: %v", file, name, err)})
			return out
		}
		out[i] = wt
		lo += p
	}
	w.Bytes += info.Bytes()
	return out
}

// packed binds the GPTQ module prefix ([sum(parts) × cols], with its own bits) as one weight
// per block of rows: in the backend's quantized layout when it has one (gptq.go), else
// dequantized to float32.
func (w *Weights) packed(prefix string, cols int, parts []int) []backend.Weight {
	out := make([]backend.Weight, len(parts))
	rows := 0
	for _, p := range parts {
		rows += p
	}
	qc, err := ModuleQuant(w.Quant, prefix)
	if err != nil {
		w.fail(err)
		return out
	}
	if ws, ok := w.gptqWeights(prefix, qc, rows, cols, parts); ok {
		if ws == nil {
			return out
		}
		return ws
	}
	v, o, in, err := quant.DequantizeLinear(w.Checkpoint, qc, prefix)
	if err != nil {
		w.fail(err)
		return out
	}
	if o != rows || in != cols {
		w.fail(&Error{Msg: fmt.Sprintf("%s: GPTQ module %s is %d×%d, want %d×%d", w.Checkpoint.Dir(), prefix, o, in, rows, cols)})
		return out
	}
	w.countPacked(prefix)
	lo := 0
	for i, p := range parts {
		out[i] = w.Backend.NewWeightF32(p, cols, v[lo*cols:(lo+p)*cols])
		lo += p
	}
	return out
}

// countPacked adds a GPTQ module's stored tensors to Bytes.
func (w *Weights) countPacked(prefix string) {
	for _, suffix := range []string{".qweight", ".qzeros", ".scales", ".g_idx"} {
		if info, ok := w.Checkpoint.Info(prefix + suffix); ok {
			w.Bytes += info.Bytes()
		}
	}
}

// Vector binds the 1-D tensor name of length n as a 1×n backend tensor (norm weights, biases).
// stored is the checkpoint's shape when it is not [n] (boi/eoi stored as [1, 1, H]); its
// elements must number n.
func (w *Weights) Vector(name string, n int, stored ...int) backend.Tensor {
	if len(stored) == 0 {
		stored = []int{n}
	}
	ts := w.vectors(name, stored, []int{n})
	return ts[0]
}

// SplitVector binds the 1-D tensor name as consecutive 1×p tensors (a fused bias).
func (w *Weights) SplitVector(name string, parts ...int) []backend.Tensor {
	n := 0
	for _, p := range parts {
		n += p
	}
	return w.vectors(name, []int{n}, parts)
}

func (w *Weights) vectors(name string, stored, parts []int) []backend.Tensor {
	out := make([]backend.Tensor, len(parts))
	if w.Err != nil {
		return out
	}
	n := 1
	for _, d := range stored {
		n *= d
	}
	sum := 0
	for _, p := range parts {
		sum += p
	}
	if n != sum {
		w.fail(&Error{Msg: fmt.Sprintf("%s: tensor %q: a stored shape %v is not %d values", w.Checkpoint.Dir(), name, stored, sum)})
		return out
	}
	v, err := w.Checkpoint.Float32(name, stored...)
	if err != nil {
		w.fail(err)
		return out
	}
	info, _ := w.Checkpoint.Info(name)
	w.Bytes += info.Bytes()
	lo := 0
	for i, p := range parts {
		out[i] = w.Backend.NewTensor(1, p)
		w.Backend.Upload(out[i], v[lo:lo+p])
		lo += p
	}
	return out
}

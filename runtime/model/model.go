// Package model says what a loaded model is to the code that uses it: the generation loop,
// evaluation (logits for every position) and the quantizer (one decoder layer at a time).
// Architectures (models/llama, models/opt) implement these interfaces; models/hfmodel opens a
// Hugging Face directory as one.
package model

import (
	"fmt"

	"github.com/rpiq/rpiq/runtime/backend"
)

// Info is what callers need to know about a model.
type Info struct {
	Arch   string // config.json architecture, e.g. "LlamaForCausalLM"
	Vocab  int
	Hidden int
	Layers int
	MaxSeq int     // max_position_embeddings
	BOS    int32   // -1 when none
	EOS    []int32 // generation stops on any of these
	// WeightBytes is the bytes of all parameters as stored; KVBytesPerPos the KV cache bytes one
	// position costs.
	WeightBytes   int64
	KVBytesPerPos int64
}

// Model is a causal language model.
type Model interface {
	Info() Info
	// NewCache returns a KV cache for up to maxSeq positions.
	NewCache(maxSeq int) backend.Cache
	// Forward runs tokens at positions c.Len()... and appends them to c. It returns the logits
	// of the last token (all=false, Vocab values) or of every token (all=true, n×Vocab).
	Forward(c backend.Cache, tokens []int32, all bool) ([]float32, error)
}

// Logits runs a fresh, batched forward pass over tokens and returns n×Vocab logits: row i is
// the distribution of the token after tokens[:i+1]. This is what perplexity and KL need.
func Logits(m Model, tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	if max := m.Info().MaxSeq; max > 0 && len(tokens) > max {
		return nil, fmt.Errorf("model: window of %d tokens exceeds max_position_embeddings %d", len(tokens), max)
	}
	return m.Forward(m.NewCache(len(tokens)), tokens, true)
}

// Linear names one linear module of a decoder layer.
type Linear struct {
	Name    string // HF module name, e.g. "model.layers.3.self_attn.q_proj" (tensor = Name+".weight")
	In, Out int
	Bias    bool
}

// Hook sees the input x (rows × In values) of the linear module name right before it runs. x is
// a fresh copy: the hook may keep it.
type Hook func(name string, x []float32, rows int)

// Layered is implemented by decoder-only models so a quantizer can work layer by layer on
// captured activations (GPTQ's sequential scheme).
type Layered interface {
	Model
	NumLayers() int
	// Embed returns the hidden states entering layer 0 for tokens at positions 0..n-1
	// (n×Hidden; OPT: token + position embedding, after project_in).
	Embed(tokens []int32) ([]float32, error)
	// Linears lists layer i's linear modules in true-sequential groups (modules of one group
	// read the same input): attention inputs, attention output, MLP inputs, MLP output.
	Linears(i int) [][]Linear
	// RunLayer runs layer i on h (n×Hidden) as one causal sequence at positions 0..n-1 with a
	// private cache, calling hook (if not nil) with the input of each group of Linears(i),
	// under the name of the group's first module (modules of a group share their input).
	RunLayer(i int, h []float32, n int, hook Hook) ([]float32, error)
	// LinearF32 returns a float32 copy of a linear's weight (Out×In, row-major) and bias (nil
	// when it has none).
	LinearF32(name string) (w, bias []float32, err error)
	// SetLinear replaces a linear's weight (Out×In); a nil bias keeps the current bias.
	SetLinear(name string, w backend.Weight, bias []float32) error
	// Head applies the final norm and the output projection to h (n×Hidden): n×Vocab logits.
	Head(h []float32, n int) ([]float32, error)
}

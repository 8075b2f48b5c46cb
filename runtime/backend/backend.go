// Package backend is the small set of operations model code is written against, so the same
// model runs on the CPU (runtime/cpubackend) and, later, on CUDA. Activations are Tensors owned
// by a backend (row-major float32 matrices: one row per token); weights are Weights in whatever
// layout the backend prefers (float32, bfloat16/half as stored, or quantized). The conformance
// suite in backendtest checks every op of a backend against a float64 reference.
package backend

import "fmt"

// DType is how a weight's numbers are stored.
type DType uint8

const (
	F32 DType = iota
	F16
	BF16
	// Quantized covers weights whose format a backend-specific package defines (kernels/cpu/q).
	Quantized
)

func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case BF16:
		return "BF16"
	case Quantized:
		return "quantized"
	}
	return fmt.Sprintf("DType(%d)", d)
}

// Size is the bytes per element of a dense dtype (0 for Quantized).
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// Tensor is a row-major float32 matrix of activations living in a backend.
type Tensor interface {
	Rows() int
	Cols() int
}

// Weight is a [Rows × Cols] matrix of parameters (Hugging Face layout: Rows = out_features,
// Cols = in_features) in a backend's own layout.
type Weight interface {
	Rows() int
	Cols() int
	DType() DType
}

// Cache holds the keys and values of every layer for up to Cap positions. Len is the number of
// positions already filled; the model advances it after each forward pass.
type Cache interface {
	Len() int
	Cap() int
	SetLen(n int)
}

// Attn describes multi-head attention with grouped keys/values (GQA): query head h reads
// key/value head h / (Heads/KVHeads). Scale multiplies q·k (usually 1/sqrt(HeadDim)).
type Attn struct {
	Heads, KVHeads, HeadDim int
	Scale                   float32
}

// Backend runs the ops. Shapes are checked by the implementation: a mismatch is a programming
// error and panics with a message naming the op.
type Backend interface {
	Name() string

	// NewTensor returns a zeroed rows×cols tensor.
	NewTensor(rows, cols int) Tensor
	// Upload copies host data (rows*cols values) into t; Download copies t out.
	Upload(t Tensor, src []float32)
	Download(dst []float32, t Tensor)
	// Rows is a view of rows [lo, hi) of t sharing its storage.
	Rows(t Tensor, lo, hi int) Tensor

	// NewWeight wraps little-endian data of a dense dtype (as in a safetensors file). The
	// backend may keep a reference to data instead of copying it (memory-mapped weights).
	NewWeight(dt DType, rows, cols int, data []byte) (Weight, error)
	// NewWeightF32 wraps float32 values (kept by reference).
	NewWeightF32(rows, cols int, data []float32) Weight
	// WeightF32 returns a float32 copy of w, row-major.
	WeightF32(w Weight) []float32

	// NewCache allocates a KV cache of layers × maxSeq positions × kvDim values for K and V.
	NewCache(layers, maxSeq, kvDim int) Cache

	// MatMul sets dst[n×m] = x[n×k] · wᵀ, w being m×k.
	MatMul(dst, x Tensor, w Weight)
	// AddBias adds the 1×cols tensor b to every row of x.
	AddBias(x, b Tensor)
	// Add sets dst = a + b (same shapes; dst may alias a or b).
	Add(dst, a, b Tensor)
	// Copy copies src into dst (same shape).
	Copy(dst, src Tensor)
	// RMSNorm normalizes each group of w.Cols() values of each row of x (w is 1×g, g divides
	// x.Cols(): g = Cols for a layer norm, g = head_dim for Qwen3's per-head q/k norm).
	RMSNorm(dst, x, w Tensor, eps float32)
	// LayerNorm is (x - mean)/sqrt(var + eps)·w + b over each row (w, b are 1×Cols).
	LayerNorm(dst, x, w, b Tensor, eps float32)
	// RoPE rotates every head (headDim values) of every row of x in place, HF rotate-half style;
	// row i is at position pos+i; invFreq has headDim/2 entries.
	RoPE(x Tensor, headDim, pos int, invFreq []float32)
	// Attention stores k and v (n×KVHeads·HeadDim) at positions pos..pos+n-1 of the cache's layer,
	// then sets dst (n×Heads·HeadDim) to causal attention of q over positions 0..pos+i for row i.
	Attention(dst, q, k, v Tensor, c Cache, layer, pos int, a Attn)
	// SwiGLU sets dst = silu(gate)·up.
	SwiGLU(dst, gate, up Tensor)
	// ReLU and GELU (exact, erf) apply in place.
	ReLU(x Tensor)
	GELU(x Tensor)
	// Embed sets row i of dst to row ids[i] of table.
	Embed(dst Tensor, table Weight, ids []int32)

	// Vision-language ops (CogVLM2; CPU implementations in runtime/cpubackend/vision.go).

	// RoPEAt is RoPE with an explicit position per row: row i is at pos[i] (CogVLM2 gives
	// every image token the same position).
	RoPEAt(x Tensor, headDim int, pos []int32, invFreq []float32)
	// AttentionFull sets dst (n×Heads·HeadDim) to bidirectional attention of every row of q
	// over all m rows of k and v (m×KVHeads·HeadDim), without a cache (a ViT's attention).
	AttentionFull(dst, q, k, v Tensor, a Attn)
	// Im2Col gathers non-overlapping k×k patches of x, a gh×gw grid of tokens (gh·gw rows of C
	// values, row-major), into dst ((gh/k)·(gw/k) rows of C·k·k values, column c·k·k+dy·k+dx),
	// so a stride-k convolution with a PyTorch [O, C, k, k] weight is one MatMul.
	Im2Col(dst, x Tensor, gh, gw, k int)
}

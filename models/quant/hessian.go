package quant

import (
	"fmt"
	"math"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// Hessian accumulates GPTQ's H = 2/nsamples · Σ_tokens x xᵀ for one linear module's inputs.
// nsamples counts sequences, as in the IST-DASLab/AutoGPTQ add_batch (one call per sequence), so
// a single sequence's Gram XᵀX is about H/2: RPIQ's κ = ½ (reference §1.3). The sum is kept in
// float64 over float32 chunk products and normalised once in Matrix, which equals the
// reference's running normalisation up to rounding.
type Hessian struct {
	N       int
	Samples int // sequences added
	Tokens  int
	sum     []float64 // upper triangle (i <= j) of Σ x xᵀ
	buf     []float32 // transposed chunk, n × chunkTokens
	scratch []float32
}

// NewHessian returns an empty accumulator for n input features.
func NewHessian(n int) *Hessian { return &Hessian{N: n, sum: make([]float64, n*n)} }

// chunkTokens is how many tokens one accumulation pass reads.
const chunkTokens = 512

// Add accumulates one sequence of tokens rows of N inputs (row-major float32).
func (h *Hessian) Add(x []float32, tokens int) error { return h.AddBatch(x, tokens, 1) }

// AddBatch accumulates seqs sequences holding tokens rows in all.
func (h *Hessian) AddBatch(x []float32, tokens, seqs int) error {
	n := h.N
	if len(x) != tokens*n {
		return fmt.Errorf("quant: Hessian input has %d values, want %d tokens × %d", len(x), tokens, n)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("quant: non-finite activation %v (token %d, feature %d)", v, i/n, i%n)
		}
	}
	if h.buf == nil {
		h.buf = make([]float32, n*chunkTokens)
	}
	for t0 := 0; t0 < tokens; t0 += chunkTokens {
		T := min(chunkTokens, tokens-t0)
		xt := h.buf[:n*T]
		transpose(xt, x[t0*n:(t0+T)*n], T, n)
		accumulate(h.sum, xt, xt, n, T, true, &h.scratch)
	}
	h.Samples += seqs
	h.Tokens += tokens
	return nil
}

// Matrix returns H = 2/Samples · Σ x xᵀ with both triangles filled.
func (h *Hessian) Matrix() []float64 {
	n := h.N
	out := make([]float64, n*n)
	if h.Samples == 0 {
		return out
	}
	f := 2 / float64(h.Samples)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			v := f * h.sum[i*n+j]
			out[i*n+j], out[j*n+i] = v, v
		}
	}
	return out
}

// Cross accumulates C = 2/nsamples · Σ x̃ xᵀ, x̃ the full-precision model's input to the module and
// x the quantized model's: with H it gives the FP-target residual Rᵀ X = W_fp C − W_q H.
type Cross struct {
	N       int
	Samples int
	sum     []float64 // full n×n, row index = x̃ feature
	bufA    []float32
	bufB    []float32
	scratch []float32
}

// NewCross returns an empty cross accumulator.
func NewCross(n int) *Cross { return &Cross{N: n, sum: make([]float64, n*n)} }

// Add accumulates one sequence: xfp and xq are tokens × N.
func (c *Cross) Add(xfp, xq []float32, tokens int) error {
	n := c.N
	if len(xfp) != tokens*n || len(xq) != tokens*n {
		return fmt.Errorf("quant: cross accumulator inputs have %d and %d values, want %d tokens × %d", len(xfp), len(xq), tokens, n)
	}
	if c.bufA == nil {
		c.bufA = make([]float32, n*chunkTokens)
		c.bufB = make([]float32, n*chunkTokens)
	}
	for t0 := 0; t0 < tokens; t0 += chunkTokens {
		T := min(chunkTokens, tokens-t0)
		a, b := c.bufA[:n*T], c.bufB[:n*T]
		transpose(a, xfp[t0*n:(t0+T)*n], T, n)
		transpose(b, xq[t0*n:(t0+T)*n], T, n)
		accumulate(c.sum, a, b, n, T, false, &c.scratch)
	}
	c.Samples++
	return nil
}

// Matrix returns C = 2/Samples · Σ x̃ xᵀ.
func (c *Cross) Matrix() []float64 {
	out := make([]float64, len(c.sum))
	if c.Samples == 0 {
		return out
	}
	f := 2 / float64(c.Samples)
	for i, v := range c.sum {
		out[i] = f * v
	}
	return out
}

// rowBlock is the number of feature rows one product covers: 256 rows × 512 tokens of float32
// (512 KiB) against the partner rows streaming by.
const rowBlock = 256

// accumulate adds A Bᵀ into the float64 n×n sum, where A and B are n×T float32 (one feature per
// row, T tokens): each 256-row block is one float32 GEMM on the worker pool (kernels/cpu's AVX2
// micro-kernel), summed in float64, so rounding is that of a T-term float32 dot product per
// chunk (the reference accumulates all of H in float32). upper computes only the blocks on or
// right of the diagonal (A = B: the Hessian), about half the work. This is the hot loop of
// calibration.
func accumulate(sum []float64, A, B []float32, n, T int, upper bool, scratch *[]float32) {
	p := cpu.Default()
	for i0 := 0; i0 < n; i0 += rowBlock {
		i1 := min(i0+rowBlock, n)
		j0 := 0
		if upper {
			j0 = i0
		}
		rows, cols := i1-i0, n-j0
		if cap(*scratch) < rows*cols {
			*scratch = make([]float32, rows*cols)
		}
		dst := (*scratch)[:rows*cols]
		p.MatMulF32(dst, A[i0*T:i1*T], B[j0*T:], rows, T, cols)
		p.Run(rows, 8, func(lo, hi int) { // the float64 sum on every worker, not one
			for a := lo; a < hi; a++ {
				row := sum[(i0+a)*n+j0 : (i0+a+1)*n]
				for j, v := range dst[a*cols : (a+1)*cols] {
					row[j] += float64(v)
				}
			}
		})
	}
}

// transpose writes the rows×cols matrix x into dst as cols×rows, 16 columns at a time (one
// cache line of a row of x feeds 16 rows of dst) on every worker.
func transpose(dst, x []float32, rows, cols int) {
	const w = 16
	cpu.Default().Run((cols+w-1)/w, 4, func(lo, hi int) {
		for c0 := lo * w; c0 < min(hi*w, cols); c0 += w {
			c1 := min(c0+w, cols)
			for t := 0; t < rows; t++ {
				for c, v := range x[t*cols+c0 : t*cols+c1] {
					dst[(c0+c)*rows+t] = v
				}
			}
		}
	})
}

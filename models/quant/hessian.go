package quant

import (
	"fmt"
	"math"
	"time"

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
	sum     []float64 // upper triangle (i <= j) of Σ x xᵀ; some entries below it too
}

// NewHessian returns an empty accumulator for n input features.
func NewHessian(n int) *Hessian { return &Hessian{N: n, sum: cpu.MakeHuge[float64](n * n)} }

// chunkTokens is how many tokens one accumulation pass reads.
const chunkTokens = 512

// Add accumulates one sequence of tokens rows of N inputs (row-major float32).
func (h *Hessian) Add(x []float32, tokens int) error { return h.AddBatch(x, tokens, 1) }

// AddBatch accumulates seqs sequences holding tokens rows in all.
func (h *Hessian) AddBatch(x []float32, tokens, seqs int) error {
	if err := h.check(x, tokens); err != nil {
		return err
	}
	accumulate(cpu.Default(), h.sum, x, x, h.N, tokens, true)
	h.Samples += seqs
	h.Tokens += tokens
	return nil
}

func (h *Hessian) check(x []float32, tokens int) error {
	n := h.N
	if len(x) != tokens*n {
		return fmt.Errorf("quant: Hessian input has %d values, want %d tokens × %d", len(x), tokens, n)
	}
	if i := nonFinite(x); i >= 0 {
		return fmt.Errorf("quant: non-finite activation %v (token %d, feature %d)", x[i], i/n, i%n)
	}
	return nil
}

// Products is one sequence's share of an accumulator, computed apart from the sum (on another
// thread, while the sum takes earlier sequences) and added later with AddProducts: each chunk's
// float32 products widened into an n×n float64 matrix of its own (0 where Add adds nothing), so
// Add(x) and AddProducts(Products(x)) leave the same bits in the sum.
type Products struct {
	tokens int
	prod   []float64
}

// ProductsLen is the number of float64 values Products holds for one sequence of tokens rows:
// callers use it to decide whether holding them is worth it.
func ProductsLen(n, tokens int) int {
	return n * n * ((tokens + chunkTokens - 1) / chunkTokens)
}

// Products computes x's share into pr (reused) on pool p.
func (h *Hessian) Products(p *cpu.Pool, pr *Products, x []float32, tokens int) error {
	if err := h.check(x, tokens); err != nil {
		return err
	}
	products(p, pr, x, x, h.N, tokens, true)
	return nil
}

// AddProducts adds a sequence's share computed by Products.
func (h *Hessian) AddProducts(pr *Products) {
	addProducts(h.sum, pr, h.N)
	h.Samples++
	h.Tokens += pr.tokens
}

// Matrix returns H = 2/Samples · Σ x xᵀ with both triangles filled.
func (h *Hessian) Matrix() []float64 {
	n := h.N
	out := cpu.MakeHuge[float64](n * n)
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

// TakeMatrix returns the same matrix as Matrix, built in place in the accumulator's own buffer
// (the upper triangle is scaled and mirrored), and empties h: one n×n buffer instead of two
// (1.6 GB at n = 14336). h must not be used afterwards.
func (h *Hessian) TakeMatrix() []float64 {
	n := h.N
	out := h.sum
	h.sum = nil
	if h.Samples == 0 {
		clear(out)
		return out
	}
	f := 2 / float64(h.Samples)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			v := f * out[i*n+j]
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
}

// NewCross returns an empty cross accumulator.
func NewCross(n int) *Cross { return &Cross{N: n, sum: cpu.MakeHuge[float64](n * n)} }

// Add accumulates one sequence: xfp and xq are tokens × N.
func (c *Cross) Add(xfp, xq []float32, tokens int) error {
	if err := c.check(xfp, xq, tokens); err != nil {
		return err
	}
	accumulate(cpu.Default(), c.sum, xfp, xq, c.N, tokens, false)
	c.Samples++
	return nil
}

func (c *Cross) check(xfp, xq []float32, tokens int) error {
	n := c.N
	if len(xfp) != tokens*n || len(xq) != tokens*n {
		return fmt.Errorf("quant: cross accumulator inputs have %d and %d values, want %d tokens × %d", len(xfp), len(xq), tokens, n)
	}
	return nil
}

// Products computes one sequence's share into pr (reused) on pool p (see Hessian.Products).
func (c *Cross) Products(p *cpu.Pool, pr *Products, xfp, xq []float32, tokens int) error {
	if err := c.check(xfp, xq, tokens); err != nil {
		return err
	}
	products(p, pr, xfp, xq, c.N, tokens, false)
	return nil
}

// AddProducts adds a sequence's share computed by Products.
func (c *Cross) AddProducts(pr *Products) {
	addProducts(c.sum, pr, c.N)
	c.Samples++
}

// Matrix returns C = 2/Samples · Σ x̃ xᵀ.
func (c *Cross) Matrix() []float64 {
	out := cpu.MakeHuge[float64](len(c.sum))
	if c.Samples == 0 {
		return out
	}
	f := 2 / float64(c.Samples)
	for i, v := range c.sum {
		out[i] = f * v
	}
	return out
}

// TakeMatrix is Matrix computed in place in c's buffer; c must not be used afterwards.
func (c *Cross) TakeMatrix() []float64 {
	out := c.sum
	c.sum = nil
	if c.Samples == 0 {
		clear(out)
		return out
	}
	f := 2 / float64(c.Samples)
	for i, v := range out {
		out[i] = f * v
	}
	return out
}

// accumulate adds A_tᵀ B_t over every chunk t of 512 tokens into the float64 n×n sum, where
// A and B are tokens × n float32 activations: each chunk's products are summed in float32 (the
// reference accumulates all of H in float32) and added to the sum once, by kernels/cpu's Gram
// kernel on pool p. upper computes only the entries on or right of the diagonal (A = B: the
// Hessian), about half the work. This is the hot loop of calibration.
func accumulate(p *cpu.Pool, sum []float64, A, B []float32, n, tokens int, upper bool) {
	for t0 := 0; t0 < tokens; t0 += chunkTokens {
		T := min(chunkTokens, tokens-t0)
		p.GramAddF64(sum, n, A[t0*n:(t0+T)*n], B[t0*n:(t0+T)*n], n, T, n, upper)
	}
}

// products computes every chunk's share of one sequence (A = xa, B = xb, tokens × n) into pr on
// pool p: chunk c's products into a cleared n×n matrix of its own, the order addProducts adds
// them in.
func products(p *cpu.Pool, pr *Products, xa, xb []float32, n, tokens int, upper bool) {
	pr.tokens = tokens
	want := ProductsLen(n, tokens)
	if cap(pr.prod) < want {
		pr.prod = cpu.MakeHuge[float64](want)
	}
	pr.prod = pr.prod[:want]
	clear(pr.prod)
	for c, t0 := 0, 0; t0 < tokens; c, t0 = c+1, t0+chunkTokens {
		T := min(chunkTokens, tokens-t0)
		p.GramAddF64(pr.prod[c*n*n:(c+1)*n*n], n, xa[t0*n:(t0+T)*n], xb[t0*n:(t0+T)*n], n, T, n, upper)
	}
}

// addProducts adds what products computed, chunk after chunk: sum + (0 + v) is sum + v, the
// bits Add leaves.
func addProducts(sum []float64, pr *Products, n int) {
	for c := 0; c < len(pr.prod)/(n*n); c++ {
		for i, v := range pr.prod[c*n*n : (c+1)*n*n] {
			sum[i] += v
		}
	}
}

// pairProducts is Hessian.Products of x into hp and, when c is not nil, Cross.Products of
// (xfp, x) into cp; crossTime is the part spent on the cross products.
func (h *Hessian) pairProducts(p *cpu.Pool, hp *Products, c *Cross, cp *Products, xfp, x []float32, tokens int) (crossTime time.Duration, err error) {
	if err := h.check(x, tokens); err != nil {
		return 0, err
	}
	if c != nil {
		if err := c.check(xfp, x, tokens); err != nil {
			return 0, err
		}
	}
	products(p, hp, x, x, h.N, tokens, true)
	if c != nil {
		tc := time.Now()
		products(p, cp, xfp, x, h.N, tokens, false)
		crossTime = time.Since(tc)
	}
	return crossTime, nil
}

// nonFinite is the index of the first NaN or ±Inf in x, -1 if none (a bit test: all exponent
// bits set).
func nonFinite(x []float32) int {
	for i, v := range x {
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}

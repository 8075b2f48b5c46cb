package quant

import (
	"fmt"
	"math"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// Hessian accumulates GPTQ's H = 2/nsamples · Σ_tokens x xᵀ for one linear module's inputs.
// nsamples counts sequences, as in the IST-DASLab/AutoGPTQ add_batch (one call per sequence), so
// a single sequence's Gram XᵀX is about H/2: RPIQ's κ = ½ (reference §1.3). The sum is kept in
// float64 and normalised once in Matrix, which equals the reference's running normalisation up to
// rounding.
type Hessian struct {
	N       int
	Samples int // sequences added
	Tokens  int
	sum     []float64 // upper triangle (i <= j) of Σ x xᵀ
	buf     []float64 // transposed float64 chunk, n × chunkTokens
}

// NewHessian returns an empty accumulator for n input features.
func NewHessian(n int) *Hessian { return &Hessian{N: n, sum: make([]float64, n*n)} }

// chunkTokens is how many tokens one syrk pass reads: 256 float64 per feature row keeps a
// 4-row panel and its partner rows in L1/L2.
const chunkTokens = 256

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
		h.buf = make([]float64, n*chunkTokens)
	}
	for t0 := 0; t0 < tokens; t0 += chunkTokens {
		T := min(chunkTokens, tokens-t0)
		xt := h.buf[:n*T]
		for t := 0; t < T; t++ {
			row := x[(t0+t)*n : (t0+t+1)*n]
			for i, v := range row {
				xt[i*T+t] = float64(v)
			}
		}
		syrkUpper(h.sum, xt, xt, n, T, true)
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
	bufA    []float64
	bufB    []float64
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
		c.bufA = make([]float64, n*chunkTokens)
		c.bufB = make([]float64, n*chunkTokens)
	}
	for t0 := 0; t0 < tokens; t0 += chunkTokens {
		T := min(chunkTokens, tokens-t0)
		a, b := c.bufA[:n*T], c.bufB[:n*T]
		for t := 0; t < T; t++ {
			ra := xfp[(t0+t)*n : (t0+t+1)*n]
			rb := xq[(t0+t)*n : (t0+t+1)*n]
			for i := range ra {
				a[i*T+t] = float64(ra[i])
				b[i*T+t] = float64(rb[i])
			}
		}
		syrkUpper(c.sum, a, b, n, T, false)
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

// syrkUpper adds A Bᵀ to the n×n matrix s, where A and B are n×T row-major (one feature per
// row): only tiles on or above the diagonal when upper, else all tiles. Tiles of 64×64 are spread
// over the worker pool; inside a tile a 4×4 register block runs over the T tokens. This is the hot
// loop of calibration.
func syrkUpper(s, A, B []float64, n, T int, upper bool) {
	const tile = 64
	nt := (n + tile - 1) / tile
	type pair struct{ i, j int }
	pairs := make([]pair, 0, nt*nt)
	for i := 0; i < nt; i++ {
		j0 := 0
		if upper {
			j0 = i
		}
		for j := j0; j < nt; j++ {
			pairs = append(pairs, pair{i, j})
		}
	}
	cpu.Default().Run(len(pairs), 1, func(lo, hi int) {
		for _, p := range pairs[lo:hi] {
			i0, i1 := p.i*tile, min(p.i*tile+tile, n)
			j0, j1 := p.j*tile, min(p.j*tile+tile, n)
			tileKernel(s, A, B, n, T, i0, i1, j0, j1, upper && p.i == p.j)
		}
	})
}

// tileKernel adds rows [i0,i1) × [j0,j1) of A Bᵀ into s; diag skips j < i (the lower triangle
// of a diagonal tile) blockwise.
func tileKernel(s, A, B []float64, n, T, i0, i1, j0, j1 int, diag bool) {
	i := i0
	for ; i+4 <= i1; i += 4 {
		a0, a1, a2, a3 := A[i*T:(i+1)*T], A[(i+1)*T:(i+2)*T], A[(i+2)*T:(i+3)*T], A[(i+3)*T:(i+4)*T]
		jstart := j0
		if diag {
			jstart = i
		}
		j := jstart
		for ; j+4 <= j1; j += 4 {
			b0, b1, b2, b3 := B[j*T:(j+1)*T], B[(j+1)*T:(j+2)*T], B[(j+2)*T:(j+3)*T], B[(j+3)*T:(j+4)*T]
			var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float64
			b0, b1, b2, b3 = b0[:T], b1[:T], b2[:T], b3[:T]
			a0, a1, a2, a3 = a0[:T], a1[:T], a2[:T], a3[:T]
			for t := 0; t < T; t++ {
				x0, x1, x2, x3 := a0[t], a1[t], a2[t], a3[t]
				y0, y1, y2, y3 := b0[t], b1[t], b2[t], b3[t]
				c00 += x0 * y0
				c01 += x0 * y1
				c02 += x0 * y2
				c03 += x0 * y3
				c10 += x1 * y0
				c11 += x1 * y1
				c12 += x1 * y2
				c13 += x1 * y3
				c20 += x2 * y0
				c21 += x2 * y1
				c22 += x2 * y2
				c23 += x2 * y3
				c30 += x3 * y0
				c31 += x3 * y1
				c32 += x3 * y2
				c33 += x3 * y3
			}
			r0, r1, r2, r3 := s[i*n+j:i*n+j+4], s[(i+1)*n+j:(i+1)*n+j+4], s[(i+2)*n+j:(i+2)*n+j+4], s[(i+3)*n+j:(i+3)*n+j+4]
			r0[0] += c00
			r0[1] += c01
			r0[2] += c02
			r0[3] += c03
			r1[0] += c10
			r1[1] += c11
			r1[2] += c12
			r1[3] += c13
			r2[0] += c20
			r2[1] += c21
			r2[2] += c22
			r2[3] += c23
			r3[0] += c30
			r3[1] += c31
			r3[2] += c32
			r3[3] += c33
		}
		for ; j < j1; j++ {
			for ii := i; ii < i+4; ii++ {
				s[ii*n+j] += dot(A[ii*T:(ii+1)*T], B[j*T:(j+1)*T])
			}
		}
	}
	for ; i < i1; i++ {
		jstart := j0
		if diag {
			jstart = i
		}
		for j := jstart; j < j1; j++ {
			s[i*n+j] += dot(A[i*T:(i+1)*T], B[j*T:(j+1)*T])
		}
	}
}

func dot(a, b []float64) float64 {
	b = b[:len(a)]
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

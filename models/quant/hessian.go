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
	if err := h.check(x, tokens); err != nil {
		return err
	}
	if h.buf == nil {
		h.buf = make([]float32, n*chunkTokens)
	}
	for t0 := 0; t0 < tokens; t0 += chunkTokens {
		T := min(chunkTokens, tokens-t0)
		xt := h.buf[:n*T]
		transpose(cpu.Default(), xt, x[t0*n:(t0+T)*n], T, n)
		accumulate(h.sum, xt, xt, n, T, true, &h.scratch)
	}
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
// thread, while the sum takes earlier sequences) and added later with AddProducts: the float32
// block products that Add would add, in the order Add adds them, so Add(x) and
// AddProducts(Products(x)) leave the same bits in the sum.
type Products struct {
	tokens int
	prod   []float32
	bufA   []float32
	bufB   []float32
}

// ProductsLen is the number of float32 values Products holds for one sequence of tokens rows:
// callers use it to decide whether holding them is worth it.
func ProductsLen(n, tokens int, upper bool) int {
	per := 0
	eachBlock(n, upper, func(i0, i1, j0 int) { per += (i1 - i0) * (n - j0) })
	return per * ((tokens + chunkTokens - 1) / chunkTokens)
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
	addProducts(h.sum, pr, h.N, true)
	h.Samples++
	h.Tokens += pr.tokens
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

// TakeMatrix returns the same matrix as Matrix, built in place in the accumulator's own buffer
// (the upper triangle is scaled and mirrored), and empties h: one n×n buffer instead of two
// (1.6 GB at n = 14336). h must not be used afterwards.
func (h *Hessian) TakeMatrix() []float64 {
	n := h.N
	out := h.sum
	h.sum, h.buf, h.scratch = nil, nil, nil
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
	bufA    []float32
	bufB    []float32
	scratch []float32
}

// NewCross returns an empty cross accumulator.
func NewCross(n int) *Cross { return &Cross{N: n, sum: make([]float64, n*n)} }

// Add accumulates one sequence: xfp and xq are tokens × N.
func (c *Cross) Add(xfp, xq []float32, tokens int) error {
	n := c.N
	if err := c.check(xfp, xq, tokens); err != nil {
		return err
	}
	if c.bufA == nil {
		c.bufA = make([]float32, n*chunkTokens)
		c.bufB = make([]float32, n*chunkTokens)
	}
	for t0 := 0; t0 < tokens; t0 += chunkTokens {
		T := min(chunkTokens, tokens-t0)
		a, b := c.bufA[:n*T], c.bufB[:n*T]
		transpose(cpu.Default(), a, xfp[t0*n:(t0+T)*n], T, n)
		transpose(cpu.Default(), b, xq[t0*n:(t0+T)*n], T, n)
		accumulate(c.sum, a, b, n, T, false, &c.scratch)
	}
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
	addProducts(c.sum, pr, c.N, false)
	c.Samples++
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

// TakeMatrix is Matrix computed in place in c's buffer; c must not be used afterwards.
func (c *Cross) TakeMatrix() []float64 {
	out := c.sum
	c.sum, c.bufA, c.bufB, c.scratch = nil, nil, nil, nil
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
	eachBlock(n, upper, func(i0, i1, j0 int) {
		rows, cols := i1-i0, n-j0
		if cap(*scratch) < rows*cols {
			*scratch = make([]float32, rows*cols)
		}
		dst := (*scratch)[:rows*cols]
		blockProduct(p, dst, A, B, n, T, i0, i1, j0)
		p.Run(rows, 8, func(lo, hi int) { // the float64 sum on every worker, not one
			blockAdd(sum, dst, n, i0, j0, lo, hi)
		})
	})
}

// eachBlock calls fn for every block of the n×n sum that one product covers: rows i0..i1 (256
// at most) and columns j0..n (j0 = i0 for the upper triangle, else 0).
func eachBlock(n int, upper bool, fn func(i0, i1, j0 int)) {
	for i0 := 0; i0 < n; i0 += rowBlock {
		j0 := 0
		if upper {
			j0 = i0
		}
		fn(i0, min(i0+rowBlock, n), j0)
	}
}

// blockProduct sets dst to the block's float32 product A[i0:i1] B[j0:]ᵀ. The GEMM gives the same
// bits on any pool size (kernels/cpu splits output columns, never the sum over tokens).
func blockProduct(p *cpu.Pool, dst, A, B []float32, n, T, i0, i1, j0 int) {
	p.MatMulF32(dst, A[i0*T:i1*T], B[j0*T:], i1-i0, T, n-j0)
}

// blockAdd adds rows lo..hi of a block's product into the float64 sum.
func blockAdd(sum []float64, dst []float32, n, i0, j0, lo, hi int) {
	cols := n - j0
	for a := lo; a < hi; a++ {
		row := sum[(i0+a)*n+j0 : (i0+a+1)*n]
		for j, v := range dst[a*cols : (a+1)*cols] {
			row[j] += float64(v)
		}
	}
}

// products computes every chunk's block products of one sequence (A = xa, B = xb, tokens × n)
// into pr on pool p, chunk after chunk, block after block: the order addProducts adds them.
func products(p *cpu.Pool, pr *Products, xa, xb []float32, n, tokens int, upper bool) {
	pr.tokens = tokens
	if want := ProductsLen(n, tokens, upper); cap(pr.prod) < want {
		pr.prod = make([]float32, want)
	}
	if cap(pr.bufA) < n*chunkTokens {
		pr.bufA, pr.bufB = make([]float32, n*chunkTokens), make([]float32, n*chunkTokens)
	}
	off := 0
	for t0 := 0; t0 < tokens; t0 += chunkTokens {
		T := min(chunkTokens, tokens-t0)
		a, b := pr.bufA[:n*T], pr.bufA[:n*T]
		transpose(p, a, xa[t0*n:(t0+T)*n], T, n)
		if !upper {
			b = pr.bufB[:n*T]
			transpose(p, b, xb[t0*n:(t0+T)*n], T, n)
		}
		eachBlock(n, upper, func(i0, i1, j0 int) {
			sz := (i1 - i0) * (n - j0)
			blockProduct(p, pr.prod[off:off+sz], a, b, n, T, i0, i1, j0)
			off += sz
		})
	}
}

// pairProducts is Hessian.Products of x into hp and, when c is not nil, Cross.Products of
// (xfp, x) into cp, transposing each chunk of x once for both; crossTime is the part spent on
// the cross products.
func (h *Hessian) pairProducts(p *cpu.Pool, hp *Products, c *Cross, cp *Products, xfp, x []float32, tokens int) (crossTime time.Duration, err error) {
	if err := h.check(x, tokens); err != nil {
		return 0, err
	}
	n := h.N
	if c != nil {
		if err := c.check(xfp, x, tokens); err != nil {
			return 0, err
		}
		cp.tokens = tokens
		if want := ProductsLen(n, tokens, false); cap(cp.prod) < want {
			cp.prod = make([]float32, want)
		}
		if cap(cp.bufA) < n*chunkTokens {
			cp.bufA = make([]float32, n*chunkTokens)
		}
	}
	hp.tokens = tokens
	if want := ProductsLen(n, tokens, true); cap(hp.prod) < want {
		hp.prod = make([]float32, want)
	}
	if cap(hp.bufA) < n*chunkTokens {
		hp.bufA = make([]float32, n*chunkTokens)
	}
	hoff, coff := 0, 0
	for t0 := 0; t0 < tokens; t0 += chunkTokens {
		T := min(chunkTokens, tokens-t0)
		xt := hp.bufA[:n*T]
		transpose(p, xt, x[t0*n:(t0+T)*n], T, n)
		eachBlock(n, true, func(i0, i1, j0 int) {
			sz := (i1 - i0) * (n - j0)
			blockProduct(p, hp.prod[hoff:hoff+sz], xt, xt, n, T, i0, i1, j0)
			hoff += sz
		})
		if c == nil {
			continue
		}
		tc := time.Now()
		ft := cp.bufA[:n*T]
		transpose(p, ft, xfp[t0*n:(t0+T)*n], T, n)
		eachBlock(n, false, func(i0, i1, j0 int) {
			sz := (i1 - i0) * (n - j0)
			blockProduct(p, cp.prod[coff:coff+sz], ft, xt, n, T, i0, i1, j0)
			coff += sz
		})
		crossTime += time.Since(tc)
	}
	return crossTime, nil
}

// addProducts adds what products computed, in Add's order.
func addProducts(sum []float64, pr *Products, n int, upper bool) {
	off := 0
	for t0 := 0; t0 < pr.tokens; t0 += chunkTokens {
		eachBlock(n, upper, func(i0, i1, j0 int) {
			sz := (i1 - i0) * (n - j0)
			blockAdd(sum, pr.prod[off:off+sz], n, i0, j0, 0, i1-i0)
			off += sz
		})
	}
}

// transpose writes the rows×cols matrix x into dst as cols×rows, in 8×8 tiles (eight rows of x
// read 32 bytes each, eight rows of dst written 32 bytes each), column strips on every worker
// of p.
func transpose(p *cpu.Pool, dst, x []float32, rows, cols int) {
	p.Run((cols+7)/8, 4, func(lo, hi int) { transposeCols(dst, x, rows, cols, lo*8, min(hi*8, cols)) })
}

// transposeCols is transpose for columns c0..c1 of x (c0 a multiple of 8).
func transposeCols(dst, x []float32, rows, cols, c0, c1 int) {
	r8 := rows &^ 7
	c := c0
	for ; c+8 <= c1; c += 8 {
		for t0 := 0; t0 < r8; t0 += 8 {
			var blk [8][8]float32
			for i := range blk {
				blk[i] = [8]float32(x[(t0+i)*cols+c : (t0+i)*cols+c+8])
			}
			for j := range 8 {
				d := (*[8]float32)(dst[(c+j)*rows+t0 : (c+j)*rows+t0+8])
				d[0], d[1], d[2], d[3] = blk[0][j], blk[1][j], blk[2][j], blk[3][j]
				d[4], d[5], d[6], d[7] = blk[4][j], blk[5][j], blk[6][j], blk[7][j]
			}
		}
		for t := r8; t < rows; t++ {
			for j := c; j < c+8; j++ {
				dst[j*rows+t] = x[t*cols+j]
			}
		}
	}
	for ; c < c1; c++ {
		for t := 0; t < rows; t++ {
			dst[c*rows+t] = x[t*cols+c]
		}
	}
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

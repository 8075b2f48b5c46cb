package quant

import (
	"fmt"
	"math"
	"time"
	"unsafe"

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
	return h.addFinite(x, tokens, seqs)
}

// addFinite is AddBatch for inputs already checked for NaN and ±Inf (the driver checks each
// captured input once).
func (h *Hessian) addFinite(x []float32, tokens, seqs int) error {
	if len(x) != tokens*h.N {
		return fmt.Errorf("quant: Hessian input has %d values, want %d tokens × %d", len(x), tokens, h.N)
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
	out := cpu.MakeHuge[float64](h.N * h.N)
	if h.Samples > 0 {
		copy(out, h.sum)
		symmetrize(out, h.N, 2/float64(h.Samples))
	}
	return out
}

// TakeMatrix returns the same matrix as Matrix, built in place in the accumulator's own buffer
// (the upper triangle is scaled and mirrored), and empties h: one n×n buffer instead of two
// (1.6 GB at n = 14336). h must not be used afterwards.
func (h *Hessian) TakeMatrix() []float64 {
	out := h.sum
	h.sum = nil
	if h.Samples == 0 {
		clear(out)
		return out
	}
	symmetrize(out, h.N, 2/float64(h.Samples))
	return out
}

// symmetrize sets both triangles of the n×n a to f times its upper triangle (i ≤ j), by tiles
// on the pool: a tile's mirrored values land in one other tile, where an element at a time
// they landed in a new row, and often a new page, each (0.6 s at n = 5632).
func symmetrize(a []float64, n int, f float64) {
	const tile = 64
	tiles := (n + tile - 1) / tile
	run := func(lo, hi int) {
		for bi := lo; bi < hi; bi++ {
			i0, i1 := bi*tile, min(bi*tile+tile, n)
			for j0 := i0; j0 < n; j0 += tile {
				j1 := min(j0+tile, n)
				for i := i0; i < i1; i++ {
					row := a[i*n : i*n+j1]
					for j := max(j0, i); j < j1; j++ {
						v := f * row[j]
						row[j] = v
						a[j*n+i] = v
					}
				}
			}
		}
	}
	if n < 256 {
		run(0, tiles)
		return
	}
	cpu.Default().Share(tiles, 1, run) // the first tile rows hold the most
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
	if c.Samples > 0 {
		scaleInto(out, c.sum, 2/float64(c.Samples))
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
	scaleInto(out, out, 2/float64(c.Samples))
	return out
}

// scaleInto sets dst = f·src on the pool.
func scaleInto(dst, src []float64, f float64) {
	parallel(len(dst), func(lo, hi int) {
		for i, v := range src[lo:hi] {
			dst[lo+i] = f * v
		}
	})
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

// nonFinite is the index of the first NaN or ±Inf in x, -1 if none. It tests two values per
// 64-bit word without a branch: a value's exponent bits plus one low exponent unit carry into
// its sign bit exactly when they are all set (the halves cannot carry into each other), so
// one OR over the words says whether any is non-finite, and only then is the index searched.
func nonFinite(x []float32) int {
	const expo, unit, sign = 0x7f800000_7f800000, 0x00800000_00800000, 0x80000000_80000000
	if len(x) == 0 {
		return -1
	}
	y := x
	if uintptr(unsafe.Pointer(&y[0]))%8 != 0 {
		y = y[1:] // the words must be aligned
	}
	var w []uint64
	if len(y) >= 2 {
		w = unsafe.Slice((*uint64)(unsafe.Pointer(&y[0])), len(y)/2)
	}
	var acc0, acc1, acc2, acc3 uint64
	i := 0
	for ; i+4 <= len(w); i += 4 {
		acc0 |= w[i]&expo + unit
		acc1 |= w[i+1]&expo + unit
		acc2 |= w[i+2]&expo + unit
		acc3 |= w[i+3]&expo + unit
	}
	for ; i < len(w); i++ {
		acc0 |= w[i]&expo + unit
	}
	for _, v := range [2]float32{x[0], x[len(x)-1]} { // the values outside the words, if any
		acc0 |= uint64(math.Float32bits(v))&expo + unit
	}
	if (acc0|acc1|acc2|acc3)&sign == 0 {
		return -1
	}
	for i, v := range x {
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}

package quant

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// Config is the stage-1 setting shared by RTN and GPTQ; the defaults are the GPTQ reference's.
type Config struct {
	Grid
	GroupSize    int     // columns per group; -1 = one group per row (per channel)
	ActOrder     bool    // process columns by decreasing Hessian diagonal ("desc_act")
	StaticGroups bool    // groups fitted on the original column order before act-order
	Damp         float64 // relative damping: Damp·mean(diag H) is added to the diagonal
	BlockSize    int     // lazy-batch width, 128 in the reference
}

// DefaultConfig is 4-bit, group 128, asymmetric, damp 0.01, block 128, fp16 scales.
func DefaultConfig() Config {
	return Config{Grid: Grid{Bits: 4, ScaleFP16: true}, GroupSize: 128, Damp: 0.01, BlockSize: 128}
}

func (c Config) validate(n int) error {
	if err := c.Grid.Validate(); err != nil {
		return err
	}
	if c.GroupSize == 0 || c.GroupSize < -1 {
		return fmt.Errorf("quant: group size %d, want a positive number of columns or -1", c.GroupSize)
	}
	if c.Damp < 0 || c.Damp >= 1 {
		return fmt.Errorf("quant: damp %g, want 0 <= damp < 1", c.Damp)
	}
	if n <= 0 {
		return errors.New("quant: empty matrix")
	}
	return nil
}

// groupSize is the effective group width for n columns.
func (c Config) groupSize(n int) int {
	if c.GroupSize == -1 || c.GroupSize > n {
		return n
	}
	return c.GroupSize
}

func (c Config) blockSize() int {
	if c.BlockSize <= 0 {
		return 128
	}
	return c.BlockSize
}

// Quantized is one quantized m×n matrix, columns in their original order.
type Quantized struct {
	Rows, Cols int
	Grid       Grid
	GroupSize  int       // as configured (-1 = per channel)
	Codes      []uint8   // Rows×Cols
	Scales     []float64 // Groups×Rows
	Zeros      []int     // Groups×Rows
	GIdx       []int32   // group of each column
	Perm       []int     // processing order of the columns (identity without act-order)
	Dead       []bool    // columns whose Hessian diagonal was 0 (their weights are 0)
	DampUsed   float64   // relative damping that made the Cholesky factorisation succeed
	Loss       float64   // GPTQ's own estimate Σ (w−q)²/d²/2 (0 for RTN)
}

// Groups is the number of (scale, zero) rows.
func (q *Quantized) Groups() int { return len(q.Scales) / q.Rows }

// Value is the dequantized weight (r, c).
func (q *Quantized) Value(r, c int) float64 {
	g := int(q.GIdx[c])
	return Dequant(int(q.Codes[r*q.Cols+c]), q.Scales[g*q.Rows+r], q.Zeros[g*q.Rows+r])
}

// Dequantize returns the m×n dequantized weights.
func (q *Quantized) Dequantize() []float64 {
	return dequantize(q, cpu.MakeHuge[float64](q.Rows*q.Cols))
}

// DequantizeF32 returns the m×n dequantized weights rounded to float32 (each the float32 of
// Value), in dst when it is large enough: what the quantized model's stream and the report's
// error meters run on, with no float64 copy in between (which, fresh each time, was mostly page
// faults: 16 ns a weight).
func (q *Quantized) DequantizeF32(dst []float32) []float32 {
	return dequantize(q, grow(dst, q.Rows*q.Cols))
}

// dequantize writes every Value into dst (m×n), rows in parallel.
func dequantize[F float32 | float64](q *Quantized, dst []F) []F {
	parallelRows(q.Rows, q.Cols, func(lo, hi int) {
		var lut []F
		for r := lo; r < hi; r++ {
			lut = dequantizeRow(q, r, dst[r*q.Cols:(r+1)*q.Cols], lut)
		}
	})
	return dst
}

// dequantizeRow writes row r's Values into row (Cols long) and returns its table, for the
// caller to pass again with the next row. Up to 4 bits, where the table is no longer than the
// row, it first computes each of the row's groups' 16 possible values (each by Dequant, so the
// same bits) into lut and then looks every weight up: the report's meters, the quantized stream
// and stage 2 dequantize every module several times, and at 3 ns a weight the arithmetic was a
// second of a TinyLlama layer. Codes never exceed Grid.MaxQ().
func dequantizeRow[F float32 | float64](q *Quantized, r int, row, lut []F) []F {
	codes := q.Codes[r*q.Cols : (r+1)*q.Cols]
	if groups := q.Groups(); q.Grid.MaxQ() < 16 && 16*groups <= len(row) {
		lut = grow(lut, 16*groups)
		for g := 0; g < groups; g++ {
			k := g*q.Rows + r
			for c := 0; c < 16; c++ {
				lut[g<<4|c] = F(Dequant(c, q.Scales[k], q.Zeros[k]))
			}
		}
		gidx := q.GIdx[:len(codes)]
		for c, code := range codes {
			row[c] = lut[int(gidx[c])<<4|int(code&15)]
		}
		return lut
	}
	for c, g := range q.GIdx {
		k := int(g)*q.Rows + r
		row[c] = F(Dequant(int(codes[c]), q.Scales[k], q.Zeros[k]))
	}
	return lut
}

// Clone is a deep copy.
func (q *Quantized) Clone() *Quantized {
	c := *q
	c.Codes = cpu.MakeHuge[uint8](len(q.Codes))
	copy(c.Codes, q.Codes)
	c.Scales = append([]float64(nil), q.Scales...)
	c.Zeros = append([]int(nil), q.Zeros...)
	c.GIdx = append([]int32(nil), q.GIdx...)
	c.Perm = append([]int(nil), q.Perm...)
	c.Dead = append([]bool(nil), q.Dead...)
	return &c
}

// checkFinite names the first NaN/Inf of a matrix: a bit test (all exponent bits set) on every
// worker, then a second pass for the index only when one is found.
func checkFinite(what string, x []float64) error {
	var bad atomic.Bool
	parallel(len(x), func(lo, hi int) {
		for _, v := range x[lo:hi] {
			if nonFinite64(v) {
				bad.Store(true)
				return
			}
		}
	})
	if !bad.Load() {
		return nil
	}
	for i, v := range x {
		if nonFinite64(v) {
			return fmt.Errorf("quant: %s has a non-finite value %v at element %d", what, v, i)
		}
	}
	return nil
}

// checkFitsF32 is checkFinite, then a check that every value is within float32's range: the
// large modules are quantized in float32, where such a weight would be infinite.
func checkFitsF32(what string, x []float64) error {
	if err := checkFinite(what, x); err != nil {
		return err
	}
	for i, v := range x {
		if math.IsInf(float64(float32(v)), 0) {
			return fmt.Errorf("quant: %s %v at element %d is beyond float32's range (±%g), in which modules of %d weights or more are quantized", what, v, i, math.MaxFloat32, f32UpdateMin)
		}
	}
	return nil
}

// nonFinite64 is a bit test for NaN and ±Inf (all exponent bits set).
func nonFinite64(v float64) bool { return math.Float64bits(v)&0x7ff0000000000000 == 0x7ff0000000000000 }

// GPTQ quantizes the m×n weights w with the n×n Hessian h (H = 2/N Σ x xᵀ, both triangles
// filled), following the reference fasterquant line by line: dead columns, act-order, static or
// dynamic groups (dynamic groups fitted on the lazily updated outer W, pitfall P2), relative
// damping (raised by 0.01 while the Cholesky factorisation fails), lazy batches and the OBS update.
// w and h are not modified.
func GPTQ(w []float64, m, n int, h []float64, cfg Config) (*Quantized, error) {
	inv, err := NewInverse(h, n, cfg)
	if err != nil {
		return nil, err
	}
	defer inv.Close()
	return inv.GPTQ(w, m)
}

// GPTQInPlace is GPTQ with h used as its working copy (it may be overwritten; w is only read),
// for callers that no longer need it: at n = 14336 that is a 1.6 GB Hessian copy fewer.
// The result is bit-identical to GPTQ's.
func GPTQInPlace(w []float64, m, n int, h []float64, cfg Config) (*Quantized, error) {
	inv, err := NewInverse(h, n, cfg)
	if err != nil {
		return nil, err
	}
	inv.inPlace = true
	defer inv.Close()
	return inv.GPTQ(w, m)
}

// Inverse is what GPTQ needs of one Hessian, computed once for all the modules that read the
// same input (q/k/v, gate/up) where the reference computes it again for each, with the same
// result: the processing order, the dead columns and the upper Cholesky factor U of the damped
// H⁻¹, factored on first use in the precision of the module's path (float32 Uᵀ for large
// modules, float64 U for small ones). Not for concurrent use; Close releases the factors.
type Inverse struct {
	n       int
	cfg     Config
	h       []float64
	inPlace bool      // h may be overwritten (GPTQInPlace)
	diag    []float64 // H's diagonal, the dead columns' entries set to 1
	dead    []bool
	perm    []int
	ut      []float32 // float32 path
	damp    float64
	free    func()
	u       []float64 // float64 path
	damp64  float64
	spare   []uint8 // a dead m×n code matrix the next GPTQ call writes its codes into (reuseCodes)
	// Factors and FactorSec count the factorisations made (each hinvFlops(n) of matrix work)
	// and the time they took.
	Factors   int
	FactorSec float64
	// The rest of the GPTQ calls' time, summed over the calls on the float32 path: the working
	// copy of Wᵀ (ConvertSec), the column loop (ColumnsSec: rounding, the feedback inside each
	// block, the codes) and the deferred products (ProductSec, ProductFlops of matrix work).
	ConvertSec, ColumnsSec, ProductSec, ProductFlops float64
}

// NewInverse checks cfg and h (n×n, both triangles filled, finite) and takes its order; h must
// stay unchanged while the Inverse is in use.
func NewInverse(h []float64, n int, cfg Config) (*Inverse, error) {
	if err := checkHessian(h, n, cfg); err != nil {
		return nil, err
	}
	diag, dead, perm := hessianOrder(h, n, cfg.ActOrder)
	return &Inverse{n: n, cfg: cfg, h: h, diag: diag, dead: dead, perm: perm}, nil
}

// reuseCodes gives the next GPTQ call a code matrix nothing reads any more (the driver's RTN
// baseline, once measured) to write its codes into instead of a fresh one: GPTQ writes every
// code, and a fresh m×n matrix is m·n bytes of new pages (44 MB a TinyLlama layer).
func (v *Inverse) reuseCodes(codes []uint8) { v.spare = codes }

// newCodes is the spare code matrix when it has m·n entries, else a fresh one.
func (v *Inverse) newCodes(m int) []uint8 {
	b := v.spare
	v.spare = nil
	if len(b) != m*v.n {
		b = cpu.MakeHuge[uint8](m * v.n)
	}
	return b
}

// GPTQ quantizes the m×n weights w (only read) with the Inverse's Hessian, as GPTQ does.
func (v *Inverse) GPTQ(w []float64, m int) (*Quantized, error) {
	n := v.n
	if m < 0 || len(w) != m*n {
		return nil, fmt.Errorf("quant: GPTQ got %d weights, want %d×%d", len(w), m, n)
	}
	t := time.Now()
	if m*n < f32UpdateMin {
		if err := checkFinite("weight", w); err != nil {
			return nil, err
		}
		if v.u == nil {
			H := v.h
			if !v.inPlace {
				H = append([]float64(nil), H...)
			}
			for i, d := range v.dead {
				if d {
					H[i*n+i] = v.diag[i]
				}
			}
			if v.cfg.ActOrder {
				H = permuteSym(H, n, v.perm)
			}
			U, damp, err := hinvUpper(H, n, v.cfg.Damp)
			if err != nil {
				return nil, err
			}
			v.u, v.damp64 = U, damp
			v.Factors++
			v.FactorSec += time.Since(t).Seconds()
		}
		return gptq(w, m, n, v)
	}
	if v.ut == nil {
		ut, damp, free, err := hinvUpperF32(v.h, n, v.cfg.Damp, v.perm, v.diag)
		if err != nil {
			return nil, err
		}
		v.ut, v.damp, v.free = ut, damp, free
		v.Factors++
		v.FactorSec += time.Since(t).Seconds()
	}
	return gptq32(w, m, n, v)
}

// Close releases the factors; the Inverse is not used again. A nil Inverse is a no-op.
func (v *Inverse) Close() {
	if v == nil {
		return
	}
	if v.free != nil {
		v.free()
	}
	v.ut, v.free, v.u = nil, nil, nil
}

func checkHessian(h []float64, n int, cfg Config) error {
	if err := cfg.validate(n); err != nil {
		return err
	}
	if len(h) != n*n {
		return fmt.Errorf("quant: GPTQ got %d Hessian entries, want %d×%d", len(h), n, n)
	}
	return checkFinite("Hessian", h)
}

// gptq is GPTQ in float64 (small layers), with the Inverse's float64 factor; w is only read.
func gptq(w []float64, m, n int, v *Inverse) (*Quantized, error) {
	cfg, U := v.cfg, v.u
	q := newQuantized(m, n, cfg, v.newCodes(m))
	Wt := make([]float64, n*m)
	for r := 0; r < m; r++ {
		for c, x := range w[r*n : (r+1)*n] {
			Wt[c*m+r] = x
		}
	}
	rowScale, rowZero, staticScale, staticZero := gptqSetup(q, Wt, m, n, cfg, v.dead, v.perm)
	q.DampUsed = v.damp64
	uBlock := func(dst []float64, i1, i2 int) {
		cnt := i2 - i1
		for i := 0; i < cnt; i++ {
			copy(dst[i*cnt+i:(i+1)*cnt], U[(i1+i)*n+i1+i:(i1+i)*n+i2])
		}
	}
	update := func(Et []float64, r0, r1, c0, c1 int) { // Wᵀ[c0:c1] −= U[r0:r1, c0:c1]ᵀ·Eᵀ
		blas64.Gemm(blas.Trans, blas.NoTrans, -1,
			blas64.General{Rows: r1 - r0, Cols: c1 - c0, Stride: n, Data: U[r0*n+c0:]},
			blas64.General{Rows: r1 - r0, Cols: m, Stride: m, Data: Et},
			1, blas64.General{Rows: c1 - c0, Cols: m, Stride: m, Data: Wt[c0*m:]})
	}
	q.Loss = gptqColumns(q, Wt, m, n, cfg, rowScale, rowZero, staticScale, staticZero, cfg.blockSize(), uBlock, update)
	setGIdx(q, cfg, q.Perm, cfg.groupSize(n))
	return q, nil
}

// gptq32 is GPTQ in float32 for large layers, as the GPTQ reference computes (W, H⁻¹ and the
// updates in float32 on the GPU), with the products on kernels/cpu's GEMM: the inverse
// (hinvUpperF32, the Inverse's factor) and the lazy-batch updates subtracted in place
// (GemmSubF32T). w is only read: the float32 working copy of Wᵀ is its only m×n buffer,
// outside the Go heap where the system allows (fresh large buffers each module otherwise cost
// a page fault per 4 KiB).
func gptq32(w []float64, m, n int, v *Inverse) (*Quantized, error) {
	cfg, Ut := v.cfg, v.ut
	q := newQuantized(m, n, cfg, v.newCodes(m))
	Wt, freeW := bigF32(m * n)
	defer freeW()
	t0 := time.Now()
	if !transposeF64ToF32(Wt, w, m, n) {
		return nil, checkFitsF32("weight", w) // names the value
	}
	v.ConvertSec += time.Since(t0).Seconds()
	rowScale, rowZero, staticScale, staticZero := gptqSetup(q, Wt, m, n, cfg, v.dead, v.perm)
	q.DampUsed = v.damp
	uBlock := func(dst []float32, i1, i2 int) { // U[i1:i2, i1:i2] from Uᵀ
		cnt := i2 - i1
		for i := 0; i < cnt; i++ {
			for j := i; j < cnt; j++ {
				dst[i*cnt+j] = Ut[(i1+j)*n+i1+i]
			}
		}
	}
	pool := cpu.Default()
	var products time.Duration
	update := func(Et []float32, r0, r1, c0, c1 int) { // Wᵀ[c0:c1] −= U[r0:r1, c0:c1]ᵀ·Eᵀ
		t := time.Now()
		pool.GemmSubF32T(Wt[c0*m:], m, Ut[c0*n+r0:], n, Et, m, c1-c0, r1-r0, m)
		products += time.Since(t)
	}
	t2 := time.Now()
	q.Loss = gptqColumns(q, Wt, m, n, cfg, rowScale, rowZero, staticScale, staticZero, superBlocks*cfg.blockSize(), uBlock, update)
	v.ProductSec += products.Seconds()
	v.ColumnsSec += (time.Since(t2) - products).Seconds()
	v.ProductFlops += gptqProductFlops(m, n, cfg.blockSize())
	setGIdx(q, cfg, q.Perm, cfg.groupSize(n))
	return q, nil
}

// gptqUpdateFlops counts GPTQ's updates on an m×n module, in flops (two per multiply-add):
// every column's errors reach every later column once (m·n²/2 multiply-adds, within the
// blocks and deferred together). The inverse, hinvFlops(n), is counted once per Hessian.
func gptqUpdateFlops(m, n int) float64 {
	fm, fn := float64(m), float64(n)
	return fm * fn * fn
}

// gptqProductFlops is the part of gptqUpdateFlops the deferred products do: each block's
// errors reach every column after the block (the rest is the feedback inside the blocks).
func gptqProductFlops(m, n, B int) float64 {
	f := 0.0
	for i1 := 0; i1 < n; i1 += B {
		i2 := min(i1+B, n)
		f += 2 * float64(m) * float64(i2-i1) * float64(n-i2)
	}
	return f
}

// hinvFlops is the inverse's work in flops: a Cholesky and a triangular inverse, n³/6
// multiply-adds (n³/3 flops) each (hinvUpperF32).
func hinvFlops(n int) float64 {
	fn := float64(n)
	return 2 * fn * fn * fn / 3
}

// hessianOrder is the part of the reference's preparation that depends on H alone: its
// diagonal with the dead columns' entries (zero: no input ever reached them) set to 1, which
// columns are dead, and the processing order (act-order: decreasing diagonal, stable).
func hessianOrder(H []float64, n int, actOrder bool) (diag []float64, dead []bool, perm []int) {
	diag = make([]float64, n)
	dead = make([]bool, n)
	for i := 0; i < n; i++ {
		diag[i] = H[i*n+i]
		if diag[i] == 0 {
			dead[i], diag[i] = true, 1
		}
	}
	perm = identity(n)
	if actOrder {
		sort.SliceStable(perm, func(a, b int) bool { return diag[perm[a]] > diag[perm[b]] })
	}
	return diag, dead, perm
}

// gptqSetup is the rest of the reference's preparation, shared by both precisions, on Wt = Wᵀ
// (n×m, a column of W per row): per-channel parameters (from the whole rows, before dead
// columns are zeroed), the dead columns' weights zeroed, static groups, and the processing
// order (q.Perm; Wt's rows are permuted in place).
func gptqSetup[F float32 | float64](q *Quantized, Wt []F, m, n int, cfg Config, dead []bool, perm []int) (rowScale []float64, rowZero []int, staticScale [][]float64, staticZero [][]int) {
	g := cfg.Grid
	gs := cfg.groupSize(n)
	if cfg.GroupSize == -1 {
		rowScale, rowZero = fitGroup(g, Wt, m, 0, n)
		copy(q.Scales, rowScale)
		copy(q.Zeros, rowZero)
	} else { // placeholders until the first group is fitted
		rowScale, rowZero = make([]float64, m), make([]int, m)
	}
	copy(q.Dead, dead)
	for i, d := range dead {
		if d {
			clear(Wt[i*m : (i+1)*m])
		}
	}
	if cfg.StaticGroups && cfg.GroupSize != -1 {
		ngroups := q.Groups()
		staticScale = make([][]float64, ngroups)
		staticZero = make([][]int, ngroups)
		for gi := 0; gi < ngroups; gi++ {
			staticScale[gi], staticZero[gi] = fitGroup(g, Wt, m, gi*gs, min(gi*gs+gs, n))
			copy(q.Scales[gi*m:], staticScale[gi])
			copy(q.Zeros[gi*m:], staticZero[gi])
		}
	}
	if cfg.ActOrder {
		permuteRows(Wt, m, perm)
	}
	q.Perm = append([]int(nil), perm...)
	return rowScale, rowZero, staticScale, staticZero
}

// gptqColumns is GPTQ's column loop over W (m×n, columns in processing order q.Perm), held as
// Wt = Wᵀ (a column's m values contiguous, as the loop takes them), writing q's codes and group
// parameters and returning the loss. uBlock gives U[i1:i2, i1:i2] (the upper Cholesky factor of
// H⁻¹, row-major, upper triangle); update applies errors to later columns, Wᵀ[c0:c1] −=
// U[r0:r1, c0:c1]ᵀ·Eᵀ with Eᵀ the errors of columns r0..r1 (r1−r0 rows of m, a column's each).
// Batches of super columns: a block's errors reach the columns up to the end of its
// super-block at once, and the columns past it when the super-block is done, as one product
// over all its rows (the same sums as the reference's lazy batches, grouped so the product's
// inner dimension is wide enough for the GEMM to run near its peak).
//
// Within a block the reference takes one column at a time for all rows: round it, then feed
// its errors to the block's later columns (a rank-1 update). The block is copied in tiles of
// rows, column-major like Wt, so that each feedback is one vector kernel call over a tile's
// rows and all the later columns (not a short AXPY per weight); every weight gets the same
// operations in the same order as row by row.
func gptqColumns[F float32 | float64](q *Quantized, Wt []F, m, n int, cfg Config, rowScale []float64, rowZero []int,
	staticScale [][]float64, staticZero [][]int, super int, uBlock func(dst []F, i1, i2 int), update func(Et []F, r0, r1, c0, c1 int)) float64 {
	g := cfg.Grid
	maxq := float64(g.MaxQ())
	gs := cfg.groupSize(n)
	perm := q.Perm
	B := cfg.blockSize()
	// The block in tiles of gptqTileRows rows, each column-major: a tile's weights (64 × 128
	// float32 values, 32 KiB) stay in the L1 cache through the whole block.
	W1, freeW1 := bigBuf[F](m * B)
	defer freeW1()
	E1, freeE1 := bigBuf[F](m * B)
	defer freeE1()
	// The errors, a column's m per row like Wt, the updates' operand: a block's (B × m) or,
	// with super-blocks, the super-block's (super × m), each block's written in place.
	Err, freeErr := bigBuf[F](super * m)
	defer freeErr()
	UB := make([]F, B*B)
	colScale, colZero := make([][]float64, B), make([][]float64, B)
	var zeroOf []int // the integer zeros whose float64 copy zeroF is
	var zeroF []float64
	// Dynamic groups that start and end inside a block (the group size divides B) are fitted
	// tile by tile, from the tile's copy of their columns, already in L1: a pass over all rows
	// of W per group read one stretch per row, a page apart (on an 8B gate_proj, 235 MB of W,
	// that pass was a tenth of GPTQ's time). fitZero holds each of a block's groups' zeros in
	// float64.
	tileFit := cfg.GroupSize != -1 && staticScale == nil && B%gs == 0
	var fitZero [][]float64
	if tileFit {
		fitZero = make([][]float64, B/gs)
		for i := range fitZero {
			fitZero[i] = make([]float64, m)
		}
	}
	rowLoss := make([]float64, m)
	loss := 0.0
	big := m*B*B >= f32UpdateMin
	// In float32 each group of 16 columns feeds its errors to the block's later columns at once
	// (cpu.SubOuter16F32: the same fused multiply-adds in the same order; with AVX-512 each
	// weight loaded and stored once per group rather than once per column), and one at a time
	// only inside the group. ubT holds each group's rows of U, packed column by column.
	_, rank16 := any(Wt).([]float32)
	var ubT []float32
	if rank16 {
		ubT = make([]float32, B*B)
	}
	rows := func(fn func(lo, hi int)) {
		if big {
			// whole tiles to every worker: the same vectors and the same bits on any pool size
			cpu.Default().Run(m, gptqTileRows, fn)
		} else {
			fn(0, m)
		}
	}
	for i1 := 0; i1 < n; i1 += B {
		i2 := min(i1+B, n)
		cnt := i2 - i1
		// Group parameters, per column of the block, in column order. They come from W, which
		// the block does not change (only its copy W1), as in the reference.
		for i := 0; i < cnt; i++ {
			col := i1 + i
			if tileFit { // the tiles fill these in
				gi := col / gs
				colScale[i], colZero[i] = q.Scales[gi*m:(gi+1)*m], fitZero[i/gs]
				continue
			}
			if cfg.GroupSize != -1 {
				if staticScale == nil {
					if col%gs == 0 {
						rowScale, rowZero = fitGroup(g, Wt, m, col, min(col+gs, n))
						copy(q.Scales[(col/gs)*m:], rowScale)
						copy(q.Zeros[(col/gs)*m:], rowZero)
					}
				} else {
					gi := col / gs
					if cfg.ActOrder {
						gi = perm[col] / gs
					}
					rowScale, rowZero = staticScale[gi], staticZero[gi]
				}
			}
			if len(zeroOf) == 0 || &zeroOf[0] != &rowZero[0] { // a new group (each has a slice of its own)
				zeroOf, zeroF = rowZero, make([]float64, m)
				for r, z := range rowZero {
					zeroF[r] = float64(z)
				}
			}
			colScale[i], colZero[i] = rowScale, zeroF
		}
		ub := UB[:cnt*cnt]
		uBlock(ub, i1, i2)
		groups := 0 // the groups of 16 with later columns in the block
		if rank16 {
			groups = (cnt - 1) / 16
			u := any(ub).([]float32)
			for g := 0; g < groups; g++ {
				s, cols := 16*g, cnt-16*g-16
				for j := 0; j < cols; j++ {
					for i := 0; i < 16; i++ {
						ubT[g*16*B+16*j+i] = u[(s+i)*cnt+s+16+j]
					}
				}
			}
		}
		s0 := i1 / super * super
		s1 := min(s0+super, n)
		eb := Err[(i1-s0)*m:] // this block's errors
		// The rows are independent given U, so each worker takes whole tiles of them through
		// all of the block's columns.
		rows(func(lo, hi int) {
			codes := make([]uint8, gptqTileRows*cnt) // a tile's codes, column-major like the tile
			for t0 := lo; t0 < hi; t0 += gptqTileRows {
				rt := min(gptqTileRows, hi-t0)
				tile, et := W1[t0*cnt:(t0+rt)*cnt], E1[t0*cnt:(t0+rt)*cnt]
				for i := 0; i < cnt; i++ {
					copy(tile[i*rt:(i+1)*rt], Wt[(i1+i)*m+t0:])
				}
				if tileFit {
					fitTile(q, g, tile, rt, t0, i1, cnt, gs, fitZero)
				}
				for r := t0; r < t0+rt; r++ {
					rowLoss[r] = 0
				}
				for i := 0; i < cnt; i++ {
					e1 := et[i*rt : (i+1)*rt]
					gridErr(codes[i*rt:(i+1)*rt], e1, rowLoss[t0:t0+rt], tile[i*rt:(i+1)*rt],
						colScale[i][t0:t0+rt], colZero[i][t0:t0+rt], maxq, float64(ub[i*cnt+i]))
					if g := i / 16; g < groups {
						end := 16*g + 16
						if i+1 < end {
							subOuter(tile[(i+1)*rt:], rt, ub[i*cnt+i+1:i*cnt+end], e1)
						} else {
							cpu.SubOuter16F32(any(tile[end*rt:]).([]float32), rt, ubT[g*16*B:], any(et[16*g*rt:]).([]float32), rt, rt, cnt-end)
						}
					} else if i+1 < cnt {
						subOuter(tile[(i+1)*rt:], rt, ub[i*cnt+i+1:(i+1)*cnt], e1)
					}
				}
				putCodes(q.Codes[t0*n:], n, codes[:rt*cnt], rt, perm[i1:i2])
				for i := 0; i < cnt; i++ {
					copy(eb[i*m+t0:i*m+t0+rt], et[i*rt:(i+1)*rt])
				}
			}
		})
		for _, l := range rowLoss {
			loss += l
		}
		if i2 < s1 {
			update(eb, i1, i2, i2, s1)
		} else if s1 < n {
			update(Err, s0, s1, s1, n)
		}
	}
	return loss
}

// fitTile fits the groups of a block's columns i1..i1+cnt (each inside the block) for the rows
// t0..t0+rt of a column-major tile: Grid.Params from each row's extremes over the group's
// columns (the same comparisons as minMax0, in another order: the same extremes), into
// q.Scales and q.Zeros and the zeros in float64 into zf[group within the block].
func fitTile[F float32 | float64](q *Quantized, g Grid, tile []F, rt, t0, i1, cnt, gs int, zf [][]float64) {
	m := q.Rows
	var lo, hi [gptqTileRows]F
	for a := 0; a < cnt; a += gs {
		clear(lo[:rt])
		clear(hi[:rt])
		minMaxCols(lo[:rt], hi[:rt], tile[a*rt:], rt, min(a+gs, cnt)-a)
		gi := (i1 + a) / gs
		for k := 0; k < rt; k++ {
			sc, z := g.paramsRange(float64(lo[k]), float64(hi[k]))
			q.Scales[gi*m+t0+k], q.Zeros[gi*m+t0+k] = sc, z
			zf[a/gs][t0+k] = float64(z)
		}
	}
}

// gridErr rounds one column of a tile onto its rows' grids (codes), sets e to the errors
// divided by U's diagonal entry d and adds half their squares to loss: Grid.Code and Dequant,
// operation for operation, with zero in float64 (exact: small integers), so float32 columns can
// take kernels/cpu's vector form and both give the bits the scalar code gave.
func gridErr[F float32 | float64](codes []uint8, e []F, loss []float64, w []F, scale, zero []float64, maxq, d float64) {
	if w32, ok := any(w).([]float32); ok {
		cpu.GridErrF32(codes, any(e).([]float32), loss, w32, scale, zero, maxq, d)
		return
	}
	for k, v := range w {
		x := float64(v)
		q := math.Min(math.Max(math.RoundToEven(x/scale[k])+zero[k], 0), maxq)
		codes[k] = uint8(q)
		ek := (x - scale[k]*(q-zero[k])) / d
		loss[k] += ek * ek / 2
		e[k] = F(ek)
	}
}

// bigBuf is bigF32 in float32 (fresh pages each module, huge where the system allows: a fault
// per 4 KiB of GPTQ's working buffers was a visible share of a module's time) and make in
// float64 (the small layers).
func bigBuf[F float32 | float64](n int) ([]F, func()) {
	var z F
	if _, ok := any(z).(float32); ok {
		b, free := bigF32(n)
		return any(b).([]F), free
	}
	return make([]F, n), func() {}
}

// putCodes writes a tile's codes (column-major, rt rows per column) into the rows of the code
// matrix (rows ldc apart), column i to the original column perm[i]: without act-order (perm
// consecutive) a byte transposition.
func putCodes(dst []uint8, ldc int, codes []uint8, rt int, perm []int) {
	if consecutive(perm) {
		cpu.TransposeU8(dst[perm[0]:], ldc, codes, rt, rt, len(perm))
		return
	}
	for k := 0; k < rt; k++ {
		row := dst[k*ldc:]
		for i, c := range perm {
			row[c] = codes[i*rt+k]
		}
	}
}

// subOuter sets y[j·ldy + p] −= a[j]·x[p]: a column's errors x fed to the block's later
// columns (GPTQ's rank-1 update), on kernels/cpu's vector kernel in float32.
func subOuter[F float32 | float64](y []F, ldy int, a, x []F) {
	if y32, ok := any(y).([]float32); ok {
		cpu.SubOuterF32(y32, ldy, any(a).([]float32), any(x).([]float32))
		return
	}
	for j, v := range a {
		row := y[j*ldy : j*ldy+len(x)]
		for p, e := range x {
			row[p] -= e * v
		}
	}
}

// newQuantized returns an empty m×n Quantized whose codes are codes, or a fresh matrix when
// codes is nil (the caller writes every code).
func newQuantized(m, n int, cfg Config, codes []uint8) *Quantized {
	gs := cfg.groupSize(n)
	ngroups := (n + gs - 1) / gs
	if codes == nil {
		codes = cpu.MakeHuge[uint8](m * n) // written once, by GPTQ's column loop: 4 KiB faults were a fifth of it
	}
	return &Quantized{
		Rows: m, Cols: n, Grid: cfg.Grid, GroupSize: cfg.GroupSize,
		Codes:  codes,
		Scales: make([]float64, ngroups*m),
		Zeros:  make([]int, ngroups*m),
		GIdx:   make([]int32, n),
		Dead:   make([]bool, n),
	}
}

// setGIdx is the reference's g_idx: position//gs in processing order, mapped back to the
// original columns (so act-order without static groups gives a non-monotone g_idx).
func setGIdx(q *Quantized, cfg Config, perm []int, gs int) {
	for pos, c := range perm {
		if cfg.StaticGroups || !cfg.ActOrder {
			q.GIdx[c] = int32(c / gs)
		} else {
			q.GIdx[c] = int32(pos / gs)
		}
	}
}

// fitGroup fits per-row parameters on columns [c0, c1) of W, from Wt = Wᵀ (a column of m
// values per row): each row's extremes over the columns in order, as minMax0 takes them.
func fitGroup[F float32 | float64](g Grid, Wt []F, m, c0, c1 int) ([]float64, []int) {
	s := make([]float64, m)
	z := make([]int, m)
	parallelRows(m, c1-c0, func(lo, hi int) {
		for r0 := lo; r0 < hi; r0 += gptqTileRows {
			r1 := min(r0+gptqTileRows, hi)
			var xlo, xhi [gptqTileRows]F
			minMaxCols(xlo[:r1-r0], xhi[:r1-r0], Wt[c0*m+r0:], m, c1-c0)
			for r := r0; r < r1; r++ {
				s[r], z[r] = g.paramsRange(float64(xlo[r-r0]), float64(xhi[r-r0]))
			}
		}
	})
	return s, z
}

// minMaxCols sets lo[r] and hi[r] to the smallest and largest of themselves and x[c·ldx + r]
// over the columns c < cols, comparing as minMax0 does (kernels/cpu's vector form in float32).
func minMaxCols[F float32 | float64](lo, hi, x []F, ldx, cols int) {
	if lo32, ok := any(lo).([]float32); ok {
		cpu.MinMaxColsF32(lo32, any(hi).([]float32), any(x).([]float32), ldx, cols)
		return
	}
	for c := 0; c < cols; c++ {
		for r, v := range x[c*ldx : c*ldx+len(lo)] {
			if v < lo[r] {
				lo[r] = v
			}
			if v > hi[r] {
				hi[r] = v
			}
		}
	}
}

// permuteRows reorders the rows of Wt (m values each) in place so that row j holds the old row
// perm[j], following the permutation's cycles with one row of scratch.
func permuteRows[F float32 | float64](Wt []F, m int, perm []int) {
	done := make([]bool, len(perm))
	tmp := make([]F, m)
	for j := range perm {
		if done[j] || perm[j] == j {
			continue
		}
		copy(tmp, Wt[j*m:(j+1)*m])
		k := j
		for perm[k] != j {
			copy(Wt[k*m:(k+1)*m], Wt[perm[k]*m:(perm[k]+1)*m])
			done[k] = true
			k = perm[k]
		}
		copy(Wt[k*m:(k+1)*m], tmp)
		done[k] = true
	}
}

// transposeF64ToF32 sets Wt[c·m + r] = float32(w[r·n + c]), GPTQ's float32 working copy of Wᵀ,
// and reports whether every converted value is finite (checked on the way: a separate pass over
// a large module's float64 weights was a tenth of its update time). Each worker takes strips of
// 16 rows (a cache line of Wt per column), 64 columns at a time, through cpu.TransposeF64ToF32.
func transposeF64ToF32(Wt []float32, w []float64, m, n int) bool {
	const rs, cs = 16, 64
	var bad atomic.Bool
	parallelRows((m+rs-1)/rs, rs*n, func(lo, hi int) {
		finite := true
		for r0 := lo * rs; r0 < min(hi*rs, m); r0 += rs {
			r1 := min(r0+rs, m)
			for c0 := 0; c0 < n; c0 += cs {
				c1 := min(c0+cs, n)
				finite = cpu.TransposeF64ToF32(Wt[c0*m+r0:], m, w[r0*n+c0:], n, r1-r0, c1-c0) && finite
			}
		}
		if !finite {
			bad.Store(true)
		}
	})
	return !bad.Load()
}

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

func permuteSym(H []float64, n int, perm []int) []float64 {
	out := make([]float64, n*n)
	for i, pi := range perm {
		for j, pj := range perm {
			out[i*n+j] = H[pi*n+pj]
		}
	}
	return out
}

// hinvUpper returns U, the upper Cholesky factor of (H + damp·mean(diag H)·I)⁻¹ (n×n dense,
// lower triangle zero), raising the relative damping by 0.01 until the factorisation succeeds.
// H (symmetric, both triangles filled) is factorized in place and becomes U: a failed try only
// overwrites the upper triangle, which is restored from the untouched lower one and the saved
// diagonal, so no second n×n copy is needed.
func hinvUpper(H []float64, n int, percdamp float64) ([]float64, float64, error) {
	mean := 0.0
	diag := make([]float64, n)
	for i := 0; i < n; i++ {
		diag[i] = H[i*n+i]
		mean += H[i*n+i]
	}
	mean /= float64(n)
	for pd := percdamp; pd < 1; pd += 0.01 {
		for i := 0; i < n; i++ {
			H[i*n+i] = diag[i] + pd*mean
		}
		if U, ok := invUpper(H, n); ok {
			return U, pd, nil
		}
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				H[i*n+j] = H[j*n+i]
			}
		}
	}
	return nil, 0, fmt.Errorf("quant: the Hessian is not positive definite even with damping < 1 (n = %d)", n)
}

// invUpper computes the upper Cholesky factor of A⁻¹ for a symmetric positive definite A, in
// place: A's upper triangle is factorized (LAPACK potrf), inverted (potri) and factorized again,
// and A itself is returned with its lower triangle zeroed. These are the calls gonum's
// mat.Cholesky Factorize / InverseTo / Factorize make, including InverseTo's refusal of a
// condition number above mat.ConditionTolerance, so the result is the same bit for bit, but one
// n×n buffer serves instead of six (down_proj's is 1.6 GB at n = 14336).
func invUpper(A []float64, n int) ([]float64, bool) {
	sym := blas64.Symmetric{Uplo: blas.Upper, N: n, Stride: n, Data: A}
	work := make([]float64, 3*n)
	norm := lapack64.Lansy(mat.CondNorm, sym, work)
	if _, ok := lapack64.Potrf(sym); !ok {
		return nil, false
	}
	cond := 1 / lapack64.Pocon(sym, norm, work, make([]int, n))
	if _, ok := lapack64.Potri(blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: n, Stride: n, Data: A}); !ok || cond > mat.ConditionTolerance {
		return nil, false
	}
	if _, ok := lapack64.Potrf(sym); !ok {
		return nil, false
	}
	// Checked before the lower triangle (the caller's untouched copy of H, needed for a retry)
	// is cleared; it holds finite values, so checking only the upper one decides the same.
	for i := 0; i < n; i++ {
		for _, v := range A[i*n+i : (i+1)*n] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, false
			}
		}
	}
	for i := 1; i < n; i++ {
		clear(A[i*n : i*n+i])
	}
	return A, true
}

// f32UpdateMin is the layer size (rows × columns) from which GPTQ runs in float32 on the GEMM
// (a variable so a test can move it).
var f32UpdateMin = 1 << 18

// gptqTileRows is how many rows of a block GPTQ's column loop takes at a time.
const gptqTileRows = 64

// superBlocks is how many blocks of columns a large layer's deferred update spans.
const superBlocks = 4

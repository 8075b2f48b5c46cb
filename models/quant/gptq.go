package quant

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"

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
func (q *Quantized) Dequantize() []float64 { return dequantize(q, make([]float64, q.Rows*q.Cols)) }

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
		for r := lo; r < hi; r++ {
			codes, row := q.Codes[r*q.Cols:(r+1)*q.Cols], dst[r*q.Cols:(r+1)*q.Cols]
			for c, g := range q.GIdx {
				k := int(g)*q.Rows + r
				row[c] = F(Dequant(int(codes[c]), q.Scales[k], q.Zeros[k]))
			}
		}
	})
	return dst
}

// Clone is a deep copy.
func (q *Quantized) Clone() *Quantized {
	c := *q
	c.Codes = append([]uint8(nil), q.Codes...)
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
	const exp = 0x7ff0000000000000
	var bad atomic.Bool
	parallel(len(x), func(lo, hi int) {
		for _, v := range x[lo:hi] {
			if math.Float64bits(v)&exp == exp {
				bad.Store(true)
				return
			}
		}
	})
	if !bad.Load() {
		return nil
	}
	for i, v := range x {
		if math.Float64bits(v)&exp == exp {
			return fmt.Errorf("quant: %s has a non-finite value %v at element %d", what, v, i)
		}
	}
	return nil
}

// GPTQ quantizes the m×n weights w with the n×n Hessian h (H = 2/N Σ x xᵀ, both triangles
// filled), following the reference fasterquant line by line: dead columns, act-order, static or
// dynamic groups (dynamic groups fitted on the lazily updated outer W, pitfall P2), relative
// damping (raised by 0.01 while the Cholesky factorisation fails), lazy batches and the OBS update.
// w and h are not modified.
func GPTQ(w []float64, m, n int, h []float64, cfg Config) (*Quantized, error) {
	if err := gptqCheck(w, m, n, h, cfg); err != nil {
		return nil, err
	}
	if m*n >= f32UpdateMin {
		return gptq32(w, m, n, h, cfg)
	}
	return gptq(append([]float64(nil), w...), m, n, append([]float64(nil), h...), cfg)
}

// GPTQInPlace is GPTQ with w and h used as its working copies (both are overwritten), for
// callers that no longer need them: at n = 14336 that is a 1.6 GB Hessian copy fewer.
// The result is bit-identical to GPTQ's.
func GPTQInPlace(w []float64, m, n int, h []float64, cfg Config) (*Quantized, error) {
	if err := gptqCheck(w, m, n, h, cfg); err != nil {
		return nil, err
	}
	if m*n >= f32UpdateMin {
		return gptq32(w, m, n, h, cfg)
	}
	return gptq(w, m, n, h, cfg)
}

func gptqCheck(w []float64, m, n int, h []float64, cfg Config) error {
	if err := cfg.validate(n); err != nil {
		return err
	}
	if len(w) != m*n || len(h) != n*n {
		return fmt.Errorf("quant: GPTQ got %d weights and %d Hessian entries, want %d×%d and %d×%d", len(w), len(h), m, n, n, n)
	}
	if err := checkFinite("weight", w); err != nil {
		return err
	}
	return checkFinite("Hessian", h)
}

// gptq is GPTQ in float64 on its own copies W and H (small layers).
func gptq(W []float64, m, n int, H []float64, cfg Config) (*Quantized, error) {
	q := newQuantized(m, n, cfg)
	rowScale, rowZero, staticScale, staticZero, diag := gptqSetup(q, W, m, n, H, cfg)
	for i, d := range q.Dead {
		if d {
			H[i*n+i] = diag[i]
		}
	}
	if cfg.ActOrder {
		H = permuteSym(H, n, q.Perm)
	}
	U, damp, err := hinvUpper(H, n, cfg.Damp)
	if err != nil {
		return nil, err
	}
	q.DampUsed = damp
	uBlock := func(dst []float64, i1, i2 int) {
		cnt := i2 - i1
		for i := 0; i < cnt; i++ {
			copy(dst[i*cnt+i:(i+1)*cnt], U[(i1+i)*n+i1+i:(i1+i)*n+i2])
		}
	}
	update := func(E []float64, lde, r0, r1, c0, c1 int) {
		blas64.Gemm(blas.NoTrans, blas.NoTrans, -1,
			blas64.General{Rows: m, Cols: r1 - r0, Stride: lde, Data: E},
			blas64.General{Rows: r1 - r0, Cols: c1 - c0, Stride: n, Data: U[r0*n+c0:]},
			1, blas64.General{Rows: m, Cols: c1 - c0, Stride: n, Data: W[c0:]})
	}
	q.Loss = gptqColumns(q, W, m, n, cfg, rowScale, rowZero, staticScale, staticZero, cfg.blockSize(), uBlock, update)
	setGIdx(q, cfg, q.Perm, cfg.groupSize(n))
	return q, nil
}

// gptq32 is GPTQ in float32 for large layers, as the GPTQ reference computes (W, H⁻¹ and the
// updates in float32 on the GPU), with the products on kernels/cpu's GEMM: the inverse
// (hinvUpperF32) and the lazy-batch updates subtracted in place (GemmSubF32). w and h are only
// read: the float32 working copy of W and the inverse's matrix are its only n-sized buffers
// (no float64 copies of w and h, no permuted copies), outside the Go heap where the system
// allows (fresh large buffers each module otherwise cost a page fault per 4 KiB).
func gptq32(w []float64, m, n int, h []float64, cfg Config) (*Quantized, error) {
	q := newQuantized(m, n, cfg)
	W, freeW := bigF32(m * n)
	defer freeW()
	parallel(m*n, func(lo, hi int) {
		for i, v := range w[lo:hi] {
			W[lo+i] = float32(v)
		}
	})
	rowScale, rowZero, staticScale, staticZero, diag := gptqSetup(q, W, m, n, h, cfg)
	Ut, damp, freeU, err := hinvUpperF32(h, n, cfg.Damp, q.Perm, diag)
	if err != nil {
		return nil, err
	}
	defer freeU()
	q.DampUsed = damp
	uBlock := func(dst []float32, i1, i2 int) { // U[i1:i2, i1:i2] from Uᵀ
		cnt := i2 - i1
		for i := 0; i < cnt; i++ {
			for j := i; j < cnt; j++ {
				dst[i*cnt+j] = Ut[(i1+j)*n+i1+i]
			}
		}
	}
	pool := cpu.Default()
	update := func(E []float32, lde, r0, r1, c0, c1 int) { // W[:, c0:c1] −= E·U[r0:r1, c0:c1]
		pool.GemmSubF32(W[c0:], n, E, lde, Ut[c0*n+r0:], n, m, r1-r0, c1-c0)
	}
	q.Loss = gptqColumns(q, W, m, n, cfg, rowScale, rowZero, staticScale, staticZero, superBlocks*cfg.blockSize(), uBlock, update)
	setGIdx(q, cfg, q.Perm, cfg.groupSize(n))
	return q, nil
}

// gptqFlops counts GPTQ's matrix work on an m×n module, in flops (two per multiply-add): the
// Hessian's inverse (hinvInverseFlops) and the error updates, every column's errors reaching
// every later column once (m·n²/2 multiply-adds, within the blocks and deferred together).
func gptqFlops(m, n int) float64 {
	fm, fn := float64(m), float64(n)
	return hinvFlops(n) + fm*fn*fn
}

// hinvFlops is the inverse's work in flops: a Cholesky and a triangular inverse, n³/6
// multiply-adds (n³/3 flops) each (hinvUpperF32).
func hinvFlops(n int) float64 {
	fn := float64(n)
	return 2 * fn * fn * fn / 3
}

// gptqSetup is the reference's preparation, shared by both precisions: per-channel parameters
// (from the whole rows, before dead columns are zeroed), dead columns (a zero Hessian diagonal:
// their weights are zeroed), static groups, and the act-order permutation (q.Perm; W's columns
// are permuted in place). It returns H's diagonal with the dead columns' entries set to 1, in
// the original column order; H itself is not modified.
func gptqSetup[F float32 | float64](q *Quantized, W []F, m, n int, H []float64, cfg Config) (rowScale []float64, rowZero []int, staticScale [][]float64, staticZero [][]int, diag []float64) {
	g := cfg.Grid
	gs := cfg.groupSize(n)
	if cfg.GroupSize == -1 {
		rowScale, rowZero = fitGroup(g, W, m, n, 0, n)
		copy(q.Scales, rowScale)
		copy(q.Zeros, rowZero)
	} else { // placeholders until the first group is fitted
		rowScale, rowZero = make([]float64, m), make([]int, m)
	}
	diag = make([]float64, n)
	for i := 0; i < n; i++ {
		diag[i] = H[i*n+i]
		if diag[i] == 0 {
			q.Dead[i] = true
			diag[i] = 1
			for r := 0; r < m; r++ {
				W[r*n+i] = 0
			}
		}
	}
	if cfg.StaticGroups && cfg.GroupSize != -1 {
		ngroups := q.Groups()
		staticScale = make([][]float64, ngroups)
		staticZero = make([][]int, ngroups)
		for gi := 0; gi < ngroups; gi++ {
			staticScale[gi], staticZero[gi] = fitGroup(g, W, m, n, gi*gs, min(gi*gs+gs, n))
			copy(q.Scales[gi*m:], staticScale[gi])
			copy(q.Zeros[gi*m:], staticZero[gi])
		}
	}
	perm := identity(n)
	if cfg.ActOrder {
		sort.SliceStable(perm, func(a, b int) bool { return diag[perm[a]] > diag[perm[b]] })
		row := make([]F, n)
		for r := 0; r < m; r++ {
			copy(row, W[r*n:(r+1)*n])
			for j, c := range perm {
				W[r*n+j] = row[c]
			}
		}
	}
	q.Perm = perm
	return rowScale, rowZero, staticScale, staticZero, diag
}

// gptqColumns is GPTQ's column loop over W (m×n, columns in processing order q.Perm), writing
// q's codes and group parameters and returning the loss. uBlock gives U[i1:i2, i1:i2] (the
// upper Cholesky factor of H⁻¹, row-major, upper triangle); update applies errors to later
// columns, W[:, c0:c1] −= E·U[r0:r1, c0:c1] with E the m × (r1−r0) errors of columns r0..r1.
// Batches of super columns: a block's errors reach the columns up to the end of its
// super-block at once, and the columns past it when the super-block is done, as one product
// over all its rows (the same sums as the reference's lazy batches, grouped so the product's
// inner dimension is wide enough for the GEMM to run near its peak).
//
// Within a block the reference takes one column at a time for all rows: round it, then feed
// its errors to the block's later columns (a rank-1 update). The block is held column-major, in
// tiles of rows, so that each feedback is one vector kernel call over a tile's rows and all the
// later columns (not a short AXPY per weight); every weight gets the same operations in the
// same order as row by row.
func gptqColumns[F float32 | float64](q *Quantized, W []F, m, n int, cfg Config, rowScale []float64, rowZero []int,
	staticScale [][]float64, staticZero [][]int, super int, uBlock func(dst []F, i1, i2 int), update func(E []F, lde, r0, r1, c0, c1 int)) float64 {
	g := cfg.Grid
	maxq := float64(g.MaxQ())
	gs := cfg.groupSize(n)
	perm := q.Perm
	B := cfg.blockSize()
	// The block in tiles of gptqTileRows rows, each column-major: a tile's weights (64 × 128
	// float32 values, 32 KiB) stay in the L1 cache through the whole block.
	W1 := make([]F, m*B)
	E1 := make([]F, m*B)
	// The errors row-major, the updates' operand: a block's (m × B) or, with super-blocks,
	// the super-block's (m × super), each block's written in place.
	Err := make([]F, m*super)
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
						rowScale, rowZero = fitGroup(g, W, m, n, col, min(col+gs, n))
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
		s0 := i1 / super * super
		s1 := min(s0+super, n)
		eb, lde := Err[i1-s0:], s1-s0 // this block's errors, rows lde apart
		// The rows are independent given U, so each worker takes whole tiles of them through
		// all of the block's columns.
		rows(func(lo, hi int) {
			for t0 := lo; t0 < hi; t0 += gptqTileRows {
				rt := min(gptqTileRows, hi-t0)
				tile, et := W1[t0*cnt:(t0+rt)*cnt], E1[t0*cnt:(t0+rt)*cnt]
				transposeInto(tile, rt, W[t0*n+i1:], n, 0, rt, cnt)
				if tileFit {
					fitTile(q, g, tile, rt, t0, i1, cnt, gs, fitZero)
				}
				for r := t0; r < t0+rt; r++ {
					rowLoss[r] = 0
				}
				codes := make([]uint8, rt*cnt) // the tile's codes, column-major like the tile
				for i := 0; i < cnt; i++ {
					e1 := et[i*rt : (i+1)*rt]
					gridErr(codes[i*rt:(i+1)*rt], e1, rowLoss[t0:t0+rt], tile[i*rt:(i+1)*rt],
						colScale[i][t0:t0+rt], colZero[i][t0:t0+rt], maxq, float64(ub[i*cnt+i]))
					if i+1 < cnt {
						subOuter(tile[(i+1)*rt:], rt, ub[i*cnt+i+1:(i+1)*cnt], e1)
					}
				}
				for k := 0; k < rt; k++ {
					row := q.Codes[(t0+k)*n:]
					for i := 0; i < cnt; i++ {
						row[perm[i1+i]] = codes[i*rt+k]
					}
				}
				transposeInto(eb[t0*lde:], lde, et, rt, 0, cnt, rt)
			}
		})
		for _, l := range rowLoss {
			loss += l
		}
		if i2 < s1 {
			update(eb, lde, i1, i2, i2, s1)
		} else if s1 < n {
			update(Err, lde, s0, s1, s1, n)
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
		for c := a; c < min(a+gs, cnt); c++ {
			for k, v := range tile[c*rt : (c+1)*rt] {
				if v < lo[k] {
					lo[k] = v
				}
				if v > hi[k] {
					hi[k] = v
				}
			}
		}
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

// transposeInto sets dst[c*ldd + r] = src[(r−lo)*lds + c] for rows lo..hi and columns 0..cols
// of src (src starts at row lo), in 8×8 tiles.
func transposeInto[F float32 | float64](dst []F, ldd int, src []F, lds, lo, hi, cols int) {
	if d32, ok := any(dst).([]float32); ok {
		cpu.TransposeF32(d32[lo:], ldd, any(src).([]float32), lds, hi-lo, cols)
		return
	}
	for r0 := lo; r0 < hi; r0 += 8 {
		r1 := min(r0+8, hi)
		for c0 := 0; c0 < cols; c0 += 8 {
			c1 := min(c0+8, cols)
			for r := r0; r < r1; r++ {
				s := src[(r-lo)*lds:]
				for c := c0; c < c1; c++ {
					dst[c*ldd+r] = s[c]
				}
			}
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

func newQuantized(m, n int, cfg Config) *Quantized {
	gs := cfg.groupSize(n)
	ngroups := (n + gs - 1) / gs
	return &Quantized{
		Rows: m, Cols: n, Grid: cfg.Grid, GroupSize: cfg.GroupSize,
		Codes:  make([]uint8, m*n),
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

// fitGroup fits per-row parameters on columns [c0, c1) of the m×n matrix W.
func fitGroup[F float32 | float64](g Grid, W []F, m, n, c0, c1 int) ([]float64, []int) {
	s := make([]float64, m)
	z := make([]int, m)
	parallelRows(m, c1-c0, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s[r], z[r] = g.paramsRange(minMax0(W[r*n+c0 : r*n+c1]))
		}
	})
	return s, z
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

package quant

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// Reading is one interpretation of RPIQ's stage 2 where the paper's text leaves a choice open
// (reference notes §1.3, measured in §1.5).
type Reading struct {
	// AllData refines against all calibration data through the global Hessian (the residual is
	// Rᵀ X = W_fp C − W_q H, no activations stored); false is the literal single-instance reading
	// (the last calibration sequence's X and target kept in memory).
	AllData bool
	// FPTarget takes the target from the full-precision model's own inputs to the layer
	// (Y = X̃ W_fpᵀ, GPTAQ-style); false is the symmetric target Y = X W_fpᵀ.
	FPTarget bool
	// Sequential projects a block onto the grid by a GPTQ-style pass with error feedback inside
	// the block (Cholesky factor of G⁻¹); false rounds the least-squares solution elementwise.
	Sequential bool
	// OwnGram solves the single instance's block problem with its own Gram X_Sᵀ X_S instead of
	// κ times the global Hessian's block (single instance only).
	OwnGram bool
	// Kappa scales the global Hessian to the single instance (0 = ½ per sequence of the instance,
	// the right factor for H normalised per sequence).
	Kappa float64
	// Alpha mixes the FP target with the symmetric one (all-data reading): Y = α X̃ W_fpᵀ +
	// (1−α) X W_fpᵀ, as GPTAQ's α; 0 means 1 (the full FP target).
	Alpha float64
}

// String names the reading for reports.
func (r Reading) String() string {
	s := "instance"
	if r.AllData {
		s = "all"
	}
	if r.FPTarget {
		s += "/fp-target"
		if r.Alpha > 0 && r.Alpha != 1 {
			s += fmt.Sprintf("(alpha=%g)", r.Alpha)
		}
	} else {
		s += "/sym-target"
	}
	if r.Sequential {
		s += "/sequential"
	} else {
		s += "/round"
	}
	if !r.AllData {
		if r.OwnGram {
			s += "/own-gram"
		} else {
			s += "/kappa-H"
		}
	}
	return s
}

// fpWeight is the weight α of the FP model's output in the target α·X̃·W_fpᵀ + (1−α)·X·W_fpᵀ:
// 0 for the symmetric target, Alpha for a mixed one, 1 for the plain FP target (Alpha 0 or 1).
func (r Reading) fpWeight() float64 {
	switch {
	case !r.FPTarget:
		return 0
	case r.Alpha > 0:
		return r.Alpha
	}
	return 1
}

// DefaultReading is the one that measured best (§1.5 and the README table): all calibration
// data, the full-precision-model target mixed half and half with the symmetric one (α = ½, chosen
// on the README's measurements), sequential projection.
func DefaultReading() Reading {
	return Reading{AllData: true, FPTarget: true, Sequential: true, Alpha: 0.5}
}

// Stage2Config controls the Gauss-Seidel refinement.
type Stage2Config struct {
	Reading
	Iters     int     // rounds, default 5 (the paper reports 20 overfitting)
	BlockSize int     // columns per Gauss-Seidel block, default 32
	MinGain   float64 // stop when a round gains less than MinGain × the first round's gain (default 1e-3)
	// NoSafeguard accepts every block update; by default a row of a block is updated only if it
	// lowers the objective (monotone Gauss-Seidel), so no round can end worse than it started.
	NoSafeguard bool
	// NoInstanceGuard keeps the result even if it raised the single-instance error above the
	// stage-1 start (only meaningful with AllData and an instance given).
	NoInstanceGuard bool
	// OnRound, if set, sees the weights after every round (for the report); q is read-only.
	OnRound func(round int, q *Quantized)
}

func (c Stage2Config) iters() int {
	if c.Iters <= 0 {
		return 5
	}
	return c.Iters
}

func (c Stage2Config) blockSize() int {
	if c.BlockSize <= 0 {
		return 32
	}
	return c.BlockSize
}

// Stage2Inputs is what stage 2 needs for one linear module.
type Stage2Inputs struct {
	M, N int
	W    []float64 // m×n full-precision weights
	H    []float64 // n×n global Hessian of the quantized model's inputs (undamped)
	C    []float64 // n×n cross term 2/ns Σ x̃ xᵀ (AllData with FPTarget)
	// The single instance: X (tokens×n, quantized-model input), Xfp (the FP model's input,
	// FPTarget), Seqs = sequences in it.
	X, Xfp []float64
	Tokens int
	Seqs   int
	// FPOut, when given, is Xfp·Wᵀ (tokens×m, float32) as the caller already computed it (the
	// driver's error meter): large modules' instance error reuses it instead of computing the
	// same product again, unless dead columns changed W.
	FPOut []float32
	// OwnC lets RPIQ overwrite C and drop it once the residual is formed (the caller keeps no
	// other reference): a 1.6 GB n×n buffer fewer at n = 14336, same result.
	OwnC bool
}

// Stage2Result reports a refinement.
type Stage2Result struct {
	Q *Quantized
	// Gain[t] is the objective after round t minus the objective at the start (Gain[0] = 0):
	// negative is better. For AllData it is the all-data objective, scaled like H.
	Gain []float64
	// Instance[t] is the single-instance error ‖Y − X W_qᵀ‖²_F after round t (nil without X).
	Instance []float64
	Rounds   int  // rounds run
	Best     int  // round whose weights were kept
	Reverted bool // the instance guard restored the stage-1 weights
	Accepted int  // accepted row-block updates
	Rejected int  // row-block updates the safeguard refused
	// Flops is the matrix work of the all-data readings (stage2Flops, with the instance
	// products this run made: one fewer when the caller's FPOut was reused); 0 otherwise.
	Flops float64
}

// RPIQ refines the stage-1 result start by Gauss-Seidel sweeps over column blocks (in stage 1's
// processing order): for each block it adds the residual projected through the block's Gram
// back to the weights, solves the local least-squares problem and projects the solution onto
// the stage-1 grid (scales and zeros unchanged, so the packed layout does not change).
func RPIQ(in Stage2Inputs, start *Quantized, cfg Stage2Config) (*Stage2Result, error) {
	m, n := in.M, in.N
	if start == nil || start.Rows != m || start.Cols != n {
		return nil, errors.New("quant: RPIQ needs the stage-1 result of the same m×n matrix")
	}
	if len(in.W) != m*n || len(in.H) != n*n {
		return nil, fmt.Errorf("quant: RPIQ got %d weights and %d Hessian entries for %d×%d", len(in.W), len(in.H), m, n)
	}
	rd := cfg.Reading
	if rd.AllData && rd.FPTarget && len(in.C) != n*n {
		return nil, errors.New("quant: RPIQ all-data FP-target reading needs the cross accumulator C")
	}
	haveInst := in.Tokens > 0 && len(in.X) == in.Tokens*n
	if !rd.AllData && !haveInst {
		return nil, errors.New("quant: RPIQ single-instance reading needs the instance X")
	}
	if haveInst && rd.FPTarget && len(in.Xfp) != len(in.X) {
		return nil, errors.New("quant: RPIQ FP-target reading needs the instance's full-precision input Xfp")
	}
	for _, chk := range []struct {
		name string
		v    []float64
	}{{"weight", in.W}, {"Hessian", in.H}, {"cross term", in.C}, {"instance input", in.X}, {"instance FP input", in.Xfp}} {
		if err := checkFinite(chk.name, chk.v); err != nil {
			return nil, err
		}
	}
	q := start.Clone()
	W := in.W // read-only; a copy only where dead columns must be zeroed
	for c, d := range q.Dead {
		if d {
			if &W[0] == &in.W[0] {
				W = append([]float64(nil), in.W...)
			}
			for r := 0; r < m; r++ {
				W[r*n+c] = 0
			}
		}
	}

	// Instance residual R = Y − X W_qᵀ (tokens×m), kept when the instance is given.
	var R, Y []float64
	T := in.Tokens
	var inst32 *instance32
	var Wq []float64 // the float64 W_q, for the instance residual only: the rest dequantizes by rows
	products := 0    // tokens×n×m products of the instance made
	if haveInst && rd.AllData && m*n >= f32UpdateMin {
		inst32 = newInstance32(in, W, rd)
		products += inst32.products
	} else if haveInst {
		src := in.X
		if rd.FPTarget {
			src = in.Xfp
		}
		Y = matMulT(src, W, T, n, m)
		if a := rd.Alpha; rd.FPTarget && a > 0 && a != 1 {
			ys := matMulT(in.X, W, T, n, m)
			for i := range Y {
				Y[i] = a*Y[i] + (1-a)*ys[i]
			}
			products++
		}
		Wq = q.Dequantize()
		R = sub(Y, matMulT(in.X, Wq, T, n, m))
		Wq = nil
		products += 2
	}
	instErr := func() float64 { return sumSq(R) }

	// All-data residual projected through the inputs: P = W_fp C − W_q H (C = H when symmetric).
	var P []float64
	// Large modules keep P in float32 and subtract the deferred updates from it in place
	// (GemmSubF32): the float64 P took a product buffer and a pass over P per super-block.
	var P32 []float32
	large := m*n >= f32UpdateMin
	var H32 []float32
	if rd.AllData {
		Ct := in.H
		if rd.FPTarget {
			Ct = in.C
			if a := rd.Alpha; a > 0 && a != 1 {
				if !in.OwnC {
					Ct = cpu.MakeHuge[float64](len(in.C))
				}
				parallel(len(Ct), func(lo, hi int) {
					for i := lo; i < hi; i++ {
						Ct[i] = a*in.C[i] + (1-a)*in.H[i]
					}
				})
			}
		}
		dT := driftT(Ct, in.H, n)
		if in.OwnC {
			Ct, in.C = nil, nil
			reclaim(n)
		}
		H32 = cpu.MakeHuge[float32](n * n) // H is symmetric: its rows are its columns
		parallel(n*n, func(lo, hi int) {
			for i, v := range in.H[lo:hi] {
				H32[lo+i] = float32(v)
			}
		})
		pa, pb := residualGradient(W, q, H32, dT, m, n)
		dT = nil
		if large {
			parallel(m*n, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					pa[i] = float32(float64(pa[i]) + float64(pb[i]))
				}
			})
			P32 = pa
		} else {
			P = cpu.MakeHuge[float64](m * n)
			for i, v := range pb {
				P[i] = float64(pa[i]) + float64(v)
			}
		}
		pa, pb = nil, nil
		reclaim(n)
	}

	// Block index sets in processing order, dead columns left out.
	var blocks [][]int
	bs := cfg.blockSize()
	for p0 := 0; p0 < n; p0 += bs {
		var blk []int
		for _, c := range q.Perm[p0:min(p0+bs, n)] {
			if !q.Dead[c] {
				blk = append(blk, c)
			}
		}
		if len(blk) > 0 {
			blocks = append(blocks, blk)
		}
	}
	// Super-blocks of about lazyWidth columns batch the all-data residual updates as GPTQ's lazy
	// batches do: exact inside the super-block, one GEMM for the rest of P at its end.
	var supers []superBlock
	sbOf := make([]int, len(blocks))
	blockOff := make([]int, len(blocks))
	for bi, blk := range blocks {
		if len(supers) == 0 || len(supers[len(supers)-1].cols)+len(blk) > max(lazyWidth, len(blk)) {
			supers = append(supers, superBlock{first: bi})
		}
		sb := &supers[len(supers)-1]
		sb.last = bi
		blockOff[bi] = len(sb.cols)
		sb.cols = append(sb.cols, blk...)
		sbOf[bi] = len(supers) - 1
	}
	meanDiag := 0.0
	for i := 0; i < n; i++ {
		meanDiag += in.H[i*n+i] / float64(n)
	}
	lambda := start.DampUsed * meanDiag
	if lambda == 0 {
		lambda = 0.01 * meanDiag
	}
	kappa := rd.Kappa
	if kappa == 0 {
		seqs := in.Seqs
		if seqs <= 0 {
			seqs = 1
		}
		kappa = float64(seqs) / 2
	}
	var ownLambda float64
	if !rd.AllData && rd.OwnGram {
		d := 0.0
		for t := 0; t < T; t++ {
			for i := 0; i < n; i++ {
				d += in.X[t*n+i] * in.X[t*n+i]
			}
		}
		ownLambda = start.DampUsed * d / float64(n)
		if ownLambda == 0 {
			ownLambda = 0.01 * d / float64(n)
		}
	}

	bd := make([]blockData, len(blocks))
	for bi, blk := range blocks {
		b := len(blk)
		hs := gather(in.H, n, blk)
		var gtrue, gsolve []float64
		var xs []float64
		if haveInst && !rd.AllData {
			xs = gatherCols(cpu.Default(), nil, in.X, T, n, blk)
		}
		if rd.AllData {
			gtrue = hs
			gsolve = addDiag(hs, b, lambda)
		} else {
			gtrue = gramCols(xs, T, b)
			if rd.OwnGram {
				gsolve = addDiag(gtrue, b, ownLambda)
			} else {
				gsolve = scale(addDiag(hs, b, lambda), kappa)
			}
		}
		var ch mat.Cholesky
		if !ch.Factorize(mat.NewSymDense(b, append([]float64(nil), gsolve...))) {
			return nil, fmt.Errorf("quant: RPIQ block Gram (%d columns) is not positive definite", b)
		}
		var inv mat.SymDense
		if err := ch.InverseTo(&inv); err != nil {
			return nil, fmt.Errorf("quant: RPIQ block Gram (%d columns): %v", b, err)
		}
		ginv := make([]float64, b*b)
		for i := 0; i < b; i++ {
			for j := 0; j < b; j++ {
				ginv[i*b+j] = inv.At(i, j)
			}
		}
		d := blockData{gtrue: gtrue, ginv: ginv, xs: xs}
		if rd.AllData { // H[S, cols] of the block's super-block, for its local updates
			sb := supers[sbOf[bi]]
			if large {
				hblk := make([]float32, len(sb.cols)*b) // w[j][t] = H[cols_j][S_t]
				for j, c := range sb.cols {
					for t, k := range blk {
						hblk[j*b+t] = H32[c*n+k]
					}
				}
				d.hblk = cpu.PackPanelsF32(hblk, b, b, len(sb.cols), nil)
			} else {
				d.hrect = gatherRect(in.H, n, blk, sb.cols)
			}
		}
		if rd.Sequential {
			u, ok := invUpper(append([]float64(nil), gsolve...), b)
			if !ok {
				return nil, fmt.Errorf("quant: RPIQ block Gram (%d columns) inverse is not positive definite", b)
			}
			d.upper = u
		}
		bd[bi] = d
	}

	res := &Stage2Result{Gain: []float64{0}}
	if inst32 != nil {
		res.Instance = []float64{inst32.err(q)}
		products++
	} else if haveInst {
		res.Instance = []float64{instErr()}
	}
	wqp, cdp, pOff := blockPanels(q, blocks)
	zf := make([]float64, len(q.Zeros))
	for i, z := range q.Zeros {
		zf[i] = float64(z)
	}
	sw := &sweep{m: m, n: n, q: q, zf: zf, rd: rd, noSafeguard: cfg.NoSafeguard, blocks: blocks, bd: bd,
		supers: supers, sbOf: sbOf, blockOff: blockOff, P: P, P32: P32, wqp: wqp, cdp: cdp, pOff: pOff,
		R: R, T: T, status: cpu.MakeHuge[int8](len(blocks) * m), dEs: cpu.MakeHuge[float64](len(blocks) * m)}
	if rd.AllData {
		sw.hpan = superPanels(H32, n, supers)
		H32 = nil
	}
	best := q.Clone()
	bestGain := 0.0
	gain := 0.0
	firstGain := 0.0
	for t := 1; t <= cfg.iters(); t++ {
		before := gain
		sw.round()
		for i, st := range sw.status { // in block and row order, however the rows were shared out
			switch st {
			case 1:
				res.Accepted++
				gain += sw.dEs[i]
			case -1:
				res.Rejected++
			}
		}
		scatterCodes(q, cdp, pOff, blocks)
		if !rd.AllData {
			gain = instErr() - res.Instance[0] // exact, free of accumulated rounding
		}
		res.Gain = append(res.Gain, gain)
		if !rd.AllData {
			res.Instance = append(res.Instance, instErr())
		}
		res.Rounds = t
		if cfg.OnRound != nil {
			cfg.OnRound(t, q)
		}
		if gain < bestGain {
			bestGain = gain
			copy(best.Codes, q.Codes) // stage 2 changes codes only
			res.Best = t
		}
		roundGain := before - gain
		if t == 1 {
			firstGain = roundGain
		}
		minGain := cfg.MinGain
		if minGain == 0 {
			minGain = 1e-3
		}
		if roundGain <= 0 || roundGain < minGain*firstGain {
			break
		}
	}
	if rd.AllData && haveInst {
		var end float64
		if inst32 != nil {
			end = inst32.err(best)
		} else {
			end = sumSq(sub(Y, matMulT(in.X, best.Dequantize(), T, n, m)))
		}
		products++
		if end > res.Instance[0] && !cfg.NoInstanceGuard {
			best = start.Clone()
			res.Reverted = true
			res.Best = 0
			end = res.Instance[0]
		}
		res.Instance = append(res.Instance, end)
	}
	res.Q = best
	if rd.AllData {
		res.Flops = stage2Flops(m, n, bs, T, res.Rounds, products)
	}
	return res, nil
}

// parallel runs fn over [0, n) in pieces on the worker pool when n is large enough to pay for
// the hand-off, else inline: stage 2's conversions and gathers of m×n data, which otherwise left
// a core idle (1.55 of 2 in use at 4096×4096). fn must only touch its own range.
func parallel(n int, fn func(lo, hi int)) {
	if n < 1<<16 {
		fn(0, n)
		return
	}
	cpu.Default().Run(n, 1024, fn)
}

// parallelRows is parallel over the rows of a rows×width matrix.
func parallelRows(rows, width int, fn func(lo, hi int)) { poolRows(cpu.Default(), rows, width, fn) }

// poolRows is parallelRows on the given pool.
func poolRows(pool *cpu.Pool, rows, width int, fn func(lo, hi int)) {
	if rows*width < 1<<16 {
		fn(0, rows)
		return
	}
	pool.Run(rows, 1, fn)
}

// lazyWidth is the width of stage 2's super-blocks (columns whose residual updates are deferred).
const lazyWidth = 128

// stage2Flops counts the matrix work of stage 2's all-data readings on an m×n module, in flops
// (two per multiply-add): the residual through the inputs (2·m·n² multiply-adds); per round
// the deferred residual updates (m·n²), the super-blocks' local ones (m·n·lazyWidth) and the
// blocks' targets (m·n·b); and the given number of the single instance's products of t
// tokens (t·n·m each: the error at the start and at the end, the FP target's product unless
// the caller's was reused).
func stage2Flops(m, n, b, t, rounds, products int) float64 {
	fm, fn := float64(m), float64(n)
	return 2 * (2*fm*fn*fn + float64(rounds)*(fm*fn*fn+fm*fn*float64(lazyWidth+b)) + float64(products)*float64(t)*fn*fm)
}

// instance32 is a large module's single-instance error ‖Y − X·Wcᵀ‖²_F with float32 products
// (kernels/cpu's GEMM; gonum's float64 ones took 35 of stage 2's 41 s at 4096×4096). With
// Y = a·Xfp·Wᵀ + (1−a)·X·Wᵀ (a = 0 for the symmetric target, 1 for the plain FP one), the
// residual is a·(Xfp·Wᵀ) + X·((1−a)·W − Wc)ᵀ: the product that changes is one of a difference,
// of the size of the residual itself, so rounding it to float32 loses nothing to cancellation.
type instance32 struct {
	m, n, t int
	x       []float32 // X, t×n
	fp      []float32 // Xfp·Wᵀ, t×m (nil when a = 0), the caller's FPOut when it could be used
	fa      float32   // a, by which fp is scaled as it is read
	w       []float64 // W
	a       float64
	// products is 1 when fp was computed here, 0 when there was none or the caller's reused
	products int
}

func newInstance32(in Stage2Inputs, W []float64, rd Reading) *instance32 {
	m, n, t := in.M, in.N, in.Tokens
	a := rd.fpWeight()
	s := &instance32{m: m, n: n, t: t, x: toF32(in.X), w: W, a: a}
	if a > 0 {
		s.fa = float32(a)
		if len(in.FPOut) == t*m && &W[0] == &in.W[0] { // no dead column zeroed in W
			s.fp = in.FPOut // read only
		} else {
			s.fp = cpu.MakeHuge[float32](t * m)
			cpu.Default().MatMulF32(s.fp, toF32(in.Xfp), toF32(W), t, n, m)
			s.products = 1
		}
	}
	return s
}

// err is ‖a·Xfp·Wᵀ + X·((1−a)·W − Wc)ᵀ‖²_F for the weights Wc of qc, dequantized a row at a
// time (a float64 m×n copy, fresh each time, was mostly page faults).
func (s *instance32) err(qc *Quantized) float64 {
	d := cpu.MakeHuge[float32](s.m * s.n)
	parallelRows(s.m, s.n, func(lo, hi int) {
		wc := make([]float64, s.n)
		var lut []float64
		for r := lo; r < hi; r++ {
			lut = dequantizeRow(qc, r, wc, lut)
			for c, v := range wc {
				i := r*s.n + c
				d[i] = float32(float64((1-s.a)*s.w[i]) - v) // (1−a)·W rounded first, as stored once
			}
		}
	})
	p := cpu.MakeHuge[float32](s.t * s.m)
	cpu.Default().MatMulF32(p, s.x, d, s.t, s.n, s.m)
	rowSum := make([]float64, s.t) // per token, then in order: the same sum on any pool
	parallelRows(s.t, s.m, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			sum := 0.0
			for i := t * s.m; i < (t+1)*s.m; i++ {
				r := float64(p[i])
				if s.fp != nil {
					r += float64(float32(s.fp[i] * s.fa)) // a·Xfp·Wᵀ in float32
				}
				sum += r * r
			}
			rowSum[t] = sum
		}
	})
	sum := 0.0
	for _, v := range rowSum {
		sum += v
	}
	return sum
}

// blockPanels copies the weights and codes of each block's columns into panels, block bi's
// m×len(blocks[bi]) values contiguous at pOff[bi] (row-major): stage 2 reads and writes a block
// many times, and in the m×n layout each time was a strided pass (a 256-byte piece of each 16 KB
// row at n = 2048, a cache and TLB miss per row).
func blockPanels(q *Quantized, blocks [][]int) (wqp []float64, cdp []uint8, pOff []int) {
	m, n := q.Rows, q.Cols
	pOff = make([]int, len(blocks)+1)
	for bi, blk := range blocks {
		pOff[bi+1] = pOff[bi] + m*len(blk)
	}
	wqp, cdp = cpu.MakeHuge[float64](pOff[len(blocks)]), cpu.MakeHuge[uint8](pOff[len(blocks)])
	inOrder := consecutiveEach(blocks)
	parallelRows(m, n, func(lo, hi int) {
		wq := make([]float64, n)
		var lut []float64
		for r := lo; r < hi; r++ {
			lut = dequantizeRow(q, r, wq, lut)
			for bi, blk := range blocks {
				o, b := pOff[bi]+r*len(blk), len(blk)
				if inOrder[bi] {
					copy(wqp[o:o+b], wq[blk[0]:])
					copy(cdp[o:o+b], q.Codes[r*n+blk[0]:])
					continue
				}
				for j, c := range blk {
					wqp[o+j], cdp[o+j] = wq[c], q.Codes[r*n+c]
				}
			}
		}
	})
	return wqp, cdp, pOff
}

// consecutiveEach says which of the blocks are runs of consecutive columns.
func consecutiveEach(blocks [][]int) []bool {
	in := make([]bool, len(blocks))
	for i, blk := range blocks {
		in[i] = consecutive(blk)
	}
	return in
}

// scatterCodes puts the panels' codes back into q.
func scatterCodes(q *Quantized, cdp []uint8, pOff []int, blocks [][]int) {
	m, n := q.Rows, q.Cols
	inOrder := consecutiveEach(blocks)
	parallelRows(m, n, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			for bi, blk := range blocks {
				o := pOff[bi] + r*len(blk)
				if inOrder[bi] {
					copy(q.Codes[r*n+blk[0]:], cdp[o:o+len(blk)])
					continue
				}
				for j, c := range blk {
					q.Codes[r*n+c] = cdp[o+j]
				}
			}
		}
	})
}

// project maps the block targets of rows r0..r1 (row-major, one row of the block's length
// each) onto the stage-1 grid into out, with their codes in codes: elementwise, or
// sequentially with GPTQ's error feedback through the upper Cholesky factor of the block's G⁻¹.
// zf is q.Zeros in float64; w is scratch (rows×b). The rows go column by column together,
// held column-major in w so that a column's rounding is one cpu.GridF64 call and its feedback
// to the block's later columns one cpu.SubOuterF64 call; each row gets the same operations in
// the same order as on its own.
func project(g Grid, q *Quantized, zf []float64, r0, r1 int, blk []int, target []float64, upper []float64, out []float64, codes []uint8, w []float64) {
	b := len(blk)
	rows := r1 - r0
	m := q.Rows
	for i := 0; i < rows; i++ {
		for j, x := range target[i*b : (i+1)*b] {
			w[j*rows+i] = x
		}
	}
	maxq := float64(g.MaxQ())
	var v, e [projectRows]float64
	var c [projectRows]uint8
	for j, col := range blk {
		gi := int(q.GIdx[col])
		d := 1.0
		if upper != nil {
			d = upper[j*b+j]
		}
		cpu.GridF64(c[:rows], v[:rows], e[:rows], w[j*rows:(j+1)*rows], q.Scales[gi*m+r0:gi*m+r1], zf[gi*m+r0:gi*m+r1], maxq, d)
		for i := 0; i < rows; i++ {
			out[i*b+j], codes[i*b+j] = v[i], c[i]
		}
		if upper != nil && j+1 < b {
			cpu.SubOuterF64(w[(j+1)*rows:], rows, upper[j*b+j+1:(j+1)*b], e[:rows])
		}
	}
}

// projectRows is how many rows project takes together.
const projectRows = 16

// matMulT returns A Bᵀ for A (r×k) and B (c×k).
func matMulT(A, B []float64, r, k, c int) []float64 {
	out := make([]float64, r*c)
	blas64.Gemm(blas.NoTrans, blas.Trans, 1,
		blas64.General{Rows: r, Cols: k, Stride: k, Data: A},
		blas64.General{Rows: c, Cols: k, Stride: k, Data: B},
		0, blas64.General{Rows: r, Cols: c, Stride: c, Data: out})
	return out
}

// matMul returns A B for A (r×k) and B (k×c).
func matMul(A, B []float64, r, k, c int) []float64 {
	out := make([]float64, r*c)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
		blas64.General{Rows: r, Cols: k, Stride: k, Data: A},
		blas64.General{Rows: k, Cols: c, Stride: c, Data: B},
		0, blas64.General{Rows: r, Cols: c, Stride: c, Data: out})
	return out
}

// matTMul returns Aᵀ B for A (t×r) and B (t×c).
func matTMul(A, B []float64, t, r, c int) []float64 {
	out := make([]float64, r*c)
	blas64.Gemm(blas.Trans, blas.NoTrans, 1,
		blas64.General{Rows: t, Cols: r, Stride: r, Data: A},
		blas64.General{Rows: t, Cols: c, Stride: c, Data: B},
		0, blas64.General{Rows: r, Cols: c, Stride: c, Data: out})
	return out
}

func sub(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

func sumSq(a []float64) float64 {
	s := 0.0
	for _, v := range a {
		s += v * v
	}
	return s
}

func scale(a []float64, f float64) []float64 {
	for i := range a {
		a[i] *= f
	}
	return a
}

func addDiag(a []float64, b int, l float64) []float64 {
	out := append([]float64(nil), a...)
	for i := 0; i < b; i++ {
		out[i*b+i] += l
	}
	return out
}

// gather returns the b×b submatrix H[idx, idx].
func gather(H []float64, n int, idx []int) []float64 {
	b := len(idx)
	out := make([]float64, b*b)
	for i, ci := range idx {
		for j, cj := range idx {
			out[i*b+j] = H[ci*n+cj]
		}
	}
	return out
}

// gatherCols returns columns idx of the rows×n matrix X as rows×b, in dst when it is large
// enough, rows in parallel.
func gatherCols[F float32 | float64](pool *cpu.Pool, dst, X []F, rows, n int, idx []int) []F {
	b := len(idx)
	out := grow(dst, rows*b)
	inOrder := b > 0 && consecutive(idx)
	poolRows(pool, rows, b, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			if inOrder { // a stretch of each row: a copy
				copy(out[t*b:(t+1)*b], X[t*n+idx[0]:])
				continue
			}
			for j, c := range idx {
				out[t*b+j] = X[t*n+c]
			}
		}
	})
	return out
}

// scatterCols is gatherCols' inverse: columns idx of the rows×n matrix X take the rows×len(idx)
// values of src.
func scatterCols[F float32 | float64](X, src []F, rows, n int, idx []int) {
	b := len(idx)
	inOrder := b > 0 && consecutive(idx)
	for t := 0; t < rows; t++ {
		if inOrder {
			copy(X[t*n+idx[0]:], src[t*b:(t+1)*b])
			continue
		}
		for j, c := range idx {
			X[t*n+c] = src[t*b+j]
		}
	}
}

// gatherRange copies columns [c0, c0+b) of the rows×n matrix X into dst (rows×b, float64).
func gatherRange[F float32 | float64](pool *cpu.Pool, dst []float64, X []F, rows, n, c0, b int) []float64 {
	out := grow(dst, rows*b)
	poolRows(pool, rows, b, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			for j, v := range X[t*n+c0 : t*n+c0+b] {
				out[t*b+j] = float64(v)
			}
		}
	})
	return out
}

// grow returns dst[:n], reallocated when it is too small.
func grow[F float32 | float64](dst []F, n int) []F {
	if cap(dst) < n {
		return make([]F, n)
	}
	return dst[:n]
}

// consecutive reports whether idx is c, c+1, c+2, ….
func consecutive(idx []int) bool {
	for j, c := range idx {
		if c != idx[0]+j {
			return false
		}
	}
	return true
}

// gramCols returns XᵀX for X (t×b).
func gramCols(X []float64, t, b int) []float64 { return matTMul(X, X, t, b, b) }

var _ = math.Abs

// residualGradient is P = W C − W_q H (W_q the weights of q) computed as (W − W_q) H + W (C − H): both products have a
// small operand (the quantization error, the activation drift), so they run as float32 GEMMs
// (kernels/cpu) without the cancellation of subtracting two large float32 products. h32 is H in
// float32 and dT = (C − H)ᵀ in float32 (driftT).
func residualGradient(W []float64, q *Quantized, h32, dT []float32, m, n int) (a, b []float32) {
	p := cpu.Default()
	e32 := cpu.MakeHuge[float32](m * n)
	w32 := cpu.MakeHuge[float32](m * n)
	parallelRows(m, n, func(lo, hi int) {
		wq := make([]float64, n)
		var lut []float64
		for r := lo; r < hi; r++ {
			lut = dequantizeRow(q, r, wq, lut)
			for c, v := range wq {
				i := r*n + c
				e32[i] = float32(W[i] - v)
				w32[i] = float32(W[i])
			}
		}
	})
	a = cpu.MakeHuge[float32](m * n)
	p.MatMulF32(a, e32, h32, m, n, n)
	b = e32 // e32 is spent: its buffer takes the second product (three m×n float32 buffers, not four)
	p.MatMulF32(b, w32, dT, m, n, n)
	return a, b
}

// driftT returns (C − H)ᵀ in float32: its rows are the columns of C − H.
func driftT(C, H []float64, n int) []float32 {
	dT := cpu.MakeHuge[float32](n * n)
	const tile = 64 // transposed by tiles, rows of tiles in parallel
	parallelRows((n+tile-1)/tile, tile*n, func(lo, hi int) {
		for i0 := lo * tile; i0 < min(hi*tile, n); i0 += tile {
			for j0 := 0; j0 < n; j0 += tile {
				for i := i0; i < min(i0+tile, n); i++ {
					for j := j0; j < min(j0+tile, n); j++ {
						dT[j*n+i] = float32(C[i*n+j] - H[i*n+j])
					}
				}
			}
		}
	})
	return dT
}

// reclaim returns freed memory to the OS after an n×n buffer of a large module was dropped, so
// the process's peak follows what is alive rather than the garbage collector's headroom (by
// default the heap may grow to twice the live data before a collection). The buffers are
// pointer-free, so a collection costs milliseconds against the seconds of the solve.
func reclaim(n int) {
	if n*n*8 >= 64<<20 {
		debug.FreeOSMemory()
	}
}

// gatherRect returns H[rows, cols] (len(rows)×len(cols)) of the n×n matrix H.
func gatherRect(H []float64, n int, rows, cols []int) []float64 {
	out := make([]float64, len(rows)*len(cols))
	for i, r := range rows {
		for j, c := range cols {
			out[i*len(cols)+j] = H[r*n+c]
		}
	}
	return out
}

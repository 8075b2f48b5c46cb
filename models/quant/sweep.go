package quant

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// blockData is what stage 2 precomputes for one block of columns.
type blockData struct {
	gtrue []float64 // b×b Gram of the objective
	ginv  []float64 // Gsolve⁻¹, b×b
	upper []float64 // upper Cholesky factor of Gsolve⁻¹ (sequential projection)
	xs    []float64 // instance columns, tokens×b (single-instance readings)
	// H[S, cols] of the block's super-block for its local updates (all-data readings): hblk
	// (float32, w[j][t] = H[cols_j][S_t], packed) on large modules, hrect (float64,
	// b×len(cols)) on small ones
	hblk  *cpu.PanelsF32
	hrect []float64
}

// superBlock is a run of blocks whose all-data residual updates are batched (GPTQ's lazy
// batches): exact inside the super-block, one GEMM for the rest of P at its end.
type superBlock struct {
	first, last int   // its blocks
	cols        []int // their columns, in order
}

// sweep is what every band of rows reads and writes in a round of stage 2. The rows of W are
// independent there: a row's targets, projection, objective change and residual P involve that
// row alone (and H). So the all-data readings give each worker a band of rows at a time to take
// through every block of the round. The band's float32 P stays in cache across the
// super-blocks' updates; a product over all m rows read and wrote the whole m×n P per
// super-block, bound by memory bandwidth. The workers then meet only at the round's end, where
// each block used to cost half a dozen hand-offs. Every row gets the same operations in the
// same order as before, so the results are the same bits.
type sweep struct {
	m, n        int
	q           *Quantized
	zf          []float64 // q.Zeros in float64
	rd          Reading
	noSafeguard bool
	blocks      [][]int
	bd          []blockData
	supers      []superBlock
	sbOf        []int // super-block of each block
	blockOff    []int // each block's offset in its super-block's columns
	P           []float64
	P32         []float32
	hpan        []*cpu.PanelsF32 // H[:, cols] of each super-block, packed (all-data)
	wqp         []float64        // weights by block (blockPanels)
	cdp         []uint8          // codes by block
	pOff        []int
	R           []float64 // the instance residual (single-instance readings)
	T           int
	// each block's row outcomes (0 unchanged, 1 accepted, −1 rejected) and objective
	// changes, block-major
	status []int8
	dEs    []float64
	free   chan *bandBufs
}

// bandBufs are one worker's buffers; they grow to what its bands need.
type bandBufs struct {
	p, target, delta, next, work []float64
	codes                        []uint8
	local, sbDelta               []float64
	local32, delta32, d32, upd   []float32
}

// serial runs the kernels of one band on the worker that has it.
var serial = cpu.NewPool(1)

// bandRows is how many rows a band has: at most 8 MiB of float32 P (cache-resident across the
// super-blocks), at least four bands per worker (so the last ones even out the workers), a
// multiple of the projection's 16 rows. Every band reads all of H's packed columns once a round,
// so thin bands on wide modules are bound by memory: at 4096 × 14336, bands of 48 rows (2 MiB)
// took 60 s, of 128 rows 50 s, of 256 rows 52 s; at 5632 × 2048, 128-512 rows made no difference.
func bandRows(m, n, threads int) int {
	r := min((8<<20)/(4*n), (m+4*threads-1)/(4*threads))
	return max((r+15)&^15, 16)
}

// round takes every row through every block once.
func (s *sweep) round() {
	if !s.rd.AllData { // the instance residual's products span all rows: one band
		s.band(0, s.m, cpu.Default(), &bandBufs{})
		return
	}
	pool := cpu.Default()
	rows := bandRows(s.m, s.n, pool.Threads())
	if s.free == nil {
		s.free = make(chan *bandBufs, pool.Threads())
	}
	pool.Share((s.m+rows-1)/rows, 1, func(lo, hi int) {
		var bb *bandBufs
		select {
		case bb = <-s.free:
		default:
			bb = &bandBufs{}
		}
		for i := lo; i < hi; i++ {
			s.band(i*rows, min((i+1)*rows, s.m), serial, bb)
		}
		select {
		case s.free <- bb:
		default:
		}
	})
}

// band takes rows [lo, hi) through every block of a round, with pool's workers.
func (s *sweep) band(lo, hi int, pool *cpu.Pool, bb *bandBufs) {
	m, n, rows := s.m, s.n, hi-lo
	q, g := s.q, s.q.Grid
	for bi, blk := range s.blocks {
		b, d := len(blk), s.bd[bi]
		// p = the residual projected onto the block's inputs (rows×b).
		var p []float64
		var sb *superBlock
		ns := 0
		if s.rd.AllData {
			sb = &s.supers[s.sbOf[bi]]
			ns = len(sb.cols)
			if bi == sb.first {
				// P is exact for the super-block's columns only while its blocks run
				if s.P32 != nil {
					bb.local32 = gatherCols(pool, bb.local32, s.P32[lo*n:hi*n], rows, n, sb.cols)
				} else {
					bb.local = gatherCols(pool, bb.local, s.P[lo*n:hi*n], rows, n, sb.cols)
				}
				bb.sbDelta = grow(bb.sbDelta, rows*ns)
				clear(bb.sbDelta)
			}
			if s.P32 != nil {
				bb.p = gatherRange(pool, bb.p, bb.local32, rows, ns, s.blockOff[bi], b)
			} else {
				bb.p = gatherRange(pool, bb.p, bb.local, rows, ns, s.blockOff[bi], b)
			}
			p = bb.p
		} else {
			p = matTMul(s.R, d.xs, s.T, m, b) // Rᵀ X_S
		}
		// Least-squares targets of all rows at once: B̃ = B + P_S G⁻¹.
		cur := s.wqp[s.pOff[bi]+lo*b : s.pOff[bi]+hi*b]
		codes := s.cdp[s.pOff[bi]+lo*b : s.pOff[bi]+hi*b]
		bb.target = grow(bb.target, rows*b)
		target := bb.target
		poolRows(pool, rows, b, func(a, z int) {
			// gonum's Dgemm, bit for bit, a row at a time
			copy(target[a*b:z*b], cur[a*b:z*b])
			for r := a; r < z; r++ {
				cpu.AddRowsF64(target[r*b:(r+1)*b], p[r*b:(r+1)*b], d.ginv, b)
			}
		})
		bb.delta, bb.next, bb.work = grow(bb.delta, rows*b), grow(bb.next, rows*b), grow(bb.work, rows*b)
		if cap(bb.codes) < rows*b {
			bb.codes = make([]uint8, rows*b)
		}
		delta, next, work, nc := bb.delta, bb.next, bb.work, bb.codes[:rows*b]
		status, dEs := s.status[bi*m+lo:bi*m+hi], s.dEs[bi*m+lo:bi*m+hi]
		clear(status)
		clear(dEs)
		pool.Run(rows, 1, func(a, z int) {
			for r := a; r < z; r++ {
				if (r-a)%projectRows == 0 {
					r1 := min(r+projectRows, z)
					project(g, q, s.zf, lo+r, lo+r1, blk, target[r*b:r1*b], d.upper, next[r*b:r1*b], nc[r*b:r1*b], work[r*b:r1*b])
				}
				newv := next[r*b : (r+1)*b]
				dr := delta[r*b : (r+1)*b]
				changed := false
				for j := range dr {
					dr[j] = newv[j] - cur[r*b+j]
					changed = changed || dr[j] != 0
				}
				if !changed {
					continue
				}
				// ΔE = −2 Δ·p + Δ G Δ, the change of this row's objective.
				dE := 0.0
				for j := 0; j < b; j++ {
					if dr[j] == 0 {
						continue
					}
					s := 0.0
					for k, gv := range d.gtrue[j*b : (j+1)*b] {
						s += gv * dr[k]
					}
					dE += -2*dr[j]*p[r*b+j] + dr[j]*s
				}
				if dE >= 0 && !s.noSafeguard {
					clear(dr)
					status[r] = -1
					continue
				}
				status[r], dEs[r] = 1, dE
				copy(cur[r*b:(r+1)*b], newv)
				copy(codes[r*b:(r+1)*b], nc[r*b:(r+1)*b])
			}
		})
		if !s.rd.AllData {
			// R −= X_S Δᵀ
			blas64.Gemm(blas.NoTrans, blas.Trans, -1,
				blas64.General{Rows: s.T, Cols: b, Stride: b, Data: d.xs},
				blas64.General{Rows: m, Cols: b, Stride: b, Data: delta},
				1, blas64.General{Rows: s.T, Cols: m, Stride: m, Data: s.R})
			continue
		}
		// inside the super-block: local P −= Δ H[S, cols]
		if s.P32 != nil {
			bb.delta32 = grow(bb.delta32, rows*b)
			for i, v := range delta {
				bb.delta32[i] = float32(v)
			}
			pool.GemmSubPanelsF32(bb.local32, ns, bb.delta32, b, d.hblk, rows)
		} else {
			blas64.Gemm(blas.NoTrans, blas.NoTrans, -1,
				blas64.General{Rows: rows, Cols: b, Stride: b, Data: delta},
				blas64.General{Rows: b, Cols: ns, Stride: ns, Data: d.hrect},
				1, blas64.General{Rows: rows, Cols: ns, Stride: ns, Data: bb.local})
		}
		off := s.blockOff[bi]
		for r := 0; r < rows; r++ {
			copy(bb.sbDelta[r*ns+off:r*ns+off+b], delta[r*b:(r+1)*b])
		}
		if bi != sb.last {
			continue
		}
		// lazy batch: P −= Δ_SB H[SB, :] as one float32 GEMM against the packed columns, then
		// the super-block's own columns take their exact local values
		bb.d32 = grow(bb.d32, rows*ns)
		for i, v := range bb.sbDelta {
			bb.d32[i] = float32(v)
		}
		hp := s.hpan[s.sbOf[bi]]
		if s.P32 != nil { // large: subtracted from the float32 P in place
			pool.GemmSubPanelsF32(s.P32[lo*n:hi*n], n, bb.d32, ns, hp, rows)
			scatterCols(s.P32[lo*n:hi*n], bb.local32, rows, n, sb.cols)
			continue
		}
		// small: into the float64 P through a product buffer
		bb.upd = grow(bb.upd, rows*n)
		pool.MatMulPanelsF32(bb.upd, n, bb.d32, ns, hp, rows)
		for i, u := range bb.upd {
			s.P[lo*n+i] -= float64(u)
		}
		scatterCols(s.P[lo*n:hi*n], bb.local, rows, n, sb.cols)
	}
}

// superPanels packs H[:, cols] of each super-block for the deferred products (H is symmetric:
// its columns are its rows), all in one buffer.
func superPanels(H32 []float32, n int, supers []superBlock) []*cpu.PanelsF32 {
	total := 0
	for _, sb := range supers {
		total += cpu.PanelsLen(len(sb.cols), n)
	}
	buf := cpu.MakeHuge[float32](total)
	var hcols []float32
	out := make([]*cpu.PanelsF32, len(supers))
	for i, sb := range supers {
		ns := len(sb.cols)
		w, ldw := H32[sb.cols[0]:], n // hcols[i][j] = H[i][cols_j]: a strided block of H
		if !consecutive(sb.cols) {
			hcols = grow(hcols, n*ns)
			parallelRows(n, ns, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					for j, c := range sb.cols {
						hcols[i*ns+j] = H32[i*n+c]
					}
				}
			})
			w, ldw = hcols, ns
		}
		l := cpu.PanelsLen(ns, n)
		out[i] = cpu.PackPanelsF32(w, ldw, ns, n, buf[:l])
		buf = buf[l:]
	}
	return out
}

// Package q holds the quantized matmul kernels of the CPU backend: GPTQ checkpoints (2/3/4/8-bit
// codes, any group size, act-order, sym or asym, v1 or v2 zeros) are repacked once at load into an
// interleaved layout, and multiplied by activations that are quantized on the fly to 8-bit blocks,
// following ggml's recipe (reference/runtime.md §1):
//
//	y[n] = Σ_b s[n,b]·d_b·(q[n,b]·xq_b) − (s·z)[n,b]·(d_b·Σxq_b)
//
// The integer dot product q·xq runs in SIMD (AVX2, AVX-512 VNNI, NEON SDOT, or pure Go), and the
// GPTQ zero point costs one multiply-add per block and row, like ggml's Q4_K minimum.
//
// Layout (one Matrix, whatever the kernel): output rows in blocks of 16 ("row blocks"); the input
// dimension permuted to group order (act-order g_idx) and each group zero-padded to a multiple of
// the block size B; per row block, per step of 8 inputs (4-bit) or 4 inputs (8-bit), 64 bytes: row
// r's 4 bytes at offset 4r. A 4-bit byte i holds input i (low nibble) and input i+4 (high nibble),
// so one 32-bit lane is one row's 4-input dot product: VPDPBUSD, VPMADDUBSW and SDOT all produce
// 16 rows' sums per 64-byte load with no shuffles and no horizontal sums. Beside the codes, per row
// block and block, one metadata record: the 16 rows' scales s as fp16, then their zero points z as
// uint8 (4-bit codes: 48 bytes) or uint16 (8-bit codes, whose GPTQ v1 zeros reach 256: 64 bytes).
// The kernels form s·z in float32, which is exact (an fp16 times an integer below 2^9), so the
// results equal those of float32 scales and zero terms, at 4.75 bits per weight for groups of 32
// where float32 cost 6 (ggml's Q4_1: 5).
package q

import (
	"encoding/binary"
	"fmt"
	"runtime"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/kernels/half"
)

// rows is the row-block height: one 64-byte load holds 16 rows × 4 bytes.
const rows = 16

// tileTokens is the token tile of the GEMM kernels: each 64-byte weight load is used this often.
const tileTokens = 4

// Matrix is a repacked quantized weight of shape [Out][In] (y = W·x).
type Matrix struct {
	In, Out   int // logical shape
	Bits      int // 2, 3, 4 or 8 (the codes' width in the checkpoint)
	GroupSize int // as in the checkpoint; -1 = one group per output row

	codeBits int // 4 (bits 2..4) or 8: the width of the codes in w
	blk      int // B: inputs per activation block (a multiple of 8), constant scale inside
	nb       int // blocks per row: kp = nb·blk
	kp       int // padded input length
	nrb      int // row blocks: ceil(Out/16)

	src []int32 // padded input position → original input index, -1 = padding; nil = identity

	w  []byte // nrb × kp × 16 × codeBits/8 bytes, 64-byte aligned
	sm []byte // nrb × nb records of metaBytes(codeBits): s[16] fp16, then z[16] (uint8 or uint16)

	pool *cpu.Pool
}

// SetPool makes the matrix split its work over p (nil = cpu.Default()).
func (m *Matrix) SetPool(p *cpu.Pool) { m.pool = p }

func (m *Matrix) workers() *cpu.Pool {
	if m.pool != nil {
		return m.pool
	}
	return cpu.Default()
}

// Bytes is the resident size of the repacked weight: codes, scales, zero terms and permutation.
func (m *Matrix) Bytes() int { return len(m.w) + len(m.sm) + 4*len(m.src) }

// metaBytes is the size of one (row block, block) metadata record: 16 fp16 scales and 16 zeros
// of 1 byte (4-bit codes) or 2 bytes (8-bit codes).
func metaBytes(codeBits int) int {
	if codeBits == 8 {
		return 64
	}
	return 48
}

// meta is m's record size.
func (m *Matrix) meta() int { return metaBytes(m.codeBits) }

// rbMeta is one row block's records (nb of them).
func (m *Matrix) rbMeta(rb int) []byte { return m.sm[rb*m.nb*m.meta() : (rb+1)*m.nb*m.meta()] }

// setMeta stores row r's scale (fp16 bits) and zero point for block b of row block rb.
func (m *Matrix) setMeta(rb, b, r int, s uint16, z int) {
	rec := m.sm[(rb*m.nb+b)*m.meta():]
	binary.LittleEndian.PutUint16(rec[2*r:], s)
	if m.codeBits == 8 {
		binary.LittleEndian.PutUint16(rec[32+2*r:], uint16(z))
	} else {
		rec[32+r] = byte(z)
	}
}

// scaleZero returns row r's s and s·z in block b of row block rb, as the kernels compute them.
func (m *Matrix) scaleZero(rb, b, r int) (s, sz float32) {
	return recScaleZero(m.sm[(rb*m.nb+b)*m.meta():], m.codeBits, r)
}

// recScaleZero reads row r of one metadata record.
func recScaleZero(rec []byte, codeBits, r int) (s, sz float32) {
	s = half.F16ToF32(binary.LittleEndian.Uint16(rec[2*r:]))
	z := int(rec[32+r])
	if codeBits == 8 {
		z = int(binary.LittleEndian.Uint16(rec[32+2*r:]))
	}
	return s, s * float32(z)
}

// rbBytes is the size of one row block's codes.
func (m *Matrix) rbBytes() int { return m.kp * rows * m.codeBits / 8 }

// code returns the stored code of output row n at padded input position p.
func (m *Matrix) code(n, p int) int {
	rb, r := n/rows, n%rows
	base := rb * m.rbBytes()
	if m.codeBits == 8 {
		return int(m.w[base+(p/4)*64+r*4+p%4])
	}
	j, i := p/8, p%8
	b := m.w[base+j*64+r*4+i%4]
	if i < 4 {
		return int(b & 15)
	}
	return int(b >> 4)
}

// Dequantize returns the weight as float32 [Out][In], the same values the kernels use
// (s·(q − z) with s·z rounded to float32 as stored). For tests and the reference path.
func (m *Matrix) Dequantize() []float32 {
	out := make([]float32, m.Out*m.In)
	for n := 0; n < m.Out; n++ {
		m.Row(out[n*m.In:(n+1)*m.In], n)
	}
	return out
}

// MatVec computes dst = W·x for one token (len(x) == In, len(dst) == Out).
func (m *Matrix) MatVec(dst, x []float32) {
	if len(x) != m.In || len(dst) != m.Out {
		panic(fmt.Sprintf("q: MatVec: x has %d values and dst %d, want %d and %d", len(x), len(dst), m.In, m.Out))
	}
	m.matVec(active(), dst, x)
}

// MatMul computes dst[t] = W·x[t] for n tokens: x is row-major [n][In], dst [n][Out].
func (m *Matrix) MatMul(dst, x []float32, n int) {
	if n < 0 || len(x) != n*m.In || len(dst) != n*m.Out {
		panic(fmt.Sprintf("q: MatMul: x has %d values and dst %d, want %d×%d and %d×%d", len(x), len(dst), n, m.In, n, m.Out))
	}
	m.matMul(active(), dst, x, n)
}

// MatMulOn is MatMul split over the workers of p (the caller's pool) instead of the matrix's own.
func (m *Matrix) MatMulOn(p *cpu.Pool, dst, x []float32, n int) {
	c := *m
	c.pool = p
	c.MatMul(dst, x, n)
	runtime.KeepAlive(m) // c shares m's weights, which m's cleanup unmaps (weightBytes)
}

// Row writes output row n of the dequantized weight (In values) into dst: embedding lookups
// of a quantized, tied embedding.
func (m *Matrix) Row(dst []float32, n int) {
	if n < 0 || n >= m.Out || len(dst) < m.In {
		panic(fmt.Sprintf("q: Row(%d) of a %d×%d matrix into %d values", n, m.Out, m.In, len(dst)))
	}
	rb, r := n/rows, n%rows
	for p := 0; p < m.kp; p++ {
		k := p
		if m.src != nil {
			k = int(m.src[p])
		}
		if k < 0 || k >= m.In {
			continue
		}
		s, sz := m.scaleZero(rb, p/m.blk, r)
		dst[k] = s*float32(m.code(n, p)) - sz
	}
}

func (m *Matrix) matVec(k *kernels, dst, x []float32) {
	a := getActs(m.kp, 2*m.nb)
	defer putActs(a)
	m.quantize(a.q, a.d, x)
	dot := k.dot4
	if m.codeBits == 8 {
		dot = k.dot8
	}
	rbb := m.rbBytes()
	m.workers().Share(m.nrb, 1, func(lo, hi int) {
		var tmp [rows]float32
		for rb := lo; rb < hi; rb++ {
			out := tmp[:]
			full := (rb+1)*rows <= m.Out
			if full {
				out = dst[rb*rows : (rb+1)*rows]
			}
			dot(m.w[rb*rbb:(rb+1)*rbb], m.rbMeta(rb), a.q, a.d, m.nb, m.blk, out)
			if !full {
				copy(dst[rb*rows:m.Out], tmp[:m.Out-rb*rows])
			}
		}
	})
}

// quantize quantizes one token's activations, split over the workers by blocks when the row is
// long enough to pay for a second dispatch (in Go a 14336-wide row costs ~50 µs on one core; the
// AVX2 routine ~4 µs, not worth a dispatch).
func (m *Matrix) quantize(q []int8, d []float32, x []float32) {
	if m.nb < 32 || (m.src == nil && quantizeFast != nil) {
		quantizeRow(q, d, x, m.src, m.blk)
		return
	}
	m.workers().Run(m.nb, 1, func(lo, hi int) {
		quantizeBlocks(q, d, x, m.src, m.blk, lo, hi)
	})
}

// groupTiles is how many token tiles share one pass over the weights in MatMul: their quantized
// activations (groupTiles·4·In bytes) stay in L2 while each row block's codes are reused.
const groupTiles = 8

func (m *Matrix) matMul(k *kernels, dst, x []float32, n int) {
	if n == 1 {
		m.matVec(k, dst, x)
		return
	}
	dot := k.tile4
	if m.codeBits == 8 {
		dot = k.tile8
	}
	rbb := m.rbBytes()
	tiles := (n + tileTokens - 1) / tileTokens
	for g0 := 0; g0 < tiles; g0 += groupTiles {
		g1 := min(g0+groupTiles, tiles)
		a := getActs((g1-g0)*tileTokens*m.kp, (g1-g0)*tileTokens*2*m.nb)
		tq, td := m.kp*tileTokens, 2*m.nb*tileTokens
		m.workers().Run(g1-g0, 1, func(lo, hi int) {
			row, rd := make([]int8, m.kp), make([]float32, 2*m.nb)
			for t := g0 + lo; t < g0+hi; t++ {
				t0, t1 := t*tileTokens, min((t+1)*tileTokens, n)
				quantizeTile(a.q[(t-g0)*tq:(t-g0+1)*tq], a.d[(t-g0)*td:(t-g0+1)*td], x[t0*m.In:t1*m.In], t1-t0, m.In, m.src, m.blk, row, rd)
			}
		})
		m.workers().Run(m.nrb, 1, func(lo, hi int) {
			var out [tileTokens * rows]float32
			for rb := lo; rb < hi; rb++ {
				w := m.w[rb*rbb : (rb+1)*rbb]
				sm := m.rbMeta(rb)
				r0, r1 := rb*rows, min((rb+1)*rows, m.Out)
				for t := g0; t < g1; t++ {
					dot(w, sm, a.q[(t-g0)*tq:(t-g0+1)*tq], a.d[(t-g0)*td:(t-g0+1)*td], m.nb, m.blk, out[:])
					for j := 0; j < tileTokens && t*tileTokens+j < n; j++ {
						tok := t*tileTokens + j
						copy(dst[tok*m.Out+r0:tok*m.Out+r1], out[j*rows:j*rows+r1-r0])
					}
				}
			}
		})
		putActs(a)
	}
}

package q

import (
	"math"
	"sync"
)

// Activations are quantized per block of B inputs (in the matrix's padded order) to int8 with a
// float32 scale d = max|x|/127, xq = round(x·127/max). Each block also carries xsum = d·Σxq, the
// quantized block sum that the zero term s·z multiplies. So per block: d, xsum (2 float32).
//
// Rounding bound (used by the tests): |x − d·xq| ≤ d/2 + 4u·|x| with u = 2^-24, since x·inv and d
// each carry one float32 rounding and |x·inv − xq| ≤ 1/2.

// quantizeBlock writes the 8-bit codes of v (len(v) == len(q)) and returns d and xsum.
func quantizeBlock(q []int8, v []float32) (d, xsum float32) {
	q = q[:len(v)]
	var amax float32
	for _, f := range v {
		amax = max(amax, abs32(f))
	}
	if amax == 0 {
		clear(q)
		return 0, 0
	}
	d = amax / 127
	inv := 127 / amax
	var sum int32
	for i, f := range v {
		// Round to nearest even by the 1.5·2^23 trick: |f·inv| ≤ 127(1+2u), far below 2^22,
		// so the float32 sum lands on an integer and the subtraction is exact.
		r := float32(f*inv) + roundMagic // float32(): the product rounds on its own (no FMA), as in asm
		c := int32(r - roundMagic)
		q[i] = int8(c)
		sum += c
	}
	return d, d * float32(sum)
}

const roundMagic float32 = 1.5 * (1 << 23)

// quantizeFast, when the architecture has one, quantizes whole contiguous blocks exactly as
// quantizeBlock does (same operations, same rounding: bit-identical for finite inputs).
var quantizeFast func(x []float32, q []int8, d []float32, blk int)

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }

// gatherBlock copies block b of x in padded order (src nil = identity, -1 = padding) into v.
func gatherBlock(v, x []float32, src []int32, b, blk int) {
	if src == nil {
		lo := b * blk
		n := copy(v, x[min(lo, len(x)):min(lo+blk, len(x))])
		clear(v[n:])
		return
	}
	for i := range v {
		if k := src[b*blk+i]; k >= 0 {
			v[i] = x[k]
		} else {
			v[i] = 0
		}
	}
}

// quantizeRow quantizes one token: q gets kp codes, d gets (d, xsum) per block.
func quantizeRow(q []int8, d []float32, x []float32, src []int32, blk int) {
	quantizeBlocks(q, d, x, src, blk, 0, len(q)/blk)
}

// quantizeBlocks quantizes blocks [lo, hi) of one token.
func quantizeBlocks(q []int8, d []float32, x []float32, src []int32, blk, lo, hi int) {
	var buf [256]float32
	v := buf[:0]
	if blk <= len(buf) {
		v = buf[:blk]
	} else {
		v = make([]float32, blk)
	}
	if src == nil && quantizeFast != nil {
		// whole blocks inside x in one assembly call; the zero-padded tail below
		full := min(hi, len(x)/blk)
		if full > lo {
			quantizeFast(x[lo*blk:full*blk], q[lo*blk:full*blk], d[2*lo:2*full], blk)
			lo = full
		}
	}
	for b := lo; b < hi; b++ {
		gatherBlock(v, x, src, b, blk)
		d[2*b], d[2*b+1] = quantizeBlock(q[b*blk:(b+1)*blk], v)
	}
}

// quantizeTile quantizes up to tileTokens tokens (x is [nt][in]) into the GEMM tile layout: codes
// [kp/4][tileTokens][4] (each token's 4-input word beside the other tokens', so a kernel
// broadcasts one word per token per step) and per block [tileTokens](d, xsum). Missing tokens are
// zero.
// row and rd are scratch space for one token (kp codes, 2·nb floats).
func quantizeTile(tq []int8, td []float32, x []float32, nt, in int, src []int32, blk int, row []int8, rd []float32) {
	kp := len(tq) / tileTokens
	nb := kp / blk
	for t := 0; t < tileTokens; t++ {
		if t < nt {
			quantizeRow(row, rd, x[t*in:(t+1)*in], src, blk)
		} else {
			clear(row)
			clear(rd)
		}
		for w := 0; w < kp/4; w++ {
			copy(tq[(w*tileTokens+t)*4:(w*tileTokens+t)*4+4], row[w*4:w*4+4])
		}
		for b := 0; b < nb; b++ {
			td[(b*tileTokens+t)*2] = rd[2*b]
			td[(b*tileTokens+t)*2+1] = rd[2*b+1]
		}
	}
}

// acts is a reusable scratch buffer for quantized activations.
type acts struct {
	q []int8
	d []float32
}

var actPool sync.Pool

func getActs(nq, nd int) *acts {
	a, _ := actPool.Get().(*acts)
	if a == nil {
		a = &acts{}
	}
	if cap(a.q) < nq {
		a.q = make([]int8, nq)
	}
	if cap(a.d) < nd {
		a.d = make([]float32, nd)
	}
	a.q, a.d = a.q[:nq], a.d[:nd]
	return a
}

func putActs(a *acts) { actPool.Put(a) }

package q

import (
	"math/rand/v2"

	"github.com/rpiq/rpiq/kernels/half"
)

// gptqLayer is a synthetic GPTQ linear layer in checkpoint form, with the codes it was packed
// from, for the start-up self-check, the tests and the benchmarks (speed does not depend on values).
type gptqLayer struct {
	in, out, bits, group int
	sym, v1              bool
	codes                []uint8 // [in][out]
	zeros                []uint8 // [groups][out], as stored (v1: zero−1)
	gIdx                 []int32 // nil without act-order

	qweight, qzeros []int32
	scales          []uint16
}

// randomGPTQ draws a layer: codes uniform, fp16 scales in [0.005, 0.05), zeros uniform (asym) or
// 2^(bits-1) (sym), act-order as a random permutation of inputs assigned to groups in order.
func randomGPTQ(rng *rand.Rand, in, out, bits, group int, actOrder, asym, v1 bool) *gptqLayer {
	g := &gptqLayer{in: in, out: out, bits: bits, group: group, sym: !asym, v1: v1}
	groups := 1
	if group > 0 {
		groups = ceilDiv(in, group)
	}
	lim := 1 << bits
	g.codes = make([]uint8, in*out)
	for i := range g.codes {
		g.codes[i] = uint8(rng.IntN(lim))
	}
	g.zeros = make([]uint8, groups*out)
	for i := range g.zeros {
		z := lim / 2
		if asym {
			z = rng.IntN(lim)
		}
		if v1 && !asym {
			z-- // v1 stores zero−1
		}
		g.zeros[i] = uint8(z)
	}
	g.scales = make([]uint16, groups*out)
	for i := range g.scales {
		g.scales[i] = half.F32ToF16(0.005 + 0.045*rng.Float32())
	}
	if actOrder && group > 0 {
		perm := rng.Perm(in)
		g.gIdx = make([]int32, in)
		for j, i := range perm {
			g.gIdx[i] = int32(j / group)
		}
	}
	qrows := ceilDiv(in*bits, 32)
	if bits == 3 {
		qrows = ceilDiv(in, 32) * 3 // AutoGPTQ's 3-word units (qzeros below stay tight: both are read)
	}
	g.qweight = make([]int32, qrows*out)
	for k := 0; k < in; k++ {
		for n := 0; n < out; n++ {
			putBits(g.qweight, out, n, k*bits, bits, uint32(g.codes[k*out+n]))
		}
	}
	zw := ceilDiv(out*bits, 32)
	g.qzeros = make([]int32, groups*zw)
	for gi := 0; gi < groups; gi++ {
		for n := 0; n < out; n++ {
			putBits(g.qzeros[gi*zw:(gi+1)*zw], 1, 0, n*bits, bits, uint32(g.zeros[gi*out+n]))
		}
	}
	return g
}

// putBits is AutoGPTQ's pack: code at stream bit position bit of column col, LSB first,
// spilling into the next word when it straddles (3-bit).
func putBits(t []int32, cols, col, bit, bits int, v uint32) {
	w, sh := bit/32, bit%32
	t[w*cols+col] = int32(uint32(t[w*cols+col]) | v<<sh)
	if sh+bits > 32 {
		t[(w+1)*cols+col] = int32(uint32(t[(w+1)*cols+col]) | v>>(32-sh))
	}
}

func (g *gptqLayer) groupOf(k int) int {
	if g.gIdx != nil {
		return int(g.gIdx[k])
	}
	if g.group <= 0 {
		return 0
	}
	return k / g.group
}

// weight64 is the float64 dequantized weight [out][in] by the GPTQ loaders' formula
// w = scale·(q − z), z = stored (+1 for v1), computed from the unpacked codes.
func (g *gptqLayer) weight64() []float64 {
	w := make([]float64, g.out*g.in)
	for n := 0; n < g.out; n++ {
		for k := 0; k < g.in; k++ {
			gi := g.groupOf(k)
			z := float64(g.zeros[gi*g.out+n])
			if g.v1 {
				z++
			}
			s := float64(half.F16ToF32(g.scales[gi*g.out+n]))
			w[n*g.in+k] = s * (float64(g.codes[k*g.out+n]) - z)
		}
	}
	return w
}

func (g *gptqLayer) repack() (*Matrix, error) {
	return RepackGPTQ(g.qweight, g.qzeros, g.scales, g.gIdx, g.in, g.out, g.bits, g.group, g.sym, g.v1)
}

package cudakernels

import (
	"math"
	"sort"
)

// Float64 references for the kernels whose semantics are this package's own. The backend's
// element-wise, norm, RoPE and attention ops are checked by runtime/backend/backendtest instead.

// GPTQ is one quantized linear layer in the GPTQ checkpoint layout the kernels read as stored:
// Qweight [K*Bits/32][N] packed along K, Qzeros [G][N*Bits/32] packed along N, Scales f16 bits
// [G][N], group g = k / GroupSize. Zero = stored + ZeroOffset (1 for GPTQ v1 files, 0 for v2).
type GPTQ struct {
	Bits, K, N, GroupSize, ZeroOffset int
	Qweight, Qzeros                   []uint32
	Scales                            []uint16
	Perm                              []int32 // optional: input index of row k (act-order)
}

// Groups is the number of quantization groups along K.
func (q *GPTQ) Groups() int { return (q.K + q.GroupSize - 1) / q.GroupSize }

// Code returns the stored code of weight (k, n).
func (q *GPTQ) Code(k, n int) int {
	pack := 32 / q.Bits
	return int(q.Qweight[(k/pack)*q.N+n]>>(uint(k%pack)*uint(q.Bits))) & (1<<q.Bits - 1)
}

// Zero returns the zero point of group g, column n, offset applied.
func (q *GPTQ) Zero(g, n int) int {
	pack := 32 / q.Bits
	w := q.Qzeros[g*(q.N/pack)+n/pack]
	return int(w>>(uint(n%pack)*uint(q.Bits)))&(1<<q.Bits-1) + q.ZeroOffset
}

// Dequant returns the float64 weight (k, n) = scale * (code - zero).
func (q *GPTQ) Dequant(k, n int) float64 {
	g := k / q.GroupSize
	return float64(F16ToF32(q.Scales[g*q.N+n])) * float64(q.Code(k, n)-q.Zero(g, n))
}

// MatMulRef returns y[m][n] = sum_k x[m][perm(k)] * W(k, n) + bias[n] for m rows of x [m][K].
func (q *GPTQ) MatMulRef(x []float32, m int, bias []float32) []float64 {
	w := make([]float64, q.K*q.N)
	for k := 0; k < q.K; k++ {
		for n := 0; n < q.N; n++ {
			w[k*q.N+n] = q.Dequant(k, n)
		}
	}
	y := make([]float64, m*q.N)
	for r := 0; r < m; r++ {
		for k := 0; k < q.K; k++ {
			src := k
			if q.Perm != nil {
				src = int(q.Perm[k])
			}
			xv := float64(x[r*q.K+src])
			for n := 0; n < q.N; n++ {
				y[r*q.N+n] += xv * w[k*q.N+n]
			}
		}
		if bias != nil {
			for n := 0; n < q.N; n++ {
				y[r*q.N+n] += float64(bias[n])
			}
		}
	}
	return y
}

// PackGPTQ builds the layout from codes [K][N] and true zeros [G][N] (stored as zero -
// zeroOffset, as a v1 writer does). It needs K % (32/bits) == 0 and N % (32/bits) == 0.
func PackGPTQ(bits, K, N, groupSize, zeroOffset int, codes, zeros []int, scales []uint16) *GPTQ {
	pack := 32 / bits
	q := &GPTQ{Bits: bits, K: K, N: N, GroupSize: groupSize, ZeroOffset: zeroOffset, Scales: scales}
	q.Qweight = make([]uint32, K/pack*N)
	for k := 0; k < K; k++ {
		for n := 0; n < N; n++ {
			q.Qweight[(k/pack)*N+n] |= uint32(codes[k*N+n]) << (uint(k%pack) * uint(bits))
		}
	}
	G := q.Groups()
	q.Qzeros = make([]uint32, G*(N/pack))
	mask := uint32(1)<<bits - 1
	for g := 0; g < G; g++ {
		for n := 0; n < N; n++ {
			stored := uint32(zeros[g*N+n]-zeroOffset) & mask // v1 wraps a zero of 0 to 2^bits-1
			q.Qzeros[g*(N/pack)+n/pack] |= stored << (uint(n%pack) * uint(bits))
		}
	}
	return q
}

// Uniform01 is sample.cu's draw number step under seed: splitmix64, top 24 bits.
func Uniform01(seed, step uint64) float32 {
	z := seed + (step+1)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	return float32(z>>40) * (1.0 / 16777216.0)
}

// SampleKept returns the candidate set sample_topk_topp draws from and their unnormalized
// probabilities, computed in float64: logits >= the k-th largest (ties kept), then the most
// likely tokens whose mass first reaches topP.
func SampleKept(logits []float32, temperature float64, topK int, topP float64) map[int]float64 {
	n := len(logits)
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	tk := math.Inf(-1)
	if topK > 0 && topK < n {
		sorted := append([]float32(nil), logits...)
		sortDesc(sorted)
		tk = float64(sorted[topK-1])
	}
	p := map[int]float64{}
	total := 0.0
	for i, v := range logits {
		if float64(v) >= tk {
			p[i] = math.Exp((float64(v) - mx) / temperature)
			total += p[i]
		}
	}
	if topP >= 1 {
		return p
	}
	probs := make([]float64, 0, len(p))
	for _, v := range p {
		probs = append(probs, v)
	}
	sortDesc64(probs)
	mass, tp := 0.0, 0.0
	for _, v := range probs {
		mass += v
		tp = v
		if mass >= topP*total {
			break
		}
	}
	for i, v := range p {
		if v < tp {
			delete(p, i)
		}
	}
	return p
}

// SampleRef draws from SampleKept with Uniform01(seed, step), walking the kept set in index
// order as the kernel does.
func SampleRef(logits []float32, temperature float64, topK int, topP float64, seed, step uint64) int {
	kept := SampleKept(logits, temperature, topK, topP)
	total := 0.0
	for _, v := range kept {
		total += v
	}
	u := float64(Uniform01(seed, step)) * total
	run, last := 0.0, 0
	for i := range logits {
		v, ok := kept[i]
		if !ok {
			continue
		}
		last = i
		run += v
		if u < run {
			return i
		}
	}
	return last
}

// ArgmaxRef is the lowest index of the largest logit.
func ArgmaxRef(logits []float32) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return best
}

func sortDesc(v []float32)   { sort.Slice(v, func(i, j int) bool { return v[i] > v[j] }) }
func sortDesc64(v []float64) { sort.Slice(v, func(i, j int) bool { return v[i] > v[j] }) }

// F16ToF32 widens IEEE half bits exactly (kept here so this package imports nothing of ours).
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		f := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

package cpubackend

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rpiq/rpiq/kernels/half"
)

// TestGPTQWeightMatchesDequantized: a repacked 4-bit layer multiplies like its float32
// dequantization (the kernels' own float64-bound tests are in kernels/cpu/q; here the check is
// the plumbing: shapes, v1 zeros, act-order, pool, Embed rows).
func TestGPTQWeightMatchesDequantized(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const in, out, gs = 200, 24, 64
	groups := (in + gs - 1) / gs
	codes := make([]uint32, in*out)
	for i := range codes {
		codes[i] = uint32(rng.IntN(16))
	}
	qweight := make([]uint32, (in+7)/8*out)
	for k := 0; k < in; k++ {
		for n := 0; n < out; n++ {
			qweight[(k/8)*out+n] |= codes[k*out+n] << (4 * (k % 8))
		}
	}
	zeros := make([]uint32, groups*out) // stored zero−1 (v1)
	qzeros := make([]uint32, groups*((out+7)/8))
	scales := make([]uint16, groups*out)
	for g := 0; g < groups; g++ {
		for n := 0; n < out; n++ {
			zeros[g*out+n] = uint32(rng.IntN(15))
			qzeros[g*((out+7)/8)+n/8] |= zeros[g*out+n] << (4 * (n % 8))
			scales[g*out+n] = half.F32ToF16(0.01 + 0.02*rng.Float32())
		}
	}
	perm := rng.Perm(in)
	gIdx := make([]int32, in)
	for j, k := range perm {
		gIdx[k] = int32(j / gs)
	}
	dense := make([]float32, out*in)
	for n := 0; n < out; n++ {
		for k := 0; k < in; k++ {
			g := int(gIdx[k])
			s := half.F16ToF32(scales[g*out+n])
			dense[n*in+k] = s * (float32(codes[k*out+n]) - float32(zeros[g*out+n]+1))
		}
	}
	be := New(2)
	w, err := be.RepackGPTQ(qweight, qzeros, scales, gIdx, in, out, 4, gs, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if w.Rows() != out || w.Cols() != in {
		t.Fatalf("shape %d×%d, want %d×%d", w.Rows(), w.Cols(), out, in)
	}
	got := be.WeightF32(w)
	for i := range got {
		if math.Abs(float64(got[i]-dense[i])) > 1e-5 {
			t.Fatalf("dequantized[%d] = %v, want %v", i, got[i], dense[i])
		}
	}
	const n = 3
	xv := make([]float32, n*in)
	for i := range xv {
		xv[i] = float32(rng.NormFloat64())
	}
	x, yq, yd := be.NewTensor(n, in), be.NewTensor(n, out), be.NewTensor(n, out)
	be.Upload(x, xv)
	be.MatMul(yq, x, w)
	be.MatMul(yd, x, be.NewWeightF32(out, in, dense))
	a, b := make([]float32, n*out), make([]float32, n*out)
	be.Download(a, yq)
	be.Download(b, yd)
	for i := range a {
		// 8-bit activations: about 0.4% of Σ|w·x| per output (see kernels/cpu/q for the bound)
		var l1 float64
		for k := 0; k < in; k++ {
			l1 += math.Abs(float64(dense[(i%out)*in+k] * xv[(i/out)*in+k]))
		}
		if e := math.Abs(float64(a[i] - b[i])); e > 0.02*l1 {
			t.Errorf("output %d: quantized kernels %v, dense %v (Σ|w·x| = %.3g)", i, a[i], b[i], l1)
		}
	}
	emb := be.NewTensor(2, in)
	be.Embed(emb, w, []int32{5, 23})
	row := make([]float32, 2*in)
	be.Download(row, emb)
	for k := 0; k < in; k++ {
		if row[k] != got[5*in+k] || row[in+k] != got[23*in+k] {
			t.Fatalf("Embed row differs from the dequantized weight at %d", k)
		}
	}
	if _, err := be.RepackGPTQ(qweight[1:], qzeros, scales, gIdx, in, out, 4, gs, false, false); err == nil {
		t.Fatal("a short qweight was accepted")
	}
}

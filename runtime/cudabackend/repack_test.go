package cudabackend

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// randomCheckpointLayer makes GPTQ tensors as a checkpoint stores them: random code words
// (rows padded to whole words), random zeros, positive fp16 scales, and g_idx either in order or
// act-order (a random permutation of inputs cut into whole groups).
func randomCheckpointLayer(r *rand.Rand, in, out, bits, gs int, actOrder bool) (qw, qz []uint32, sc []uint16, gIdx []int32) {
	pack := 32 / bits
	groups := (in + gs - 1) / gs
	qw = make([]uint32, (in+pack-1)/pack*out)
	for i := range qw {
		qw[i] = r.Uint32()
	}
	qz = make([]uint32, groups*((out+pack-1)/pack))
	for i := range qz {
		qz[i] = r.Uint32()
	}
	sc = make([]uint16, groups*out)
	for i := range sc {
		sc[i] = half.F32ToF16(float32(0.001 + 0.02*r.Float64()))
	}
	gIdx = make([]int32, in)
	perm := r.Perm(in)
	for j, i := range perm {
		g := i / gs
		if actOrder {
			g = j / gs
		}
		gIdx[i] = int32(g)
	}
	return
}

// The CUDA backend takes GPTQ checkpoint tensors (through hfmodel's GPTQRepacker) and multiplies
// like the CPU backend's own GPTQ weights, for layouts the kernels run as stored, act-order rows
// it reorders, and shapes it dequantizes on the host (172 = stories260K's FFN width).
func TestEmulatedRepackGPTQMatchesCPU(t *testing.T) {
	b := emuForTest(t, Options{})
	cpu := cpubackend.New(1)
	r := freshRand(t)
	for _, c := range []struct {
		in, out, bits, gs int
		act, v2           bool
	}{
		{256, 64, 4, 64, false, false},
		{256, 64, 4, 64, true, true},
		{128, 40, 8, 32, false, true},
		{172, 64, 4, 32, false, false}, // K not whole words: host dequantization
		{64, 172, 4, 32, true, true},   // N not a multiple of 8: host dequantization
	} {
		qw, qz, sc, gIdx := randomCheckpointLayer(r, c.in, c.out, c.bits, c.gs, c.act)
		want, err := cpu.RepackGPTQ(qw, qz, sc, gIdx, c.in, c.out, c.bits, c.gs, false, c.v2)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.RepackGPTQ(qw, qz, sc, gIdx, c.in, c.out, c.bits, c.gs, false, c.v2)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		for _, m := range []int{1, 3} {
			x := normals(r, m*c.in)
			run := func(be backend.Backend, w backend.Weight) []float32 {
				xt := be.NewTensor(m, c.in)
				be.Upload(xt, x)
				y := be.NewTensor(m, c.out)
				be.MatMul(y, xt, w)
				out := make([]float32, m*c.out)
				be.Download(out, y)
				return out
			}
			// exact weights, float32 sums: compare with the reference dequantization's magnitude
			ref := run(cpubackend.New(1), cpubackend.New(1).NewWeightF32(c.out, c.in, mustDequant(t, qw, qz, sc, gIdx, c.in, c.out, c.bits, c.gs, c.v2)))
			g := run(b, got)
			wc := run(cpu, want) // the CPU's quantized kernels (8-bit activations): only a sanity bound
			var scale float64
			for _, v := range ref {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			// GEMV: float32 math on exact weights; GEMM: f16 operands on the tensor cores (2^-11 each)
			tol := 1e-4
			if m > 1 {
				tol = 5e-3
			}
			for i := range ref {
				if d := math.Abs(float64(g[i]-ref[i])) / scale; d > tol {
					t.Fatalf("%+v: CUDA [%d] = %v, dequantized reference %v", c, i, g[i], ref[i])
				}
				if d := math.Abs(float64(wc[i]-ref[i])) / scale; d > 0.05 {
					t.Fatalf("%+v: CPU GPTQ kernel [%d] = %v, dequantized reference %v: the layouts disagree", c, i, wc[i], ref[i])
				}
			}
		}
	}
}

func mustDequant(t *testing.T, qw, qz []uint32, sc []uint16, gIdx []int32, in, out, bits, gs int, v2 bool) []float32 {
	t.Helper()
	off := 1
	if v2 {
		off = 0
	}
	w, err := DequantizeGPTQ(qw, qz, sc, gIdx, in, out, bits, gs, off)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

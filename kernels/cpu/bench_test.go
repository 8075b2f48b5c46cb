package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkReadBandwidth reports the machine's read bandwidth (1 GiB buffer) per thread count:
// the ceiling for the decode GEMV below.
func BenchmarkReadBandwidth(b *testing.B) {
	buf := make([]uint64, 1<<27)
	for i := range buf {
		buf[i] = uint64(i)
	}
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			p := NewPool(th)
			defer p.Close()
			var bw float64
			for b.Loop() {
				bw = ReadBandwidth(p, buf, 1)
			}
			b.ReportMetric(bw/1e9, "GB/s")
		})
	}
}

// BenchmarkGEMV is decode: one activation row against a 4096×14336 (Llama-3-8B ffn_down sized)
// weight, reported as effective weight GB/s.
func BenchmarkGEMV(b *testing.B) {
	const m, k = 4096, 14336
	r := rand.New(rand.NewPCG(1, 1))
	x := randF32(r, k)
	w := randF32(r, m*k)
	w16 := make([]uint16, m*k)
	for i := range w16 {
		w16[i] = uint16(r.Uint32()) &^ 0x4000
	}
	dst := make([]float32, m)
	p := Default()
	b.Run("f32", func(b *testing.B) {
		for b.Loop() {
			p.MatMulF32(dst, x, w, 1, k, m)
		}
		b.ReportMetric(float64(4*m*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
	b.Run("bf16", func(b *testing.B) {
		for b.Loop() {
			p.MatMulBF16(dst, x, w16, 1, k, m)
		}
		b.ReportMetric(float64(2*m*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
	b.Run("f16", func(b *testing.B) {
		for b.Loop() {
			p.MatMulF16(dst, x, w16, 1, k, m)
		}
		b.ReportMetric(float64(2*m*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
}

// BenchmarkGEMM is prompt processing: 512 rows against a 2048×2048 weight, in GFLOP/s.
func BenchmarkGEMM(b *testing.B) {
	const n, k, m = 512, 2048, 2048
	r := rand.New(rand.NewPCG(1, 1))
	x := randF32(r, n*k)
	w := randF32(r, m*k)
	w16 := make([]uint16, m*k)
	for i := range w16 {
		w16[i] = uint16(r.Uint32()) &^ 0x4000
	}
	dst := make([]float32, n*m)
	p := Default()
	b.Run("f32", func(b *testing.B) {
		for b.Loop() {
			p.MatMulF32(dst, x, w, n, k, m)
		}
		b.ReportMetric(2*n*k*m*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("bf16", func(b *testing.B) {
		for b.Loop() {
			p.MatMulBF16(dst, x, w16, n, k, m)
		}
		b.ReportMetric(2*n*k*m*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// BenchmarkGEMMDeep is the float32 GEMM at a depth of 5632 (a TinyLlama down_proj's input, which
// the quantizer's products and the forward pass take): the weight blocks there hold 32 rows, not
// 16, or the 16-lane kernel never runs. In GFLOP/s and as a ratio to the measured peak.
// go test -run X -bench GEMMDeep ./kernels/cpu
func BenchmarkGEMMDeep(b *testing.B) {
	const n, k, m = 512, 5632, 2048
	r := rand.New(rand.NewPCG(1, 1))
	x, w, dst := randF32(r, n*k), randF32(r, m*k), make([]float32, n*m)
	p := Default()
	peak := PeakGFLOPs(p.Threads())
	p.MatMulF32(dst, x, w, n, k, m)
	for b.Loop() {
		p.MatMulF32(dst, x, w, n, k, m)
	}
	g := 2 * float64(n*k*m) * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(g, "GFLOP/s")
	b.ReportMetric(g/peak, "of-peak")
}

// BenchmarkDotInCache is the compute ceiling of the dot loops: a 4096-long row that stays in L1,
// in elements per second (no memory traffic).
func BenchmarkDotInCache(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, w := randF32(r, 4096), randF32(r, 4096)
	h := make([]uint16, 4096)
	var s float32
	b.Run("f32", func(b *testing.B) {
		for b.Loop() {
			s += DotF32(x, w)
		}
		b.ReportMetric(4096*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
	})
	b.Run("bf16", func(b *testing.B) {
		for b.Loop() {
			s += DotBF16(x, h)
		}
		b.ReportMetric(4096*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
	})
	b.Run("f16", func(b *testing.B) {
		for b.Loop() {
			s += DotF16(x, h)
		}
		b.ReportMetric(4096*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
	})
	_ = s
}

// BenchmarkGemmSubF32 is the quantizer's update product (4096 rows × 512 inner × 4096 columns,
// GPTQ's deferred update of a 4096-wide layer) with each micro-kernel this CPU has, reported as
// GFLOP/s and as a ratio to the measured float32 peak (PeakGFLOPs, also reported).
// go test -run X -bench GemmSubF32 ./kernels/cpu
func BenchmarkGemmSubF32(b *testing.B) {
	const n, k, m = 4096, 512, 4096
	r := rand.New(rand.NewPCG(1, 1))
	x, w, d := randF32(r, n*k), randF32(r, m*k), make([]float32, n*m)
	p := Default()
	peak := PeakGFLOPs(p.Threads())
	defer func(v bool) { hasGEMM6x32 = v }(hasGEMM6x32)
	for _, k32 := range []bool{hasGEMM6x32, false} {
		name := "8-lane"
		if k32 {
			name = "16-lane"
		}
		b.Run(name, func(b *testing.B) {
			hasGEMM6x32 = k32
			p.GemmSubF32(d, m, x, k, w, k, n, k, m) // d's pages faulted in before the timing
			for b.Loop() {
				p.GemmSubF32(d, m, x, k, w, k, n, k, m)
			}
			g := 2 * float64(n*k*m) * float64(b.N) / b.Elapsed().Seconds() / 1e9
			b.ReportMetric(g, "GFLOP/s")
			b.ReportMetric(g/peak, "of-peak")
			b.ReportMetric(peak, "peak-GFLOP/s")
		})
		if !hasGEMM6x32 {
			break
		}
	}
}

// BenchmarkGemmSubF32TGPTQ is GPTQ's deferred update on a 5632 × 2048 module (Wᵀ 2048 × 5632):
// the rows of Wᵀ after a super-block (rest) −= U's rows (strided, n apart) times the
// super-block's errors (k × 5632, k-major), at the shapes of its far (k = 512) and near (k = 128)
// updates.
func BenchmarkGemmSubF32TGPTQ(b *testing.B) {
	const m, n = 5632, 2048
	r := rand.New(rand.NewPCG(1, 1))
	wt, ut, et := make([]float32, n*m), randF32(r, n*n), randF32(r, 512*m)
	p := Default()
	peak := PeakGFLOPs(p.Threads())
	for _, c := range []struct{ rest, k int }{{1536, 512}, {512, 512}, {384, 128}} {
		b.Run(fmt.Sprintf("rest%d_k%d", c.rest, c.k), func(b *testing.B) {
			d, x := wt[(n-c.rest)*m:], ut[(n-c.rest)*n:]
			p.GemmSubF32T(d, m, x, n, et, m, c.rest, c.k, m) // pages faulted in before the timing
			for b.Loop() {
				p.GemmSubF32T(d, m, x, n, et, m, c.rest, c.k, m)
			}
			g := 2 * float64(c.rest*c.k*m) * float64(b.N) / b.Elapsed().Seconds() / 1e9
			b.ReportMetric(g, "GFLOP/s")
			b.ReportMetric(g/peak, "of-peak")
		})
	}
}

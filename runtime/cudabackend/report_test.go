package cudabackend

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/device/cuda"
)

// TestDeviceReport measures the table docs/BENCHMARKS.md records for each device run: GEMV
// bandwidth against the device's measured copy bandwidth, GEMM TFLOP/s against its measured
// mma.sync peak, and decode tokens/s of random 4-bit Llama-3.2-1B and Llama-3-8B shaped models
// against the bandwidth limit (packed bytes per token / copy bandwidth). It runs with
// RPIQ_REQUIRE_GPU=1 and RPIQ_GPU_REPORT=1 (scripts/gpu-check.sh); the table goes to stdout and,
// when RPIQ_GPU_REPORT_FILE is set, to that file.
func TestDeviceReport(t *testing.T) {
	if os.Getenv("RPIQ_GPU_REPORT") != "1" {
		t.Skip("set RPIQ_GPU_REPORT=1 (with RPIQ_REQUIRE_GPU=1) for the device report")
	}
	table := deviceReport(t, gpuForTest(t, Options{}), fullReport)
	fmt.Print(table)
	if f := os.Getenv("RPIQ_GPU_REPORT_FILE"); f != "" {
		if err := os.WriteFile(f, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// reportSizes are what the report measures; the emulator test runs the same code on toy sizes.
type reportSizes struct {
	copyBytes, gemvIters, gemmIters, mmaIters, decodeSteps, ctx int
	gemv                                                        [][2]int
	gemmM                                                       []int
	gemmKN                                                      [2]int
	models                                                      []modelShape
}

var fullReport = reportSizes{
	copyBytes: 1 << 30, gemvIters: 100, gemmIters: 10, mmaIters: 100000, decodeSteps: 64, ctx: 128,
	gemv: [][2]int{{4096, 14336}, {14336, 4096}, {4096, 4096}}, gemmM: []int{128, 512}, gemmKN: [2]int{4096, 14336},
	models: []modelShape{llama32_1B, llama3_8B},
}

func deviceReport(t *testing.T, b *Backend, z reportSizes) string {
	r := rand.New(rand.NewPCG(1, 2))
	var rows []string
	add := func(format string, args ...any) {
		rows = append(rows, fmt.Sprintf(format, args...))
		t.Logf(format, args...)
	}
	info := b.Info()

	copyBW := measureCopy(t, b, z.copyBytes)
	add("| copy (device to device) | %.0f GB/s | measured peak |", copyBW/1e9)

	for _, sh := range z.gemv {
		K, N := sh[0], sh[1]
		w := newRandomGPTQ(b, r, K, N, 42)
		x, y := b.NewTensor(1, K), b.NewTensor(1, N)
		sec := timeOnStream(t, b, z.gemvIters, func() { b.matMulGPTQ(ten(y), ten(x), w, false) })
		bytes := float64(w.Bytes() + 4*K + 4*N)
		add("| gemv_q4 g128 %d×%d | %.0f GB/s (%.1f µs) | %.0f%% of copy |", K, N, bytes/sec/1e9, sec*1e6, 100*bytes/sec/copyBW)
	}

	if b.k.Has("mma_peak") {
		peak := measureMMAPeak(t, b, z.mmaIters)
		add("| mma.sync f16 peak | %.1f TFLOP/s | measured peak |", peak/1e12)
		for _, M := range z.gemmM {
			K, N := z.gemmKN[0], z.gemmKN[1]
			w := newRandomGPTQ(b, r, K, N, 43)
			x, y := b.NewTensor(M, K), b.NewTensor(M, N)
			sec := timeOnStream(t, b, z.gemmIters, func() { b.matMulGPTQ(ten(y), ten(x), w, false) })
			flops := 2 * float64(M) * float64(K) * float64(N)
			add("| gemm_q4 g128 %d×%d×%d | %.1f TFLOP/s (%.2f ms) | %.0f%% of mma peak |", M, K, N, flops/sec/1e12, sec*1e3, 100*flops/sec/peak)
		}
	}

	for _, s := range z.models {
		ctx, steps := z.ctx, z.decodeSteps
		maxSeq := max(1024, ctx+steps+1)
		m := newRandomModel(t, b, r, s, maxSeq)
		c := b.NewCache(s.Layers, maxSeq, s.KVHeads*s.HeadDim)
		for pos := 0; pos < 4; pos++ { // eager warm-up: RoPE table, token buffers
			m.step(b, c, 1, pos)
		}
		b.Token()
		eager := timeHost(func() {
			for i := 0; i < 16; i++ {
				m.step(b, c, 1, 4+i)
			}
			b.Token()
		}) / 16
		st, err := b.CaptureStep(func() error { m.step(b, c, 0, 0); return nil })
		if err != nil {
			t.Fatalf("%s: capture: %v", s.Name, err)
		}
		if err := st.Run(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Token(); err != nil {
			t.Fatal(err)
		}
		graph := timeHost(func() {
			for i := 1; i <= steps; i++ {
				if err := st.Next(ctx + i); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.Token(); err != nil {
				t.Fatal(err)
			}
		}) / float64(steps)
		st.Close()
		kvBytes := 2 * s.Layers * (ctx + steps/2) * s.KVHeads * s.HeadDim * 2
		perToken := float64(m.weightBytes + kvBytes)
		limit := copyBW / perToken
		add("| decode %s 4-bit g128, ctx %d | %.1f tok/s graph, %.1f tok/s eager | %.0f%% of the %.1f tok/s bandwidth limit (%.2f GB/token) |",
			s.Name, ctx, 1/graph, 1/eager, 100*(1/graph)/limit, limit, perToken/1e9)
		m = nil
		b.run(func(c *cuda.Ctx) error { return c.Synchronize() })
	}

	head := fmt.Sprintf("\n### %s — %s (sm_%d, %d SMs, %.0f GiB, driver %d)\n\n| what | measured | against |\n|---|---|---|\n",
		time.Now().UTC().Format("2006-01-02"), info.Name, info.Arch(), info.Multiprocessors, float64(info.TotalMemory)/(1<<30), info.DriverVersion)
	return head + strings.Join(rows, "\n") + "\n"
}

func timeHost(fn func()) float64 {
	start := time.Now()
	fn()
	return time.Since(start).Seconds()
}

// timeOnStream returns the seconds per call of enqueue, timed by events around iters calls after
// one warm-up call.
func timeOnStream(t *testing.T, b *Backend, iters int, enqueue func()) float64 {
	t.Helper()
	enqueue()
	var start, end cuda.Event
	b.run(func(c *cuda.Ctx) error {
		var err error
		if start, err = c.NewEvent(); err != nil {
			return err
		}
		if end, err = c.NewEvent(); err != nil {
			return err
		}
		return c.Record(start, b.stream)
	})
	for i := 0; i < iters; i++ {
		enqueue()
	}
	var ms float32
	b.run(func(c *cuda.Ctx) error {
		if err := c.Record(end, b.stream); err != nil {
			return err
		}
		if err := c.WaitEvent(end); err != nil {
			return err
		}
		var err error
		ms, err = c.Elapsed(start, end)
		c.DestroyEvent(start)
		c.DestroyEvent(end)
		return err
	})
	return float64(ms) / 1e3 / float64(iters)
}

// measureCopy is device-to-device copy bandwidth (bytes read plus bytes written per second).
func measureCopy(t *testing.T, b *Backend, bytes int) float64 {
	src, dst := b.alloc(bytes), b.alloc(bytes)
	sec := timeOnStream(t, b, 20, func() {
		b.run(func(c *cuda.Ctx) error { return c.CopyDeviceAsync(dst.ptr, src.ptr, bytes, b.stream) })
	})
	return 2 * float64(bytes) / sec
}

func measureMMAPeak(t *testing.T, b *Backend, iters int) float64 {
	blocks := b.info.Multiprocessors * 4
	out := b.alloc(blocks * 256 * 4)
	sec := timeOnStream(t, b, 3, func() {
		b.launch("mma_peak", cuda.D1(blocks), cuda.D1(256), 0, cuda.Ptr(out.ptr), cuda.I32(iters))
	})
	return float64(blocks) * 8 * float64(iters) * 4 * 4096 / sec
}

package q

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// Reference numbers for the development machine (2-core AMD EPYC Zen 4; reference/runtime.md
// §1.7): ggml's test-backend-ops on the same 4096×14336 shape, and the measured read bandwidth.
const (
	GGMLQ40Ms  = 1.92 // ggml Q4_0 GEMV, 2 threads
	GGMLQ4KMs  = 1.16 // ggml Q4_K GEMV, 2 threads
	ReadGBs2   = 73.5 // summing a 1 GiB []uint64 with 2 goroutines
	ReadGBs1   = 46.8 // with 1 goroutine
	GEMVGoalMs = 1.0  // issue 4's goal for gemv_q4_g128_4096x14336
)

// BenchResult is one line of `rpiq bench --json` (ARCHITECTURE.md's result format).
type BenchResult struct {
	Name    string             `json:"name"`
	Kernel  string             `json:"kernel"`
	Threads int                `json:"threads"`
	Ms      float64            `json:"ms"`             // best of the runs
	GBs     float64            `json:"gb_s,omitempty"` // weight bytes streamed per second
	GOPS    float64            `json:"gops,omitempty"` // 2·in·out·tokens per second, 1e9
	Limits  map[string]float64 `json:"limits,omitempty"`
	Ratios  map[string]float64 `json:"ratios,omitempty"` // measured / limit (ms ratios: limit / measured)
	Note    string             `json:"note,omitempty"`
}

func (r BenchResult) String() string {
	s := fmt.Sprintf("%-32s %-7s threads=%d  %8.3f ms", r.Name, r.Kernel, r.Threads, r.Ms)
	if r.GBs > 0 {
		s += fmt.Sprintf("  %6.1f GB/s", r.GBs)
	}
	if r.GOPS > 0 {
		s += fmt.Sprintf("  %7.1f GOPS", r.GOPS)
	}
	for _, k := range sortedKeys(r.Ratios) {
		s += fmt.Sprintf("  %s=%.2f", k, r.Ratios[k])
	}
	return s
}

func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// BenchOptions selects what Bench runs.
type BenchOptions struct {
	Threads []int // default {cpu.DefaultThreads()}
	Runs    int   // timed runs per case, the best is reported (default 20 for GEMV, 3 for GEMM)
	Tokens  int   // GEMM tokens (default 512)
	Filter  func(name string) bool
	PeakOPS float64 // int8 peak in GOPS for the ratio (default Int8PeakGOPS at MeasureGHz)
}

// Bench runs the kernel benchmarks: gemv_q4_g128_4096x14336 (one token), gemv_q8_g128_4096x14336
// and gemm_q4_g128_4096x14336_512 (512 tokens), with the variant in use. The CPU may be shared:
// every case is run several times and the best time is kept.
func Bench(o BenchOptions) ([]BenchResult, error) {
	if len(o.Threads) == 0 {
		o.Threads = []int{cpu.DefaultThreads()}
	}
	if o.Tokens <= 0 {
		o.Tokens = 512
	}
	want := func(n string) bool { return o.Filter == nil || o.Filter(n) }
	const in, out = 14336, 4096
	var res []BenchResult
	rng := rand.New(rand.NewPCG(42, 42))
	for _, bits := range []int{4, 8} {
		gemv := fmt.Sprintf("gemv_q%d_g128_%dx%d", bits, out, in)
		gemm := fmt.Sprintf("gemm_q%d_g128_%dx%d_%d", bits, out, in, o.Tokens)
		if !want(gemv) && !(bits == 4 && want(gemm)) {
			continue
		}
		g := randomGPTQ(rng, in, out, bits, 128, false, true, false)
		m, err := g.repack()
		if err != nil {
			return nil, err
		}
		g = nil
		for _, th := range o.Threads {
			p := cpu.NewPool(th)
			m.SetPool(p)
			if want(gemv) {
				res = append(res, benchGEMV(m, gemv, th, o.Runs, readBandwidth(p)))
			}
			if bits == 4 && want(gemm) {
				res = append(res, benchGEMM(m, gemm, th, o.Runs, o.Tokens, o.PeakOPS))
			}
			m.SetPool(nil)
			p.Close()
		}
	}
	return res, nil
}

func bestOf(runs int, f func()) float64 {
	f() // warm caches, page in
	best := 1e300
	for i := 0; i < runs; i++ {
		t := time.Now()
		f()
		best = min(best, float64(time.Since(t).Nanoseconds())/1e6)
	}
	return best
}

// readBandwidth is the read bandwidth of p's workers summing 256 MiB, in GB/s, measured next to
// the kernels because the machine may be shared (reference/runtime.md's 73.5 GB/s was quiet).
func readBandwidth(p *cpu.Pool) float64 {
	buf := make([]uint64, 256<<17)
	p.Run(len(buf), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			buf[i] = uint64(i)
		}
	})
	return cpu.ReadBandwidth(p, buf, 5) / 1e9
}

func benchGEMV(m *Matrix, name string, threads, runs int, measuredBW float64) BenchResult {
	if runs <= 0 {
		runs = 50
	}
	x := randInput32(m.In)
	y := make([]float32, m.Out)
	ms := bestOf(runs, func() { m.MatVec(y, x) })
	bw := ReadGBs2
	if threads == 1 {
		bw = ReadGBs1
	}
	r := BenchResult{Name: name, Kernel: Active(), Threads: threads, Ms: ms,
		GBs:  float64(m.Bytes()) / ms / 1e6,
		GOPS: 2 * float64(m.In) * float64(m.Out) / ms / 1e6,
		Limits: map[string]float64{"read_gb_s": bw, "read_gb_s_now": measuredBW, "goal_ms": GEMVGoalMs,
			"ggml_q4_0_ms": GGMLQ40Ms, "ggml_q4_k_ms": GGMLQ4KMs},
	}
	r.Ratios = map[string]float64{"bw_frac": r.GBs / bw, "bw_frac_now": r.GBs / measuredBW}
	if m.Bits == 4 {
		r.Ratios["vs_ggml_q4_0"] = GGMLQ40Ms / ms
		r.Ratios["vs_ggml_q4_k"] = GGMLQ4KMs / ms
		r.Ratios["vs_goal"] = GEMVGoalMs / ms
	}
	if threads != 2 {
		r.Note = "ggml and goal numbers are for 2 threads"
	}
	return r
}

func benchGEMM(m *Matrix, name string, threads, runs, tokens int, peak float64) BenchResult {
	if runs <= 0 {
		runs = 3
	}
	x := randInput32(tokens * m.In)
	y := make([]float32, tokens*m.Out)
	ms := bestOf(runs, func() { m.MatMul(y, x, tokens) })
	ghz := MeasureGHz()
	if peak <= 0 {
		peak = Int8PeakGOPS(Active(), ghz, threads)
	}
	gops := 2 * float64(m.In) * float64(m.Out) * float64(tokens) / ms / 1e6
	return BenchResult{Name: name, Kernel: Active(), Threads: threads, Ms: ms, GOPS: gops,
		Limits: map[string]float64{"int8_peak_gops": peak, "ghz": ghz},
		Ratios: map[string]float64{"peak_frac": gops / peak},
		Note:   "int8 peak = 2 ops × MACs/cycle/core (Int8PeakGOPS) × measured GHz × threads",
	}
}

func randInput32(n int) []float32 {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// MeasureGHz estimates the core clock from a chain of dependent integer adds and xors (one
// cycle each on every core this runs on), best of a few runs of about 2 ms.
func MeasureGHz() float64 {
	best := 0.0
	for r := 0; r < 5; r++ {
		const n = 1 << 20
		t := time.Now()
		x := clockChain(n)
		ns := float64(time.Since(t).Nanoseconds())
		sink += x
		best = max(best, 8*n/ns)
	}
	return best
}

var sink uint64

//go:noinline
func clockChain(n int) uint64 {
	x := uint64(n)
	for i := uint64(0); i < uint64(n); i++ {
		x += i
		x ^= i
		x += i
		x ^= i
		x += i
		x ^= i
		x += i
		x ^= i
	}
	return x
}

// Int8PeakGOPS is the int8 multiply-accumulate peak of a variant's main instruction, in GOPS
// (2 ops per MAC): ghz × cores × MACs per cycle, with MACs per cycle per core
//
//	avx2    VPMADDUBSW ymm: 32 MACs, 2 per cycle (two vector multiply pipes) = 64
//	avx512  VPDPBUSD zmm: 64 MACs, 1 per cycle (Zen 4 runs it as two 256-bit halves) = 64
//	neon    SDOT q: 16 MACs, 2 per cycle (Cortex-A78) = 32
//	generic the avx2 figure
//
// The AVX2 kernels also spend multiply-pipe slots on VPMADDWD (widening to int32), so they
// cannot reach this figure; it is the machine's limit, not the kernel's.
func Int8PeakGOPS(kernel string, ghz float64, threads int) float64 {
	macs := 64.0
	if kernel == "neon" {
		macs = 32
	}
	return 2 * macs * ghz * float64(threads)
}

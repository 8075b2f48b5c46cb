package cudakernels

import (
	"math"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var entryRE = regexp.MustCompile(`extern "C" __global__ void (?:__launch_bounds__\(\w+\) )?(\w+)\(`)

func TestKernelListMatchesSources(t *testing.T) {
	entries, err := sources.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range Files() {
		listed[f.Name] = true
		var found []string
		for _, m := range entryRE.FindAllStringSubmatch(f.Source, -1) {
			found = append(found, m[1])
		}
		want := append([]string(nil), f.Kernels...)
		sort.Strings(found)
		sort.Strings(want)
		if strings.Join(found, ",") != strings.Join(want, ",") {
			t.Errorf("%s defines %v, the list says %v", f.Name, found, want)
		}
		if strings.Contains(f.Source, "#include <") {
			t.Errorf("%s includes a toolkit header; NVRTC-only installs have none", f.Name)
		}
		if !strings.Contains(f.Source, `#include "`+HeaderName+`"`) {
			t.Errorf("%s does not include %s", f.Name, HeaderName)
		}
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".cu") && !listed[e.Name()] {
			t.Errorf("%s is embedded but not listed in kernelsOf", e.Name())
		}
	}
	if strings.Contains(Header(), "#include <") {
		t.Error("common.cuh includes a toolkit header")
	}
}

func randomGPTQ(r *rand.Rand, bits, K, N, gs, zeroOffset int) (*GPTQ, []int, []int, []float64) {
	G := (K + gs - 1) / gs
	codes, zeros := make([]int, K*N), make([]int, G*N)
	scales := make([]uint16, G*N)
	sc := make([]float64, G*N)
	lo := 0
	if zeroOffset == 1 {
		lo = 1 // GPTQ v1 cannot store a zero of 0 (it wraps), see PackGPTQ
	}
	for i := range codes {
		codes[i] = r.IntN(1 << bits)
	}
	for i := range zeros {
		zeros[i] = lo + r.IntN(1<<bits-lo)
		scales[i] = 0x2000 + uint16(r.IntN(0x1000)) // positive halves around 2^-7 .. 2^-6
		sc[i] = float64(F16ToF32(scales[i]))
	}
	return PackGPTQ(bits, K, N, gs, zeroOffset, codes, zeros, scales), codes, zeros, sc
}

func TestPackGPTQRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, bits := range []int{4, 8} {
		for _, off := range []int{0, 1} {
			q, codes, zeros, _ := randomGPTQ(r, bits, 64, 24, 16, off)
			for k := 0; k < q.K; k++ {
				for n := 0; n < q.N; n++ {
					if q.Code(k, n) != codes[k*q.N+n] {
						t.Fatalf("bits %d: code (%d,%d) = %d, want %d", bits, k, n, q.Code(k, n), codes[k*q.N+n])
					}
				}
			}
			for g := 0; g < q.Groups(); g++ {
				for n := 0; n < q.N; n++ {
					if q.Zero(g, n) != zeros[g*q.N+n] {
						t.Fatalf("bits %d offset %d: zero (%d,%d) = %d, want %d", bits, off, g, n, q.Zero(g, n), zeros[g*q.N+n])
					}
				}
			}
		}
	}
	// The documented v1 limitation: a true zero of 0 is stored as -1 and reads back as 2^bits.
	q := PackGPTQ(4, 8, 8, 8, 1, make([]int, 64), make([]int, 8), make([]uint16, 8))
	if q.Zero(0, 0) != 16 || q.Qzeros[0] != 0xffffffff {
		t.Errorf("v1 zero 0: read %d, word %#x", q.Zero(0, 0), q.Qzeros[0])
	}
	// Symmetric 4-bit v1 (zero 8) gives the familiar 0x77777777 words.
	eights := make([]int, 8)
	for i := range eights {
		eights[i] = 8
	}
	if q := PackGPTQ(4, 8, 8, 8, 1, make([]int, 64), eights, make([]uint16, 8)); q.Qzeros[0] != 0x77777777 {
		t.Errorf("symmetric v1 qzeros word %#x, want 0x77777777", q.Qzeros[0])
	}
}

func TestMatMulRefAgainstFormula(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const K, N, gs, M = 32, 16, 8, 3
	q, codes, zeros, sc := randomGPTQ(r, 4, K, N, gs, 1)
	q.Perm = make([]int32, K)
	for i, p := range r.Perm(K) {
		q.Perm[i] = int32(p)
	}
	x := make([]float32, M*K)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	bias := make([]float32, N)
	for i := range bias {
		bias[i] = float32(i)
	}
	got := q.MatMulRef(x, M, bias)
	for m := 0; m < M; m++ {
		for n := 0; n < N; n++ {
			want := float64(bias[n])
			for k := 0; k < K; k++ {
				g := k / gs
				want += float64(x[m*K+int(q.Perm[k])]) * sc[g*N+n] * float64(codes[k*N+n]-zeros[g*N+n])
			}
			if math.Abs(got[m*N+n]-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Fatalf("y[%d][%d] = %g, want %g", m, n, got[m*N+n], want)
			}
		}
	}
}

func TestUniform01(t *testing.T) {
	sum := 0.0
	for s := uint64(0); s < 20000; s++ {
		u := Uniform01(42, s)
		if u < 0 || u >= 1 {
			t.Fatalf("Uniform01(42, %d) = %g", s, u)
		}
		sum += float64(u)
	}
	if mean := sum / 20000; math.Abs(mean-0.5) > 0.01 {
		t.Errorf("mean %g", mean)
	}
	if Uniform01(1, 5) != Uniform01(1, 5) || Uniform01(1, 5) == Uniform01(2, 5) || Uniform01(1, 5) == Uniform01(1, 6) {
		t.Error("Uniform01 is not a function of (seed, step) alone")
	}
}

func TestSampleRef(t *testing.T) {
	logits := []float32{0.1, 2.5, -1, 2.4, 0.7}
	if ArgmaxRef(logits) != 1 || ArgmaxRef([]float32{3, 3}) != 0 {
		t.Fatal("ArgmaxRef")
	}
	for s := uint64(0); s < 50; s++ {
		if got := SampleRef(logits, 1, 1, 1, 9, s); got != 1 {
			t.Fatalf("top-k 1 picked %d", got)
		}
		if got := SampleRef(logits, 1, 0, 1e-9, 9, s); got != 1 {
			t.Fatalf("top-p 1e-9 picked %d", got)
		}
	}
	if k := SampleKept(logits, 1, 3, 1); len(k) != 3 || k[1] == 0 || k[3] == 0 || k[4] == 0 {
		t.Errorf("top-3 kept %v, want tokens 1, 3 and 4", k)
	}
	// Probabilities 0.5, 0.3, 0.2: top-p 0.5 keeps one token, 0.6 two, 1 all three.
	p := []float32{float32(math.Log(0.5)), float32(math.Log(0.3)), float32(math.Log(0.2))}
	for _, c := range []struct {
		topP float64
		n    int
	}{{0.5, 1}, {0.6, 2}, {0.95, 3}, {1, 3}} {
		if k := SampleKept(p, 1, 0, c.topP); len(k) != c.n {
			t.Errorf("top-p %g kept %d tokens, want %d", c.topP, len(k), c.n)
		}
	}
	// Draw frequencies follow the softmax.
	counts := make([]int, 3)
	const draws = 30000
	for s := uint64(0); s < draws; s++ {
		counts[SampleRef(p, 1, 0, 1, 7, s)]++
	}
	for i, want := range []float64{0.5, 0.3, 0.2} {
		if f := float64(counts[i]) / draws; math.Abs(f-want) > 0.015 {
			t.Errorf("token %d drawn with frequency %.3f, want %.2f", i, f, want)
		}
	}
}

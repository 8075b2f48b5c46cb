package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// rpiqProblem is a layer whose quantized-model inputs X differ from the FP model's inputs Xfp by
// accumulated noise, split into seqs sequences of tokens each.
type rpiqProblem struct {
	m, n, seqs, tokens int
	w                  []float64
	x, xfp             []float64 // (seqs·tokens)×n
	h, c               []float64
}

func newRPIQProblem(seed uint64, m, n, seqs, tokens int) *rpiqProblem {
	rng := rand.New(rand.NewPCG(seed, 11))
	N := seqs * tokens
	p := &rpiqProblem{m: m, n: n, seqs: seqs, tokens: tokens}
	p.w = make([]float64, m*n)
	for i := range p.w {
		p.w[i] = rng.NormFloat64() * 0.1
	}
	p.xfp = correlatedInputs(rng, n, N)
	p.x = make([]float64, len(p.xfp))
	for i, v := range p.xfp {
		p.x[i] = v + 0.2*rng.NormFloat64()*math.Abs(v)
	}
	hs := NewHessian(n)
	cs := NewCross(n)
	for s := 0; s < seqs; s++ {
		xq := toF32(p.x[s*tokens*n : (s+1)*tokens*n])
		xf := toF32(p.xfp[s*tokens*n : (s+1)*tokens*n])
		if err := hs.Add(xq, tokens); err != nil {
			panic(err)
		}
		if err := cs.Add(xf, xq, tokens); err != nil {
			panic(err)
		}
	}
	// The tests use the float32-rounded activations everywhere.
	for i := range p.x {
		p.x[i] = float64(float32(p.x[i]))
		p.xfp[i] = float64(float32(p.xfp[i]))
	}
	p.h, p.c = hs.Matrix(), cs.Matrix()
	return p
}

func (p *rpiqProblem) inputs(rd Reading) Stage2Inputs {
	last := (p.seqs - 1) * p.tokens * p.n
	in := Stage2Inputs{M: p.m, N: p.n, W: p.w, H: p.h, X: p.x[last:], Tokens: p.tokens, Seqs: 1}
	if rd.FPTarget {
		in.C = p.c
		in.Xfp = p.xfp[last:]
	}
	return in
}

// outErr is ‖X̃ W_fpᵀ − X W_qᵀ‖²_F (or with X for both when sym) over rows [t0, t1) of the data,
// computed naively.
func (p *rpiqProblem) outErr(wq []float64, fp bool, t0, t1 int) float64 {
	a := 0.0
	if fp {
		a = 1
	}
	return p.outErrMix(wq, a, t0, t1)
}

// outErrMix uses the target α X̃ W_fpᵀ + (1−α) X W_fpᵀ.
func (p *rpiqProblem) outErrMix(wq []float64, alpha float64, t0, t1 int) float64 {
	s := 0.0
	n := p.n
	for t := t0; t < t1; t++ {
		for r := 0; r < p.m; r++ {
			y, yq := 0.0, 0.0
			for i := 0; i < n; i++ {
				src := alpha*p.xfp[t*n+i] + (1-alpha)*p.x[t*n+i]
				y += src * p.w[r*n+i]
				yq += p.x[t*n+i] * wq[r*n+i]
			}
			s += (y - yq) * (y - yq)
		}
	}
	return s
}

var allReadings = []Reading{
	{},
	{OwnGram: true},
	{Sequential: true},
	{FPTarget: true},
	{AllData: true},
	{AllData: true, Sequential: true},
	{AllData: true, FPTarget: true},
	{AllData: true, FPTarget: true, Sequential: true},
}

func TestRPIQNeverWorseOnInstance(t *testing.T) {
	for seed := uint64(0); seed < 4; seed++ {
		p := newRPIQProblem(seed, 16, 96, 6, 80)
		cfg := Config{Grid: Grid{Bits: 3, ScaleFP16: true}, GroupSize: 32, Damp: 0.01, ActOrder: seed%2 == 1}
		g, err := GPTQ(p.w, p.m, p.n, p.h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, rd := range allReadings {
			res, err := RPIQ(p.inputs(rd), g, Stage2Config{Reading: rd, Iters: 5, BlockSize: 32})
			if err != nil {
				t.Fatalf("%v: %v", rd, err)
			}
			last := (p.seqs - 1) * p.tokens
			before := p.outErr(g.Dequantize(), rd.FPTarget, last, last+p.tokens)
			after := p.outErr(res.Q.Dequantize(), rd.FPTarget, last, last+p.tokens)
			if after > before*(1+1e-12) {
				t.Errorf("seed %d %v: single-instance error %.6g rose above the GPTQ start %.6g", seed, rd, after, before)
			}
			if math.Abs(res.Instance[0]-before) > 1e-9*before {
				t.Errorf("%v: reported start instance error %v, naive %v", rd, res.Instance[0], before)
			}
			// the grid is kept
			for i := range g.Scales {
				if res.Q.Scales[i] != g.Scales[i] || res.Q.Zeros[i] != g.Zeros[i] {
					t.Fatalf("%v: stage 2 changed the grid", rd)
				}
			}
			if !rd.AllData && seed == 0 && after >= before {
				t.Errorf("%v: single-instance refinement gained nothing (%.6g → %.6g)", rd, before, after)
			}
		}
	}
}

// The all-data objective the refinement tracks must equal the naive output error over all the
// calibration data, scaled like H (2/sequences).
func TestRPIQAllDataGainIsTheTrueObjective(t *testing.T) {
	p := newRPIQProblem(9, 12, 64, 5, 60)
	cfg := Config{Grid: Grid{Bits: 4}, GroupSize: 32, Damp: 0.01}
	g, err := GPTQ(p.w, p.m, p.n, p.h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	N := p.seqs * p.tokens
	for _, rd := range []Reading{{AllData: true}, {AllData: true, FPTarget: true, Sequential: true}, {AllData: true, FPTarget: true, Alpha: 0.5}} {
		res, err := RPIQ(p.inputs(rd), g, Stage2Config{Reading: rd, NoInstanceGuard: true})
		if err != nil {
			t.Fatal(err)
		}
		alpha := 0.0
		if rd.FPTarget {
			alpha = 1
			if rd.Alpha > 0 {
				alpha = rd.Alpha
			}
		}
		before := p.outErrMix(g.Dequantize(), alpha, 0, N)
		after := p.outErrMix(res.Q.Dequantize(), alpha, 0, N)
		want := (after - before) * 2 / float64(p.seqs)
		got := res.Gain[res.Best]
		if math.Abs(got-want) > 1e-6*math.Abs(before) {
			t.Errorf("%v: tracked gain %.8g, naive %.8g", rd, got, want)
		}
		if after >= before {
			t.Errorf("%v: all-data error %.6g did not fall below GPTQ's %.6g", rd, after, before)
		}
	}
}

// naiveGS is one Gauss-Seidel round written from the formulas over the explicit data: target
// Y, B̃ = B + (Rᵀ X_S)(X_Sᵀ X_S + λI)⁻¹, plain rounding, a row accepted when its error falls.
func naiveGS(p *rpiqProblem, q *Quantized, fp bool, lambdaRel float64, bs int) []float64 {
	m, n := p.m, p.n
	N := p.seqs * p.tokens
	wq := q.Dequantize()
	src := p.x
	if fp {
		src = p.xfp
	}
	f := 2 / float64(p.seqs) // the H scaling
	meanDiag := 0.0
	for i := 0; i < n; i++ {
		meanDiag += p.h[i*n+i] / float64(n)
	}
	for c0 := 0; c0 < n; c0 += bs {
		c1 := min(c0+bs, n)
		b := c1 - c0
		G := make([]float64, b*b)
		for i := 0; i < b; i++ {
			for j := 0; j < b; j++ {
				for t := 0; t < N; t++ {
					G[i*b+j] += f * p.x[t*n+c0+i] * p.x[t*n+c0+j]
				}
			}
			G[i*b+i] += lambdaRel * meanDiag
		}
		Gi := naiveInverse(G, b)
		for r := 0; r < m; r++ {
			rowErr := func(w []float64) float64 {
				s := 0.0
				for t := 0; t < N; t++ {
					y := 0.0
					for i := 0; i < n; i++ {
						y += src[t*n+i]*p.w[r*n+i] - p.x[t*n+i]*w[i]
					}
					s += y * y
				}
				return s
			}
			row := append([]float64(nil), wq[r*n:(r+1)*n]...)
			pr := make([]float64, b)
			for t := 0; t < N; t++ {
				res := 0.0
				for i := 0; i < n; i++ {
					res += src[t*n+i]*p.w[r*n+i] - p.x[t*n+i]*row[i]
				}
				for j := 0; j < b; j++ {
					pr[j] += f * res * p.x[t*n+c0+j]
				}
			}
			cand := append([]float64(nil), row...)
			for j := 0; j < b; j++ {
				s := 0.0
				for k := 0; k < b; k++ {
					s += pr[k] * Gi[k*b+j]
				}
				c := c0 + j
				gi := int(q.GIdx[c])
				cand[c] = naiveQ(row[c]+s, q.Scales[gi*m+r], float64(q.Zeros[gi*m+r]), q.Grid.Bits)
			}
			if rowErr(cand) < rowErr(row) {
				copy(wq[r*n:(r+1)*n], cand)
			}
		}
	}
	return wq
}

func TestRPIQOneRoundMatchesNaive(t *testing.T) {
	for _, sz := range [][2]int{{10, 80}, {6, 300}} { // 300 columns: three lazy super-blocks
		testOneRound(t, sz[0], sz[1])
	}
}

func testOneRound(t *testing.T, m, n int) {
	p := newRPIQProblem(5, m, n, 4, 50)
	cfg := Config{Grid: Grid{Bits: 3}, GroupSize: 16, Damp: 0.01}
	g, err := GPTQ(p.w, p.m, p.n, p.h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, fp := range []bool{false, true} {
		rd := Reading{AllData: true, FPTarget: fp}
		res, err := RPIQ(p.inputs(rd), g, Stage2Config{Reading: rd, Iters: 1, BlockSize: 32, NoInstanceGuard: true})
		if err != nil {
			t.Fatal(err)
		}
		want := naiveGS(p, g, fp, g.DampUsed, 32)
		got := res.Q.Dequantize()
		diff := 0
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-9 {
				diff++
			}
		}
		if diff > 0 {
			t.Errorf("%d×%d fp=%v: %d of %d weights differ from the naive Gauss-Seidel round", m, n, fp, diff, len(got))
		}
	}
}

func TestRPIQRejectsMissingInputs(t *testing.T) {
	p := newRPIQProblem(1, 4, 32, 2, 40)
	g, _ := GPTQ(p.w, p.m, p.n, p.h, Config{Grid: Grid{Bits: 4}, GroupSize: -1, Damp: 0.01})
	in := p.inputs(Reading{})
	in.C = nil
	if _, err := RPIQ(in, g, Stage2Config{Reading: Reading{AllData: true, FPTarget: true}}); err == nil {
		t.Fatal("FP-target all-data reading without C accepted")
	}
	in = p.inputs(Reading{})
	in.X, in.Tokens = nil, 0
	if _, err := RPIQ(in, g, Stage2Config{}); err == nil {
		t.Fatal("single-instance reading without X accepted")
	}
	in = p.inputs(Reading{})
	w := append([]float64(nil), in.W...)
	w[3] = math.Inf(1)
	in.W = w
	if _, err := RPIQ(in, g, Stage2Config{}); err == nil {
		t.Fatal("Inf weight accepted")
	}
}

// TestRPIQInstance32: on large modules the all-data readings measure the single-instance error
// with float32 products (instance32); the start and end errors must match the naive float64
// sums (outErrMix) to float32's precision, for the symmetric, the FP and the α-mixed targets,
// and the weights kept must be those the float64 measurement keeps.
func TestRPIQInstance32(t *testing.T) {
	defer func(v int) { f32UpdateMin = v }(f32UpdateMin)
	p := newRPIQProblem(8, 24, 96, 3, 40)
	t0, t1 := (p.seqs-1)*p.tokens, p.seqs*p.tokens
	for ci, rd := range []Reading{{AllData: true}, {AllData: true, FPTarget: true}, {AllData: true, FPTarget: true, Sequential: true, Alpha: 0.5}} {
		// The last start is act-ordered: its blocks' columns are not consecutive, so the
		// float32 path gathers H's blocks instead of reading them in place.
		f32UpdateMin = math.MaxInt
		start, err := GPTQ(p.w, p.m, p.n, p.h, Config{Grid: Grid{Bits: 3}, GroupSize: 32, Damp: 0.01, BlockSize: 32, ActOrder: ci == 2})
		if err != nil {
			t.Fatal(err)
		}
		alpha := 0.0
		if rd.FPTarget {
			alpha = 1
			if rd.Alpha > 0 {
				alpha = rd.Alpha
			}
		}
		// float64 path, float32 path, float32 path given the caller's X̃·Wᵀ (Stage2Inputs.FPOut,
		// computed naively here)
		var got [3]*Stage2Result
		for i, min := range []int{math.MaxInt, 0, 0} {
			f32UpdateMin = min
			in := p.inputs(rd)
			if i == 2 && rd.FPTarget {
				in.FPOut = make([]float32, in.Tokens*p.m)
				for tk := 0; tk < in.Tokens; tk++ {
					for r := 0; r < p.m; r++ {
						s := 0.0
						for c := 0; c < p.n; c++ {
							s += in.Xfp[tk*p.n+c] * p.w[r*p.n+c]
						}
						in.FPOut[tk*p.m+r] = float32(s)
					}
				}
			}
			r, err := RPIQ(in, start, Stage2Config{Reading: rd, NoInstanceGuard: true})
			if err != nil {
				t.Fatal(err)
			}
			got[i] = r
		}
		want := []float64{p.outErrMix(start.Dequantize(), alpha, t0, t1), p.outErrMix(got[0].Q.Dequantize(), alpha, t0, t1)}
		for i, r := range got {
			first, last := r.Instance[0], r.Instance[len(r.Instance)-1]
			for j, v := range []float64{first, last} {
				if rel := math.Abs(v-want[j]) / want[j]; rel > 1e-5 {
					t.Errorf("%v (f32 %v): instance error %d = %.9g, naive %.9g (relative %.2g)", rd, i == 1, j, v, want[j], rel)
				}
			}
		}
		for i := range got[0].Q.Codes {
			if got[0].Q.Codes[i] != got[1].Q.Codes[i] {
				t.Fatalf("%v: the float32 instance measurement changed code %d", rd, i)
			}
		}
		// The matrix work counts the instance products each path made: the float64 path Y
		// (and X·Wᵀ for a blend), X·W_qᵀ and the end's; the float32 one the FP product unless
		// given, the start's and the end's.
		blend := 0
		if rd.FPTarget && rd.Alpha > 0 && rd.Alpha != 1 {
			blend = 1
		}
		fp := 0
		if rd.FPTarget {
			fp = 1
		}
		for i, products := range []int{3 + blend, 2 + fp, 2} {
			want := stage2Flops(p.m, p.n, 32, p.tokens, got[i].Rounds, products)
			if got[i].Flops != want {
				t.Errorf("%v path %d: %g flops counted, want %g (%d instance products)", rd, i, got[i].Flops, want, products)
			}
		}
	}
}

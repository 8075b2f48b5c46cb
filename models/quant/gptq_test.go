package quant

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomLayer returns m×n weights and an n×n Hessian 2/N Σ x xᵀ of N correlated inputs.
func randomLayer(rng *rand.Rand, m, n, N int) (w, h, x []float64) {
	w = make([]float64, m*n)
	for i := range w {
		w[i] = rng.NormFloat64() * 0.1
	}
	x = correlatedInputs(rng, n, N)
	h = naiveHessian(x, n, N)
	return w, h, x
}

func correlatedInputs(rng *rand.Rand, n, N int) []float64 {
	mix := make([]float64, n*n)
	for i := range mix {
		mix[i] = rng.NormFloat64() / math.Sqrt(float64(n))
	}
	for i := 0; i < n; i++ {
		mix[i*n+i] += 1
	}
	scale := make([]float64, n)
	for i := range scale {
		scale[i] = math.Exp(rng.NormFloat64())
	}
	x := make([]float64, N*n)
	z := make([]float64, n)
	for t := 0; t < N; t++ {
		for i := range z {
			z[i] = rng.NormFloat64() * scale[i]
		}
		for j := 0; j < n; j++ {
			s := 0.0
			for i := 0; i < n; i++ {
				s += z[i] * mix[i*n+j]
			}
			x[t*n+j] = s
		}
	}
	return x
}

func naiveHessian(x []float64, n, N int) []float64 {
	h := make([]float64, n*n)
	for t := 0; t < N; t++ {
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				h[i*n+j] += 2 / float64(N) * x[t*n+i] * x[t*n+j]
			}
		}
	}
	return h
}

// naiveInverse is Gauss-Jordan elimination with partial pivoting, in float64.
func naiveInverse(a []float64, n int) []float64 {
	A := append([]float64(nil), a...)
	inv := make([]float64, n*n)
	for i := 0; i < n; i++ {
		inv[i*n+i] = 1
	}
	for c := 0; c < n; c++ {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(A[r*n+c]) > math.Abs(A[p*n+c]) {
				p = r
			}
		}
		for j := 0; j < n; j++ {
			A[c*n+j], A[p*n+j] = A[p*n+j], A[c*n+j]
			inv[c*n+j], inv[p*n+j] = inv[p*n+j], inv[c*n+j]
		}
		d := A[c*n+c]
		for j := 0; j < n; j++ {
			A[c*n+j] /= d
			inv[c*n+j] /= d
		}
		for r := 0; r < n; r++ {
			if r == c || A[r*n+c] == 0 {
				continue
			}
			f := A[r*n+c]
			for j := 0; j < n; j++ {
				A[r*n+j] -= f * A[c*n+j]
				inv[r*n+j] -= f * inv[c*n+j]
			}
		}
	}
	return inv
}

// naiveMinMax is the reference quantizer written from §2.3.
func naiveMinMax(x []float64, bits int, sym, fp16 bool) (float64, float64) {
	maxq := math.Pow(2, float64(bits)) - 1
	lo, hi := 0.0, 0.0
	for _, v := range x {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if sym {
		hi = math.Max(math.Abs(lo), hi)
		if lo < 0 {
			lo = -hi
		}
	}
	if lo == 0 && hi == 0 {
		lo, hi = -1, 1
	}
	s := (hi - lo) / maxq
	if fp16 {
		s = roundScaleFP16(s)
	}
	if sym {
		return s, (maxq + 1) / 2
	}
	return s, math.RoundToEven(-lo / s)
}

func naiveQ(x, s, z float64, bits int) float64 {
	maxq := math.Pow(2, float64(bits)) - 1
	return s * (math.Max(0, math.Min(maxq, math.RoundToEven(x/s)+z)) - z)
}

// naiveOBQ is GPTQ without lazy batches or Cholesky: the OBQ formulas with an explicit inverse
// that is updated by Gaussian elimination after every column (H⁻¹ ← H⁻¹ − H⁻¹[:,i]H⁻¹[i,:]/H⁻¹[i,i]).
// Dynamic groups are fitted on the weights as they stood at the start of the 128-column block
// (the reference's outer W). It returns the dequantized weights in the original column order.
func naiveOBQ(w []float64, m, n int, h []float64, bits, gs int, sym, actorder, static, fp16 bool, percdamp float64, B int) []float64 {
	W := append([]float64(nil), w...)
	H := append([]float64(nil), h...)
	scale := make([]float64, m)
	zero := make([]float64, m)
	if gs <= 0 {
		for r := 0; r < m; r++ {
			scale[r], zero[r] = naiveMinMax(W[r*n:(r+1)*n], bits, sym, fp16)
		}
		gs = n
	}
	for i := 0; i < n; i++ {
		if H[i*n+i] == 0 {
			H[i*n+i] = 1
			for r := 0; r < m; r++ {
				W[r*n+i] = 0
			}
		}
	}
	type pz struct{ s, z []float64 }
	var groups []pz
	if static {
		for c0 := 0; c0 < n; c0 += gs {
			p := pz{make([]float64, m), make([]float64, m)}
			for r := 0; r < m; r++ {
				p.s[r], p.z[r] = naiveMinMax(W[r*n+c0:r*n+min(c0+gs, n)], bits, sym, fp16)
			}
			groups = append(groups, p)
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if actorder {
		sort.SliceStable(order, func(a, b int) bool { return H[order[a]*n+order[a]] > H[order[b]*n+order[b]] })
	}
	mean := 0.0
	for i := 0; i < n; i++ {
		mean += H[i*n+i] / float64(n)
	}
	for i := 0; i < n; i++ {
		H[i*n+i] += percdamp * mean
	}
	Hinv := naiveInverse(H, n)
	Q := make([]float64, m*n)
	var snap []float64
	for pos, c := range order {
		if pos%B == 0 {
			snap = append(snap[:0], W...)
		}
		if gs < n || static {
			if static {
				g := groups[c/gs]
				copy(scale, g.s)
				copy(zero, g.z)
			} else if pos%gs == 0 {
				for r := 0; r < m; r++ {
					vals := []float64{}
					for _, cc := range order[pos:min(pos+gs, n)] {
						vals = append(vals, snap[r*n+cc])
					}
					scale[r], zero[r] = naiveMinMax(vals, bits, sym, fp16)
				}
			}
		}
		d := Hinv[c*n+c]
		for r := 0; r < m; r++ {
			q := naiveQ(W[r*n+c], scale[r], zero[r], bits)
			Q[r*n+c] = q
			e := (W[r*n+c] - q) / d
			for _, cc := range order[pos:] {
				W[r*n+cc] -= e * Hinv[c*n+cc]
			}
		}
		// eliminate column c from the inverse
		row := append([]float64(nil), Hinv[c*n:(c+1)*n]...)
		for i := 0; i < n; i++ {
			f := Hinv[i*n+c] / d
			for j := 0; j < n; j++ {
				Hinv[i*n+j] -= f * row[j]
			}
		}
	}
	return Q
}

func TestGPTQMatchesNaiveOBQ(t *testing.T) {
	cases := []struct {
		name                   string
		m, n, bits, gs         int
		sym, act, static, fp16 bool
		dead                   int
	}{
		{name: "4bit-g32-asym", m: 12, n: 160, bits: 4, gs: 32},
		{name: "4bit-perchannel", m: 10, n: 140, bits: 4, gs: -1},
		{name: "3bit-g32-ragged172", m: 8, n: 172, bits: 3, gs: 32},
		{name: "2bit-g64-sym", m: 8, n: 150, bits: 2, gs: 64, sym: true},
		{name: "8bit-g128-fp16", m: 6, n: 200, bits: 8, gs: 128, fp16: true},
		{name: "4bit-g32-actorder", m: 9, n: 172, bits: 4, gs: 32, act: true},
		{name: "4bit-g48-actorder-static", m: 9, n: 172, bits: 4, gs: 48, act: true, static: true, sym: true},
		{name: "4bit-g32-dead", m: 7, n: 96, bits: 4, gs: 32, dead: 3, fp16: true},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 7))
			w, h, _ := randomLayer(rng, tc.m, tc.n, 3*tc.n)
			for d := 0; d < tc.dead; d++ {
				c := rng.IntN(tc.n)
				for i := 0; i < tc.n; i++ {
					h[c*tc.n+i], h[i*tc.n+c] = 0, 0
				}
			}
			cfg := Config{Grid: Grid{Bits: tc.bits, Sym: tc.sym, ScaleFP16: tc.fp16}, GroupSize: tc.gs,
				ActOrder: tc.act, StaticGroups: tc.static, Damp: 0.01, BlockSize: 128}
			q, err := GPTQ(w, tc.m, tc.n, h, cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := naiveOBQ(w, tc.m, tc.n, h, tc.bits, tc.gs, tc.sym, tc.act, tc.static, tc.fp16, 0.01, 128)
			got := q.Dequantize()
			bad := 0
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-9 {
					bad++
					if bad < 4 {
						t.Errorf("weight %d (row %d col %d): got %v, naive OBQ %v", i, i/tc.n, i%tc.n, got[i], want[i])
					}
				}
			}
			if bad > 0 {
				t.Fatalf("%d of %d weights differ from the naive OBQ", bad, len(got))
			}
			if tc.dead > 0 {
				for c, d := range q.Dead {
					for r := 0; d && r < tc.m; r++ {
						if got[r*tc.n+c] != 0 {
							t.Fatalf("dead column %d row %d = %v, want 0", c, r, got[r*tc.n+c])
						}
					}
				}
			}
		})
	}
}

// hErr is tr((W−Q) H (W−Q)ᵀ), the layer's output error on the calibration inputs.
func hErr(w, q []float64, m, n int, h []float64) float64 {
	s := 0.0
	d := make([]float64, n)
	for r := 0; r < m; r++ {
		for i := 0; i < n; i++ {
			d[i] = w[r*n+i] - q[r*n+i]
		}
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				s += d[i] * h[i*n+j] * d[j]
			}
		}
	}
	return s
}

func TestGPTQBeatsRTN(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	m, n := 32, 128
	w, h, _ := randomLayer(rng, m, n, 400)
	for _, bits := range []int{2, 3, 4} {
		cfg := Config{Grid: Grid{Bits: bits}, GroupSize: 32, Damp: 0.01}
		g, err := GPTQ(w, m, n, h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r, err := RTN(w, m, n, cfg)
		if err != nil {
			t.Fatal(err)
		}
		eg, er := hErr(w, g.Dequantize(), m, n, h), hErr(w, r.Dequantize(), m, n, h)
		if eg >= 0.9*er {
			t.Errorf("%d bits: GPTQ output error %.4g not clearly below RTN's %.4g", bits, eg, er)
		}
	}
}

func TestGridReferenceQuirks(t *testing.T) {
	g := Grid{Bits: 4, Sym: true}
	s, z := g.Params([]float64{-1, 0.5})
	if z != 8 || math.Abs(s-2.0/15) > 1e-15 {
		t.Fatalf("sym params = %v, %v; want 2/15, 8", s, z)
	}
	if c := g.Code(1, s, z); c != 15 { // +absmax = 7.5 s clips to code 15
		t.Fatalf("code of +absmax = %d, want 15", c)
	}
	s, z = g.Params([]float64{0.3, 0.6}) // no negatives: xmin stays 0
	if z != 8 || math.Abs(s-0.6/15) > 1e-15 {
		t.Fatalf("no-negative sym params = %v, %v", s, z)
	}
	a := Grid{Bits: 4}
	s, z = a.Params([]float64{0, 0})
	if s != 2.0/15 || z != 8 {
		t.Fatalf("all-zero params = %v, %v; want [-1,1]", s, z)
	}
	if c := a.Code(2.5*0.1, 0.1, 0); c != 2 { // half to even
		t.Fatalf("round half to even: got %d", c)
	}
	if err := (Grid{Bits: 5}).Validate(); err == nil {
		t.Fatal("5 bits accepted")
	}
}

// invUpper (in place, LAPACK calls) gives bit for bit what gonum's mat.Cholesky Factorize /
// InverseTo / Factorize / UTo give, and refuses what they refuse.
func TestInvUpperMatchesMatCholesky(t *testing.T) {
	viaMat := func(A []float64, n int) ([]float64, bool) {
		var c mat.Cholesky
		if !c.Factorize(mat.NewSymDense(n, A)) {
			return nil, false
		}
		var inv mat.SymDense
		if err := c.InverseTo(&inv); err != nil {
			return nil, false
		}
		var c2 mat.Cholesky
		if !c2.Factorize(&inv) {
			return nil, false
		}
		var u mat.TriDense
		c2.UTo(&u)
		U := make([]float64, n*n)
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				U[i*n+j] = u.At(i, j)
			}
		}
		return U, true
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{1, 5, 64, 200} {
		for _, singular := range []bool{false, true} {
			X := make([]float64, 3*n*n)
			for i := range X {
				X[i] = rng.NormFloat64()
			}
			A := make([]float64, n*n)
			rows := 3 * n
			if singular {
				rows = max(1, n/2) // rank-deficient Gram
			}
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					for k := 0; k < rows; k++ {
						A[i*n+j] += X[k*n+i] * X[k*n+j]
					}
				}
			}
			want, okW := viaMat(append([]float64(nil), A...), n)
			got, okG := invUpper(append([]float64(nil), A...), n)
			if okW != okG {
				t.Fatalf("n=%d singular=%v: ok %v, mat.Cholesky says %v", n, singular, okG, okW)
			}
			for i := range want {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("n=%d: U[%d] = %v, mat.Cholesky gives %v", n, i, got[i], want[i])
				}
			}
		}
	}
}

// checkFinite finds a NaN or ±Inf anywhere in a matrix large enough to be split between
// workers, names the first one's index, and passes finite values of every size (subnormals and
// the largest finite value included).
func TestCheckFinite(t *testing.T) {
	x := make([]float64, 300000)
	for i := range x {
		x[i] = float64(i%7) - 3
	}
	x[10], x[20] = math.MaxFloat64, -math.SmallestNonzeroFloat64
	if err := checkFinite("H", x); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		y := append([]float64(nil), x...)
		y[250001], y[290000] = bad, math.NaN()
		err := checkFinite("H", y)
		if err == nil || !strings.Contains(err.Error(), "element 250001") {
			t.Fatalf("%v: got %v, want the error to name element 250001", bad, err)
		}
	}
}

// GPTQ refuses a non-finite weight or Hessian entry and names it, on the float64 path and on
// the float32 one (whose check rides on the conversion to Wᵀ), and one Inverse serves several
// modules with the results GPTQ gives each alone.
func TestGPTQNonFiniteAndSharedInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, m := range []int{40, 600} { // 40×512 below f32UpdateMin, 600×512 above
		n := 512
		w, h, _ := randomLayer(rng, m, n, 2*n)
		cfg := DefaultConfig()
		bad := append([]float64(nil), w...)
		bad[m*n-3] = math.Inf(-1)
		if _, err := GPTQ(bad, m, n, h, cfg); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("weight has a non-finite value -Inf at element %d", m*n-3)) {
			t.Fatalf("m=%d: a -Inf weight gave %v", m, err)
		}
		if m*n >= f32UpdateMin { // the float32 path names a weight it cannot hold
			bad[m*n-3] = w[m*n-3]
			bad[5] = -1e39
			if _, err := GPTQ(bad, m, n, h, cfg); err == nil || !strings.Contains(err.Error(), "weight -1e+39 at element 5 is beyond float32's range") {
				t.Fatalf("m=%d: a -1e39 weight gave %v", m, err)
			}
		}
		hb := append([]float64(nil), h...)
		hb[7] = math.NaN()
		if _, err := GPTQ(w, m, n, hb, cfg); err == nil || !strings.Contains(err.Error(), "Hessian has a non-finite value NaN at element 7") {
			t.Fatalf("m=%d: a NaN Hessian entry gave %v", m, err)
		}
		inv, err := NewInverse(h, n, cfg)
		if err != nil {
			t.Fatal(err)
		}
		w2 := make([]float64, 2*m*n)
		for i := range w2 {
			w2[i] = rng.NormFloat64()
		}
		for _, ww := range [][]float64{w, w2[:m*n], w2} {
			rows := len(ww) / n
			want, err := GPTQ(ww, rows, n, h, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := inv.GPTQ(ww, rows)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Codes, want.Codes) || got.Loss != want.Loss || got.DampUsed != want.DampUsed {
				t.Fatalf("m=%d rows=%d: the shared Inverse's result differs from GPTQ's", m, rows)
			}
		}
		if inv.Factors != 1 { // every module here takes the same path
			t.Fatalf("m=%d: %d factorisations", m, inv.Factors)
		}
		inv.Close()
	}
}

// TestGPTQReusedCodes: a GPTQ call given a dead code matrix to write into (the driver's RTN
// baseline) returns what it returns with a fresh one, on both precisions' paths, act-order
// and dead columns included: it writes every code.
func TestGPTQReusedCodes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		m, n int
		act  bool
	}{{24, 96, false}, {24, 96, true}, {600, 512, false}, {600, 512, true}} {
		W, H, _ := randomLayer(r, c.m, c.n, 256)
		for i := 0; i < c.n; i++ { // input 5 is always zero: a dead column
			H[5*c.n+i], H[i*c.n+5] = 0, 0
		}
		cfg := DefaultConfig()
		cfg.GroupSize = 32
		cfg.ActOrder = c.act
		run := func(spare []uint8) *Quantized {
			inv, err := NewInverse(H, c.n, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer inv.Close()
			inv.reuseCodes(spare)
			q, err := inv.GPTQ(W, c.m)
			if err != nil {
				t.Fatal(err)
			}
			return q
		}
		garbage := make([]uint8, c.m*c.n)
		for i := range garbage {
			garbage[i] = uint8(r.IntN(256))
		}
		fresh, reused := run(nil), run(garbage)
		if &reused.Codes[0] != &garbage[0] {
			t.Fatalf("%+v: the spare code matrix was not used", c)
		}
		if !reflect.DeepEqual(fresh, reused) {
			t.Fatalf("%+v: GPTQ into a used code matrix differs from GPTQ into a fresh one", c)
		}
	}
}

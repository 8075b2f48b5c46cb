package quant

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// The memory-saving variants (TakeMatrix, GPTQInPlace, RPIQ with OwnC, the in-place damping
// retries of hinvUpper) give the same bits as the copying ones. Damp 0 on a Hessian with a
// dead column and two equal columns, made indefinite, makes the first Cholesky try fail, so the
// retry path (the upper triangle restored from the lower) runs too.
func TestInPlaceVariantsBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		m, n, tok int
		act       bool
	}{{48, 64, 200, false}, {48, 64, 40, true}, {30, 96, 20, false}} {
		x := make([]float32, c.tok*c.n)
		xf := make([]float32, c.tok*c.n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
			xf[i] = x[i] + 0.1*float32(r.NormFloat64())
		}
		for i := 0; i < c.tok; i++ {
			x[i*c.n+3] = 0
			x[i*c.n+5] = x[i*c.n+6]
		}
		h1, h2 := NewHessian(c.n), NewHessian(c.n)
		c1, c2 := NewCross(c.n), NewCross(c.n)
		for _, h := range []*Hessian{h1, h2} {
			if err := h.Add(x, c.tok); err != nil {
				t.Fatal(err)
			}
		}
		for _, cr := range []*Cross{c1, c2} {
			if err := cr.Add(xf, x, c.tok); err != nil {
				t.Fatal(err)
			}
		}
		H, Ht := h1.Matrix(), h2.TakeMatrix()
		C, Ctk := c1.Matrix(), c2.TakeMatrix()
		if !reflect.DeepEqual(H, Ht) || !reflect.DeepEqual(C, Ctk) {
			t.Fatal("TakeMatrix differs from Matrix")
		}
		W := make([]float64, c.m*c.n)
		for i := range W {
			W[i] = r.NormFloat64()
		}
		cfg := DefaultConfig()
		cfg.GroupSize = 32
		cfg.ActOrder = c.act
		cfg.Damp = 0
		// Columns 5 and 6 are equal, so H is singular, but whether a pivot rounds to ≤ 0 or to a
		// tiny positive value depends on the last bits of H (the Go and assembly sums differ):
		// shrinking both diagonal entries by a millionth makes H indefinite, so the undamped try
		// fails on every build.
		Hg := append([]float64(nil), H...)
		Hg[5*c.n+5] *= 1 - 1e-6
		Hg[6*c.n+6] *= 1 - 1e-6
		q, err := GPTQ(W, c.m, c.n, Hg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if q.DampUsed == 0 {
			t.Fatal("the undamped factorisation succeeded: the retry path is not tested")
		}
		qi, err := GPTQInPlace(append([]float64(nil), W...), c.m, c.n, append([]float64(nil), Hg...), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(q, qi) {
			t.Fatalf("%d×%d act-order %v: GPTQInPlace differs from GPTQ", c.m, c.n, c.act)
		}
		for _, rd := range []Reading{DefaultReading(), {AllData: true, FPTarget: true, Sequential: true}} {
			in := Stage2Inputs{M: c.m, N: c.n, W: W, H: H, C: C, Tokens: 0, Seqs: 1}
			a, err := RPIQ(in, q, Stage2Config{Reading: rd})
			if err != nil {
				t.Fatal(err)
			}
			in.C, in.OwnC = append([]float64(nil), C...), true
			b, err := RPIQ(in, q, Stage2Config{Reading: rd})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a.Q, b.Q) || !reflect.DeepEqual(a.Gain, b.Gain) {
				t.Fatalf("%s: RPIQ with OwnC differs", rd)
			}
		}
	}
}

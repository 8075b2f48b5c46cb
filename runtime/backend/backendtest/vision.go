package backendtest

// Conformance tests of the vision-language ops: RoPEAt, AttentionFull, Im2Col.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rpiq/rpiq/runtime/backend"
)

func testVision(t *testing.T, be backend.Backend) {
	t.Run("RoPEAt", func(t *testing.T) { testRoPEAt(t, be) })
	t.Run("AttentionFull", func(t *testing.T) { testAttentionFull(t, be) })
	t.Run("Im2Col", func(t *testing.T) { testIm2Col(t, be) })
}

func testRoPEAt(t *testing.T, be backend.Backend) {
	r := rand.New(rand.NewPCG(31, 32))
	hd, heads := 8, 3
	cols := hd * heads
	pos := []int32{0, 1, 2, 2, 2, 3, 700} // shared positions as CogVLM2's image tokens have
	rows := len(pos)
	x := rnd(r, rows*cols)
	inv := backend.InvFreq(500000, hd, nil)
	tt := up(be, x, rows, cols)
	be.RoPEAt(tt, hd, pos, inv)
	want := make([]float64, rows*cols)
	for i := 0; i < rows; i++ {
		for h := 0; h < heads; h++ {
			base := i*cols + h*hd
			for j := 0; j < hd/2; j++ {
				a := float64(pos[i]) * float64(inv[j])
				x1, x2 := float64(x[base+j]), float64(x[base+j+hd/2])
				want[base+j] = x1*math.Cos(a) - x2*math.Sin(a)
				want[base+j+hd/2] = x2*math.Cos(a) + x1*math.Sin(a)
			}
		}
	}
	got := down(be, tt)
	check(t, "RoPEAt", got, want, 1e-5)
	// Rows with the same position rotate identically: equal inputs stay equal.
	same := make([]float32, 2*cols)
	copy(same, x[:cols])
	copy(same[cols:], x[:cols])
	st := up(be, same, 2, cols)
	be.RoPEAt(st, hd, []int32{9, 9}, inv)
	g := down(be, st)
	for j := 0; j < cols; j++ {
		if g[j] != g[cols+j] {
			t.Fatalf("RoPEAt: equal rows at one position differ at %d: %g vs %g", j, g[j], g[cols+j])
		}
	}
}

func testAttentionFull(t *testing.T, be backend.Backend) {
	r := rand.New(rand.NewPCG(33, 34))
	for _, a := range []backend.Attn{{Heads: 4, KVHeads: 4, HeadDim: 7}, {Heads: 6, KVHeads: 2, HeadDim: 5}} {
		a.Scale = float32(1 / math.Sqrt(float64(a.HeadDim)))
		qd, kvd := a.Heads*a.HeadDim, a.KVHeads*a.HeadDim
		for _, nm := range [][2]int{{9, 9}, {1, 13}, {5, 2}} {
			n, m := nm[0], nm[1]
			q, k, v := rnd(r, n*qd), rnd(r, m*kvd), rnd(r, m*kvd)
			dst := be.NewTensor(n, qd)
			be.AttentionFull(dst, up(be, q, n, qd), up(be, k, m, kvd), up(be, v, m, kvd), a)
			want := make([]float64, n*qd)
			for i := 0; i < n; i++ {
				for h := 0; h < a.Heads; h++ {
					g := h / (a.Heads / a.KVHeads)
					s := make([]float64, m)
					mx := math.Inf(-1)
					for p := 0; p < m; p++ { // every key: no causal mask
						for d := 0; d < a.HeadDim; d++ {
							s[p] += float64(q[i*qd+h*a.HeadDim+d]) * float64(k[p*kvd+g*a.HeadDim+d])
						}
						s[p] *= float64(a.Scale)
						mx = math.Max(mx, s[p])
					}
					var sum float64
					for p := range s {
						s[p] = math.Exp(s[p] - mx)
						sum += s[p]
					}
					for p := range s {
						for d := 0; d < a.HeadDim; d++ {
							want[i*qd+h*a.HeadDim+d] += s[p] / sum * float64(v[p*kvd+g*a.HeadDim+d])
						}
					}
				}
			}
			check(t, fmt.Sprintf("AttentionFull %d heads/%d kv, %d×%d", a.Heads, a.KVHeads, n, m), down(be, dst), want, 1e-5)
		}
	}
}

func testIm2Col(t *testing.T, be backend.Backend) {
	r := rand.New(rand.NewPCG(35, 36))
	for _, c := range []struct{ gh, gw, k, C int }{{4, 4, 2, 3}, {6, 4, 2, 5}, {3, 6, 3, 2}, {2, 2, 1, 4}} {
		x := rnd(r, c.gh*c.gw*c.C)
		oh, ow := c.gh/c.k, c.gw/c.k
		dst := be.NewTensor(oh*ow, c.C*c.k*c.k)
		be.Im2Col(dst, up(be, x, c.gh*c.gw, c.C), c.gh, c.gw, c.k)
		// A stride-k convolution with a PyTorch [O, C, k, k] weight, written directly, must equal
		// the gathered patches times the weight flattened as O × (C·k·k).
		O := 3
		w := rnd(r, O*c.C*c.k*c.k)
		want := make([]float64, oh*ow*O)
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for o := 0; o < O; o++ {
					s := 0.0
					for ch := 0; ch < c.C; ch++ {
						for dy := 0; dy < c.k; dy++ {
							for dx := 0; dx < c.k; dx++ {
								s += float64(w[((o*c.C+ch)*c.k+dy)*c.k+dx]) * float64(x[((oy*c.k+dy)*c.gw+ox*c.k+dx)*c.C+ch])
							}
						}
					}
					want[(oy*ow+ox)*O+o] = s
				}
			}
		}
		y := be.NewTensor(oh*ow, O)
		be.MatMul(y, dst, be.NewWeightF32(O, c.C*c.k*c.k, w))
		check(t, fmt.Sprintf("Im2Col %dx%d k%d C%d as a convolution", c.gh, c.gw, c.k, c.C), down(be, y), want, 1e-5)
		// and the gather itself moves values without changing them
		g := down(be, dst)
		for ch := 0; ch < c.C; ch++ {
			if g[ch*c.k*c.k] != x[ch] {
				t.Fatalf("Im2Col: patch 0 channel %d = %g, want x[0][%d] = %g", ch, g[ch*c.k*c.k], ch, x[ch])
			}
		}
	}
}

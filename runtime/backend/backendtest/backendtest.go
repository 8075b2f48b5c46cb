// Package backendtest is the conformance suite every backend.Backend must pass: each op on
// random inputs of awkward sizes, checked against a float64 implementation written straight from
// the formula. A backend's own test calls Run(t, be).
package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/runtime/backend"
)

// Run runs every op test against be.
func Run(t *testing.T, be backend.Backend) {
	t.Run("MatMul", func(t *testing.T) { testMatMul(t, be) })
	t.Run("Elementwise", func(t *testing.T) { testElementwise(t, be) })
	t.Run("Norms", func(t *testing.T) { testNorms(t, be) })
	t.Run("RoPE", func(t *testing.T) { testRoPE(t, be) })
	t.Run("Attention", func(t *testing.T) { testAttention(t, be) })
	t.Run("Embed", func(t *testing.T) { testEmbed(t, be) })
	t.Run("Rows", func(t *testing.T) { testRows(t, be) })
	t.Run("Vision", func(t *testing.T) { testVision(t, be) }) // vision.go
}

func rnd(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func up(be backend.Backend, data []float32, rows, cols int) backend.Tensor {
	t := be.NewTensor(rows, cols)
	be.Upload(t, data)
	return t
}

func down(be backend.Backend, t backend.Tensor) []float32 {
	out := make([]float32, t.Rows()*t.Cols())
	be.Download(out, t)
	return out
}

// check compares got to want with tolerance tol relative to max(1, max|want|).
func check(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	scale := 1.0
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range want {
		d := math.Abs(float64(got[i]) - want[i])
		if !(d <= tol*scale) {
			t.Fatalf("%s: [%d] = %g, want %g (|diff| %.3g > %.3g)", what, i, got[i], want[i], d, tol*scale)
		}
	}
}

func bytesOf(dt backend.DType, v []float32) ([]byte, []float64) {
	ref := make([]float64, len(v))
	b := make([]byte, len(v)*dt.Size())
	for i, f := range v {
		switch dt {
		case backend.F32:
			u := math.Float32bits(f)
			b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
			ref[i] = float64(f)
		case backend.BF16:
			h := half.F32ToBF16(f)
			b[2*i], b[2*i+1] = byte(h), byte(h>>8)
			ref[i] = float64(half.BF16ToF32(h))
		case backend.F16:
			h := half.F32ToF16(f)
			b[2*i], b[2*i+1] = byte(h), byte(h>>8)
			ref[i] = float64(half.F16ToF32(h))
		}
	}
	return b, ref
}

func testMatMul(t *testing.T, be backend.Backend) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, dt := range []backend.DType{backend.F32, backend.BF16, backend.F16} {
		for _, sz := range [][3]int{{1, 1, 1}, {1, 33, 7}, {2, 64, 4}, {3, 100, 13}, {7, 257, 9}, {17, 31, 70}, {1, 1030, 65}} {
			n, k, m := sz[0], sz[1], sz[2]
			x, wv := rnd(r, n*k), rnd(r, m*k)
			raw, w64 := bytesOf(dt, wv)
			w, err := be.NewWeight(dt, m, k, raw)
			if err != nil {
				t.Fatal(err)
			}
			dst := be.NewTensor(n, m)
			be.MatMul(dst, up(be, x, n, k), w)
			want := make([]float64, n*m)
			for i := 0; i < n; i++ {
				for j := 0; j < m; j++ {
					for q := 0; q < k; q++ {
						want[i*m+j] += float64(x[i*k+q]) * w64[j*k+q]
					}
				}
			}
			check(t, fmt.Sprintf("MatMul %v %d×%d·(%d×%d)ᵀ", dt, n, k, m, k), down(be, dst), want, 1e-5*math.Sqrt(float64(k)))
			back := be.WeightF32(w)
			for i := range back {
				if float64(back[i]) != w64[i] {
					t.Fatalf("WeightF32 %v [%d] = %g, want %g", dt, i, back[i], w64[i])
				}
			}
		}
	}
	if _, err := be.NewWeight(backend.F32, 3, 3, make([]byte, 35)); err == nil {
		t.Fatal("NewWeight accepted 35 bytes for a 3×3 F32 weight")
	}
}

func testElementwise(t *testing.T, be backend.Backend) {
	r := rand.New(rand.NewPCG(13, 14))
	rows, cols := 5, 37
	a, b := rnd(r, rows*cols), rnd(r, rows*cols)
	bias := rnd(r, cols)
	want := make([]float64, rows*cols)

	dst := be.NewTensor(rows, cols)
	be.Add(dst, up(be, a, rows, cols), up(be, b, rows, cols))
	for i := range want {
		want[i] = float64(a[i]) + float64(b[i])
	}
	check(t, "Add", down(be, dst), want, 1e-6)

	x := up(be, a, rows, cols)
	be.AddBias(x, up(be, bias, 1, cols))
	for i := range want {
		want[i] = float64(a[i]) + float64(bias[i%cols])
	}
	check(t, "AddBias", down(be, x), want, 1e-6)

	be.SwiGLU(dst, up(be, a, rows, cols), up(be, b, rows, cols))
	for i := range want {
		g := float64(a[i])
		want[i] = g / (1 + math.Exp(-g)) * float64(b[i])
	}
	check(t, "SwiGLU", down(be, dst), want, 1e-5)

	x = up(be, a, rows, cols)
	be.ReLU(x)
	for i := range want {
		want[i] = math.Max(0, float64(a[i]))
	}
	check(t, "ReLU", down(be, x), want, 0)

	x = up(be, a, rows, cols)
	be.GELU(x)
	for i := range want {
		v := float64(a[i])
		want[i] = 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
	}
	check(t, "GELU", down(be, x), want, 1e-5)

	be.Copy(dst, up(be, b, rows, cols))
	for i := range want {
		want[i] = float64(b[i])
	}
	check(t, "Copy", down(be, dst), want, 0)
}

func testNorms(t *testing.T, be backend.Backend) {
	r := rand.New(rand.NewPCG(15, 16))
	rows, cols := 4, 48
	x := rnd(r, rows*cols)
	for _, g := range []int{cols, 16} { // whole row, and per 16-wide head (Qwen3 q/k norm)
		w := rnd(r, g)
		dst := be.NewTensor(rows, cols)
		be.RMSNorm(dst, up(be, x, rows, cols), up(be, w, 1, g), 1e-6)
		want := make([]float64, rows*cols)
		for s := 0; s < rows*cols; s += g {
			var ss float64
			for i := s; i < s+g; i++ {
				ss += float64(x[i]) * float64(x[i])
			}
			inv := 1 / math.Sqrt(ss/float64(g)+1e-6)
			for i := s; i < s+g; i++ {
				want[i] = float64(x[i]) * inv * float64(w[i-s])
			}
		}
		check(t, fmt.Sprintf("RMSNorm group %d", g), down(be, dst), want, 1e-5)
	}
	w, b := rnd(r, cols), rnd(r, cols)
	dst := be.NewTensor(rows, cols)
	be.LayerNorm(dst, up(be, x, rows, cols), up(be, w, 1, cols), up(be, b, 1, cols), 1e-5)
	want := make([]float64, rows*cols)
	for i := 0; i < rows; i++ {
		row := x[i*cols : (i+1)*cols]
		var mu, va float64
		for _, v := range row {
			mu += float64(v)
		}
		mu /= float64(cols)
		for _, v := range row {
			va += (float64(v) - mu) * (float64(v) - mu)
		}
		va /= float64(cols)
		for j, v := range row {
			want[i*cols+j] = (float64(v)-mu)/math.Sqrt(va+1e-5)*float64(w[j]) + float64(b[j])
		}
	}
	check(t, "LayerNorm", down(be, dst), want, 1e-5)
}

func testRoPE(t *testing.T, be backend.Backend) {
	r := rand.New(rand.NewPCG(17, 18))
	rows, hd, heads, pos := 3, 12, 3, 5
	cols := hd * heads
	x := rnd(r, rows*cols)
	scal := &backend.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 16}
	lin := &backend.RopeScaling{Type: "linear", Factor: 4}
	for _, s := range []*backend.RopeScaling{nil, scal, lin} {
		inv := backend.InvFreq(10000, hd, s)
		tt := up(be, x, rows, cols)
		be.RoPE(tt, hd, pos, inv)
		want := make([]float64, rows*cols)
		for i := 0; i < rows; i++ {
			for h := 0; h < heads; h++ {
				base := i*cols + h*hd
				for j := 0; j < hd/2; j++ {
					f := math.Pow(10000, -float64(2*j)/float64(hd))
					if s == lin {
						f /= 4
					} else if s != nil { // transformers' _compute_llama3_parameters, written out again
						wl := 2 * math.Pi / f
						lo, hi := 16.0/1, 16.0/4
						if wl > lo {
							f /= 8
						} else if wl >= hi {
							sm := (16/wl - 1) / (4 - 1)
							f = (1-sm)*f/8 + sm*f
						}
					}
					a := float64(pos+i) * f
					x1, x2 := float64(x[base+j]), float64(x[base+j+hd/2])
					want[base+j] = x1*math.Cos(a) - x2*math.Sin(a)
					want[base+j+hd/2] = x2*math.Cos(a) + x1*math.Sin(a)
				}
			}
		}
		check(t, fmt.Sprintf("RoPE scaling=%+v", s), down(be, tt), want, 1e-5)
	}
}

func testAttention(t *testing.T, be backend.Backend) {
	// A tiny head dimension and one long enough for vector loops (with a tail).
	for _, a := range []backend.Attn{{Heads: 6, KVHeads: 2, HeadDim: 5}, {Heads: 4, KVHeads: 4, HeadDim: 37}} {
		testAttentionShape(t, be, a)
	}
}

func testAttentionShape(t *testing.T, be backend.Backend, a backend.Attn) {
	r := rand.New(rand.NewPCG(19, 20))
	a.Scale = float32(1 / math.Sqrt(float64(a.HeadDim)))
	qd, kvd := a.Heads*a.HeadDim, a.KVHeads*a.HeadDim
	const layers, maxSeq = 2, 16
	c := be.NewCache(layers, maxSeq, kvd)
	// Two chunks (a prompt of 5, then single steps) into layer 1; keep every k/v to check.
	var allK, allV []float32
	pos := 0
	for _, n := range []int{5, 1, 1, 3} {
		q, k, v := rnd(r, n*qd), rnd(r, n*kvd), rnd(r, n*kvd)
		allK, allV = append(allK, k...), append(allV, v...)
		dst := be.NewTensor(n, qd)
		be.Attention(dst, up(be, q, n, qd), up(be, k, n, kvd), up(be, v, n, kvd), c, 1, pos, a)
		want := make([]float64, n*qd)
		for i := 0; i < n; i++ {
			for h := 0; h < a.Heads; h++ {
				g := h / (a.Heads / a.KVHeads)
				T := pos + i + 1
				s := make([]float64, T)
				mx := math.Inf(-1)
				for p := 0; p < T; p++ {
					for d := 0; d < a.HeadDim; d++ {
						s[p] += float64(q[i*qd+h*a.HeadDim+d]) * float64(allK[p*kvd+g*a.HeadDim+d])
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
						want[i*qd+h*a.HeadDim+d] += s[p] / sum * float64(allV[p*kvd+g*a.HeadDim+d])
					}
				}
			}
		}
		check(t, fmt.Sprintf("Attention at %d+%d", pos, n), down(be, dst), want, 1e-5)
		pos += n
		c.SetLen(pos)
	}
	if c.Len() != pos || c.Cap() != maxSeq {
		t.Fatalf("cache Len %d Cap %d, want %d %d", c.Len(), c.Cap(), pos, maxSeq)
	}
}

func testEmbed(t *testing.T, be backend.Backend) {
	r := rand.New(rand.NewPCG(21, 22))
	vocab, dim := 11, 9
	for _, dt := range []backend.DType{backend.F32, backend.BF16, backend.F16} {
		raw, ref := bytesOf(dt, rnd(r, vocab*dim))
		w, err := be.NewWeight(dt, vocab, dim, raw)
		if err != nil {
			t.Fatal(err)
		}
		ids := []int32{3, 0, 10, 3}
		dst := be.NewTensor(len(ids), dim)
		be.Embed(dst, w, ids)
		want := make([]float64, len(ids)*dim)
		for i, id := range ids {
			copy(want[i*dim:], ref[int(id)*dim:int(id+1)*dim])
		}
		check(t, "Embed "+dt.String(), down(be, dst), want, 0)
	}
}

func testRows(t *testing.T, be backend.Backend) {
	x := []float32{1, 2, 3, 4, 5, 6}
	tt := up(be, x, 3, 2)
	v := be.Rows(tt, 1, 3)
	if v.Rows() != 2 || v.Cols() != 2 {
		t.Fatalf("Rows(1,3) is %d×%d", v.Rows(), v.Cols())
	}
	check(t, "Rows", down(be, v), []float64{3, 4, 5, 6}, 0)
	be.Upload(v, []float32{7, 8, 9, 10}) // a view shares storage
	check(t, "Rows shares storage", down(be, tt), []float64{1, 2, 7, 8, 9, 10}, 0)
}

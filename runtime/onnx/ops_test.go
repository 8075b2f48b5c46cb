package onnx

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Every op against a naive float64 reference on random inputs. Each case builds a one-node
// ONNX model with the test writer, so parsing, attribute defaults and the kernel are tested
// together.

type arg struct {
	name  string
	shape []int
	f     []float32
	i     []int64
	init  bool // an initializer instead of a graph input (integer args always are)
	omit  bool // an omitted optional input ("")
}

func fArg(shape []int, f []float32) arg { return arg{shape: shape, f: f} }
func cArg(shape []int, f []float32) arg { return arg{shape: shape, f: f, init: true} }
func iArg(v ...int64) arg               { return arg{shape: []int{len(v)}, i: v} }

func buildOp(opset int64, op string, attrs []tAttr, args []arg) []byte {
	m := &tModel{opset: opset, outputs: []string{"y"}}
	n := tNode{op: op, name: "n0", out: []string{"y"}, attrs: attrs}
	for k, a := range args {
		if a.omit {
			n.in = append(n.in, "")
			continue
		}
		name := fmt.Sprintf("in%d", k)
		n.in = append(n.in, name)
		if a.f != nil && !a.init {
			m.inputs = append(m.inputs, name)
			continue
		}
		tt := &tTensor{name: name, dims: a.shape, f: a.f, i: a.i, raw: k%2 == 0}
		if a.f == nil && a.i == nil {
			tt.i = []int64{}
		}
		m.inits = append(m.inits, tt)
	}
	m.nodes = []tNode{n}
	return m.encode()
}

func runOp(opset int64, op string, attrs []tAttr, args ...arg) (Tensor, error) {
	m, err := Parse(buildOp(opset, op, attrs, args))
	if err != nil {
		return Tensor{}, err
	}
	in := map[string]Tensor{}
	for k, a := range args {
		if a.f != nil && !a.init && !a.omit {
			in[fmt.Sprintf("in%d", k)] = Tensor{Shape: a.shape, Data: a.f}
		}
	}
	out, err := m.Run(in)
	if err != nil {
		return Tensor{}, err
	}
	return out["y"], nil
}

var rng = rand.New(rand.NewPCG(7, 11))

func randT(shape ...int) []float32 {
	f := make([]float32, numel(shape))
	for i := range f {
		f[i] = float32(rng.NormFloat64())
	}
	return f
}

func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = i % shape[d]
			i /= shape[d]
		}
	}
	return idx
}

// bcastIndex is the flat index into a tensor of shape s for the output multi-index idx.
func bcastIndex(idx, s []int) int {
	off, st := 0, strides(s)
	for d := range s {
		j := idx[len(idx)-len(s)+d]
		if s[d] == 1 {
			j = 0
		}
		off += j * st[d]
	}
	return off
}

func check(t *testing.T, what string, got Tensor, err error, wantShape []int, want []float64, tol float64) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !slices.Equal(got.Shape, wantShape) {
		t.Fatalf("%s: shape %v, expected %v", what, got.Shape, wantShape)
	}
	if len(got.Data) != len(want) {
		t.Fatalf("%s: %d values, expected %d", what, len(got.Data), len(want))
	}
	for i, w := range want {
		if d := math.Abs(float64(got.Data[i]) - w); !(d <= tol*(1+math.Abs(w))) {
			t.Fatalf("%s: element %d = %v, expected %v", what, i, got.Data[i], w)
		}
	}
}

func TestBinaryOps(t *testing.T) {
	shapes := [][2][]int{
		{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{1}, {2, 3}},
		{{}, {2, 3}}, {{2, 3, 4, 5}, {1, 3, 1, 1}}, {{3, 1, 5}, {1, 4, 1}}, {{2, 3}, {}},
	}
	ops := map[string]func(a, b float64) float64{
		"Add": func(a, b float64) float64 { return a + b },
		"Sub": func(a, b float64) float64 { return a - b },
		"Mul": func(a, b float64) float64 { return a * b },
		"Div": func(a, b float64) float64 { return a / b },
		"Pow": math.Pow,
	}
	for op, f := range ops {
		for _, s := range shapes {
			a, b := randT(s[0]...), randT(s[1]...)
			if op == "Pow" {
				for i := range a {
					a[i] = float32(math.Abs(float64(a[i]))) + 0.1
				}
				if len(b) == 1 {
					b[0] = 2
				}
			}
			os, err := broadcastRef(s[0], s[1])
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float64, numel(os))
			for i := range want {
				idx := unravel(i, os)
				want[i] = f(float64(a[bcastIndex(idx, s[0])]), float64(b[bcastIndex(idx, s[1])]))
			}
			got, err := runOp(9, op, nil, fArg(s[0], a), cArg(s[1], b))
			check(t, fmt.Sprintf("%s %v %v", op, s[0], s[1]), got, err, os, want, 1e-5)
		}
	}
	if _, err := runOp(9, "Add", nil, fArg([]int{2, 3}, randT(2, 3)), fArg([]int{4}, randT(4))); err == nil ||
		!strings.Contains(err.Error(), "broadcast") {
		t.Errorf("Add [2 3] + [4]: err %v, expected a broadcast error", err)
	}
}

func broadcastRef(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range out {
		da, db := 1, 1
		if j := i - r + len(a); j >= 0 {
			da = a[j]
		}
		if j := i - r + len(b); j >= 0 {
			db = b[j]
		}
		if da != db && da != 1 && db != 1 {
			return nil, fmt.Errorf("%v %v", a, b)
		}
		out[i] = max(da, db)
		if da == 0 || db == 0 {
			out[i] = 0
		}
	}
	return out, nil
}

func TestUnaryOps(t *testing.T) {
	shape := []int{2, 3, 5}
	x := randT(shape...)
	cases := []struct {
		op    string
		opset int64
		attrs []tAttr
		args  []arg
		f     func(float64) float64
	}{
		{"Relu", 9, nil, nil, func(v float64) float64 { return math.Max(v, 0) }},
		{"Sigmoid", 9, nil, nil, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
		{"Sqrt", 9, nil, nil, func(v float64) float64 { return math.Sqrt(math.Abs(v)) }},
		{"Exp", 9, nil, nil, math.Exp},
		{"Tanh", 9, nil, nil, math.Tanh},
		{"Neg", 9, nil, nil, func(v float64) float64 { return -v }},
		{"Abs", 9, nil, nil, math.Abs},
		{"HardSigmoid", 9, nil, nil, func(v float64) float64 { return math.Max(0, math.Min(1, 0.2*v+0.5)) }},
		{"HardSigmoid", 9, []tAttr{aFloat("alpha", 1.0/6), aFloat("beta", 0.5)}, nil,
			func(v float64) float64 { return math.Max(0, math.Min(1, v/6+0.5)) }},
		{"HardSwish", 14, nil, nil, func(v float64) float64 { return v * math.Max(0, math.Min(1, v/6+0.5)) }},
		{"Clip", 9, []tAttr{aFloat("min", -0.5), aFloat("max", 0.7)}, nil,
			func(v float64) float64 { return math.Max(-0.5, math.Min(0.7, v)) }},
		{"Clip", 9, nil, nil, func(v float64) float64 { return v }},
		{"Clip", 13, nil, []arg{cArg([]int{}, []float32{-0.25}), {omit: true}},
			func(v float64) float64 { return math.Max(-0.25, v) }},
		{"Clip", 13, nil, []arg{cArg([]int{}, []float32{0}), cArg([]int{}, []float32{6})},
			func(v float64) float64 { return math.Max(0, math.Min(6, v)) }},
		{"Identity", 9, nil, nil, func(v float64) float64 { return v }},
	}
	for _, c := range cases {
		in := x
		if c.op == "Sqrt" {
			in = slices.Clone(x)
			for i := range in {
				in[i] = float32(math.Abs(float64(in[i])))
			}
		}
		want := make([]float64, len(x))
		for i, v := range in {
			want[i] = c.f(float64(v))
		}
		got, err := runOp(c.opset, c.op, c.attrs, append([]arg{fArg(shape, in)}, c.args...)...)
		check(t, fmt.Sprintf("%s opset %d %v", c.op, c.opset, c.attrs), got, err, shape, want, 1e-6)
	}
}

// refConv is a direct 2-D convolution in float64.
func refConv(x []float32, xs []int, w []float32, ws []int, b []float32, group int, st, pads, dil []int) ([]float64, []int) {
	n, c, h, wd := xs[0], xs[1], xs[2], xs[3]
	m, cg, kh, kw := ws[0], ws[1], ws[2], ws[3]
	oh := (h+pads[0]+pads[2]-dil[0]*(kh-1)-1)/st[0] + 1
	ow := (wd+pads[1]+pads[3]-dil[1]*(kw-1)-1)/st[1] + 1
	out := make([]float64, n*m*oh*ow)
	mg := m / group
	_ = c
	for b0 := 0; b0 < n; b0++ {
		for oc := 0; oc < m; oc++ {
			g := oc / mg
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					s := 0.0
					if b != nil {
						s = float64(b[oc])
					}
					for ic := 0; ic < cg; ic++ {
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy := oy*st[0] - pads[0] + ky*dil[0]
								ix := ox*st[1] - pads[1] + kx*dil[1]
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += float64(x[((b0*c+g*cg+ic)*h+iy)*wd+ix]) * float64(w[((oc*cg+ic)*kh+ky)*kw+kx])
							}
						}
					}
					out[((b0*m+oc)*oh+oy)*ow+ox] = s
				}
			}
		}
	}
	return out, []int{n, m, oh, ow}
}

var tiledOnce bool

func TestConv(t *testing.T) {
	cases := []struct {
		xs, ws             []int
		group              int
		st, pads, dil      []int
		bias, constW, auto bool
	}{
		{[]int{1, 3, 8, 10}, []int{4, 3, 3, 3}, 1, []int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1}, true, true, false},
		{[]int{2, 4, 9, 7}, []int{6, 2, 3, 3}, 2, []int{2, 1}, []int{1, 0, 2, 1}, []int{1, 1}, false, false, false},
		{[]int{1, 5, 12, 16}, []int{5, 1, 5, 5}, 5, []int{2, 1}, []int{2, 2, 2, 2}, []int{1, 1}, true, true, false},
		{[]int{2, 3, 7, 9}, []int{6, 1, 3, 3}, 3, []int{1, 2}, []int{1, 1, 1, 1}, []int{1, 1}, true, true, false}, // depthwise ×2
		{[]int{1, 3, 11, 13}, []int{4, 3, 3, 2}, 1, []int{1, 1}, []int{0, 1, 2, 0}, []int{2, 3}, true, true, false},
		{[]int{1, 4, 11, 13}, []int{4, 1, 3, 3}, 4, []int{2, 2}, []int{0, 0, 0, 0}, []int{2, 2}, false, true, false},
		{[]int{2, 16, 6, 20}, []int{24, 16, 1, 1}, 1, []int{1, 1}, []int{0, 0, 0, 0}, []int{1, 1}, true, true, false},
		{[]int{1, 8, 1, 1}, []int{12, 8, 1, 1}, 1, []int{1, 1}, []int{0, 0, 0, 0}, []int{1, 1}, true, true, false},
		{[]int{1, 3, 9, 10}, []int{4, 3, 3, 3}, 1, []int{2, 2}, []int{1, 1, 1, 1}, []int{1, 1}, true, true, true}, // SAME_UPPER
	}
	for ci, c := range cases {
		x, w := randT(c.xs...), randT(c.ws...)
		var b []float32
		args := []arg{fArg(c.xs, x), {shape: c.ws, f: w, init: c.constW}}
		if c.bias {
			b = randT(c.ws[0])
			args = append(args, cArg([]int{c.ws[0]}, b))
		}
		attrs := []tAttr{aInts("kernel_shape", int64(c.ws[2]), int64(c.ws[3])), aInt("group", int64(c.group)),
			aInts("strides", int64(c.st[0]), int64(c.st[1])), aInts("dilations", int64(c.dil[0]), int64(c.dil[1]))}
		pads := c.pads
		if c.auto {
			attrs = append(attrs, aStr("auto_pad", "SAME_UPPER"))
			// SAME_UPPER with output ceil(in/stride): total pad split with the extra at the end
			oh, ow := (c.xs[2]+c.st[0]-1)/c.st[0], (c.xs[3]+c.st[1]-1)/c.st[1]
			ph := max(0, (oh-1)*c.st[0]+(c.ws[2]-1)*c.dil[0]+1-c.xs[2])
			pw := max(0, (ow-1)*c.st[1]+(c.ws[3]-1)*c.dil[1]+1-c.xs[3])
			pads = []int{ph / 2, pw / 2, ph - ph/2, pw - pw/2}
		} else {
			attrs = append(attrs, aInts("pads", int64(pads[0]), int64(pads[1]), int64(pads[2]), int64(pads[3])))
		}
		want, ws := refConv(x, c.xs, w, c.ws, b, c.group, c.st, pads, c.dil)
		got, err := runOp(9, "Conv", attrs, args...)
		check(t, fmt.Sprintf("conv case %d", ci), got, err, ws, want, 1e-4)
	}
	// the same cases again with every non-pointwise convolution tiled
	if !tiledOnce {
		tiledOnce = true
		o1, o2, o3 := tiledColElems, convTileElems, convTileMin
		tiledColElems, convTileElems, convTileMin = 0, 0, 7 // tiles of 7 pixels
		defer func() { tiledColElems, convTileElems, convTileMin, tiledOnce = o1, o2, o3, false }()
		t.Run("tiled", TestConv)
	}
	// group that does not divide the channels is an error at run time, not a panic
	if _, err := runOp(9, "Conv", []tAttr{aInt("group", 2)}, fArg([]int{1, 3, 4, 4}, randT(1, 3, 4, 4)), cArg([]int{2, 1, 3, 3}, randT(2, 1, 3, 3))); err == nil {
		t.Error("Conv with 3 channels in 2 groups accepted")
	}
}

func TestMatMulGemm(t *testing.T) {
	cases := []struct {
		as, bs, os []int
		constB     bool
	}{
		{[]int{3, 4}, []int{4, 5}, []int{3, 5}, true},
		{[]int{2, 3, 4}, []int{4, 5}, []int{2, 3, 5}, true},
		{[]int{2, 1, 3, 4}, []int{3, 4, 2}, []int{2, 3, 3, 2}, false},
		{[]int{4}, []int{2, 4, 3}, []int{2, 3}, false},
		{[]int{2, 5, 4}, []int{4}, []int{2, 5}, false},
		{[]int{13, 40}, []int{40, 17}, []int{13, 17}, false}, // large enough for the packed GEMM
	}
	for ci, c := range cases {
		a, b := randT(c.as...), randT(c.bs...)
		as, bs := c.as, c.bs
		if len(as) == 1 {
			as = []int{1, as[0]}
		}
		if len(bs) == 1 {
			bs = []int{bs[0], 1}
		}
		n, k, m := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
		batch, _ := broadcastRef(as[:len(as)-2], bs[:len(bs)-2])
		want := make([]float64, numel(batch)*n*m)
		for bi := 0; bi < numel(batch); bi++ {
			idx := unravel(bi, batch)
			ao := bcastIndex(idx, as[:len(as)-2]) * n * k
			bo := bcastIndex(idx, bs[:len(bs)-2]) * k * m
			for i := 0; i < n; i++ {
				for j := 0; j < m; j++ {
					s := 0.0
					for l := 0; l < k; l++ {
						s += float64(a[ao+i*k+l]) * float64(b[bo+l*m+j])
					}
					want[(bi*n+i)*m+j] = s
				}
			}
		}
		got, err := runOp(9, "MatMul", nil, fArg(c.as, a), arg{shape: c.bs, f: b, init: c.constB})
		check(t, fmt.Sprintf("matmul case %d %v×%v", ci, c.as, c.bs), got, err, c.os, want, 1e-4)
	}
	// Gemm: alpha·A'·B' + beta·C
	for _, tr := range [][2]int64{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
		n, k, m := 3, 5, 4
		as, bs := []int{n, k}, []int{k, m}
		if tr[0] == 1 {
			as = []int{k, n}
		}
		if tr[1] == 1 {
			bs = []int{m, k}
		}
		a, b, cc := randT(as...), randT(bs...), randT(m)
		want := make([]float64, n*m)
		for i := 0; i < n; i++ {
			for j := 0; j < m; j++ {
				s := 0.0
				for l := 0; l < k; l++ {
					av, bv := a[i*k+l], b[l*m+j]
					if tr[0] == 1 {
						av = a[l*n+i]
					}
					if tr[1] == 1 {
						bv = b[j*k+l]
					}
					s += float64(av) * float64(bv)
				}
				want[i*m+j] = 0.5*s + 2*float64(cc[j])
			}
		}
		got, err := runOp(11, "Gemm", []tAttr{aFloat("alpha", 0.5), aFloat("beta", 2), aInt("transA", tr[0]), aInt("transB", tr[1])},
			fArg(as, a), cArg(bs, b), cArg([]int{m}, cc))
		check(t, fmt.Sprintf("gemm trans %v", tr), got, err, []int{n, m}, want, 1e-5)
	}
}

func TestBatchNormAndPools(t *testing.T) {
	xs := []int{2, 3, 5, 7}
	x := randT(xs...)
	sc, bb, mean, vr := randT(3), randT(3), randT(3), randT(3)
	for i := range vr {
		vr[i] = float32(math.Abs(float64(vr[i]))) + 0.1
	}
	want := make([]float64, len(x))
	for i := range x {
		c := unravel(i, xs)[1]
		want[i] = (float64(x[i])-float64(mean[c]))/math.Sqrt(float64(vr[c])+1e-3)*float64(sc[c]) + float64(bb[c])
	}
	got, err := runOp(9, "BatchNormalization", []tAttr{aFloat("epsilon", 1e-3), aFloat("momentum", 0.9)},
		fArg(xs, x), cArg([]int{3}, sc), cArg([]int{3}, bb), cArg([]int{3}, mean), cArg([]int{3}, vr))
	check(t, "BatchNormalization", got, err, xs, want, 1e-5)

	gw := make([]float64, 6)
	for i := range x {
		gw[i/35] += float64(x[i]) / 35
	}
	got, err = runOp(9, "GlobalAveragePool", nil, fArg(xs, x))
	check(t, "GlobalAveragePool", got, err, []int{2, 3, 1, 1}, gw, 1e-5)

	for _, c := range []struct {
		op               string
		opset            int64
		k, s, pads       []int
		ceil, includePad int64
	}{
		{"AveragePool", 9, []int{3, 2}, []int{3, 2}, []int{0, 0, 0, 0}, 0, 0},
		{"AveragePool", 9, []int{3, 3}, []int{2, 2}, []int{1, 1, 1, 1}, 0, 0},
		{"AveragePool", 9, []int{3, 3}, []int{2, 2}, []int{1, 1, 1, 1}, 0, 1},
		{"AveragePool", 10, []int{2, 2}, []int{2, 2}, []int{0, 0, 0, 0}, 1, 0},
		{"MaxPool", 9, []int{2, 2}, []int{2, 2}, []int{0, 0, 0, 0}, 0, 0},
		{"MaxPool", 10, []int{3, 3}, []int{2, 2}, []int{1, 1, 1, 1}, 1, 0},
		{"MaxPool", 10, []int{2, 2}, []int{2, 2}, []int{1, 1, 1, 1}, 1, 0}, // a last window starting in the pad is dropped
		{"AveragePool", 10, []int{2, 2}, []int{2, 2}, []int{1, 1, 1, 1}, 1, 1},
	} {
		attrs := []tAttr{aInts("kernel_shape", int64(c.k[0]), int64(c.k[1])), aInts("strides", int64(c.s[0]), int64(c.s[1])),
			aInts("pads", int64(c.pads[0]), int64(c.pads[1]), int64(c.pads[2]), int64(c.pads[3]))}
		if c.ceil != 0 {
			attrs = append(attrs, aInt("ceil_mode", 1))
		}
		if c.op == "AveragePool" {
			attrs = append(attrs, aInt("count_include_pad", c.includePad))
		}
		osz := func(in, k, s, p0, p1 int) int {
			o := (in+p0+p1-k)/s + 1
			if c.ceil != 0 {
				o = int(math.Ceil(float64(in+p0+p1-k)/float64(s))) + 1
				if (o-1)*s >= in+p0 {
					o--
				}
			}
			return o
		}
		oh, ow := osz(xs[2], c.k[0], c.s[0], c.pads[0], c.pads[2]), osz(xs[3], c.k[1], c.s[1], c.pads[1], c.pads[3])
		want := make([]float64, 0, 6*oh*ow)
		for nc := 0; nc < 6; nc++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					s, cnt, cntPad := 0.0, 0, 0
					if c.op == "MaxPool" {
						s = math.Inf(-1)
					}
					for ky := 0; ky < c.k[0]; ky++ {
						for kx := 0; kx < c.k[1]; kx++ {
							iy, ix := oy*c.s[0]-c.pads[0]+ky, ox*c.s[1]-c.pads[1]+kx
							if iy < xs[2]+c.pads[2] && ix < xs[3]+c.pads[3] {
								cntPad++
							}
							if iy < 0 || ix < 0 || iy >= xs[2] || ix >= xs[3] {
								continue
							}
							v := float64(x[nc*35+iy*7+ix])
							cnt++
							if c.op == "MaxPool" {
								s = math.Max(s, v)
							} else {
								s += v
							}
						}
					}
					if c.op == "AveragePool" {
						if c.includePad != 0 {
							s /= float64(cntPad)
						} else {
							s /= float64(cnt)
						}
					}
					want = append(want, s)
				}
			}
		}
		got, err := runOp(c.opset, c.op, attrs, fArg(xs, x))
		check(t, fmt.Sprintf("%s %+v", c.op, c), got, err, []int{2, 3, oh, ow}, want, 1e-5)
	}
}

func TestReduceSoftmaxTranspose(t *testing.T) {
	xs := []int{2, 3, 4}
	x := randT(xs...)
	for _, c := range []struct {
		axes []int64
		keep int64
		os   []int
	}{{[]int64{-1}, 1, []int{2, 3, 1}}, {[]int64{0, 2}, 0, []int{3}}, {nil, 1, []int{1, 1, 1}}, {[]int64{1}, 0, []int{2, 4}}} {
		red := make([]bool, 3)
		for _, a := range c.axes {
			red[(int(a)+3)%3] = true
		}
		if c.axes == nil {
			red = []bool{true, true, true}
		}
		ks := slices.Clone(xs)
		for i := range ks {
			if red[i] {
				ks[i] = 1
			}
		}
		want := make([]float64, numel(ks))
		cnt := float64(len(x) / len(want))
		for i, v := range x {
			idx := unravel(i, xs)
			want[bcastIndex(idx, ks)] += float64(v) / cnt
		}
		attrs := []tAttr{aInt("keepdims", c.keep)}
		if c.axes != nil {
			attrs = append(attrs, aInts("axes", c.axes...))
		}
		got, err := runOp(9, "ReduceMean", attrs, fArg(xs, x))
		check(t, fmt.Sprintf("ReduceMean %v keep %d", c.axes, c.keep), got, err, c.os, want, 1e-5)
	}
	// Softmax: before opset 13 the input is flattened to 2-D at axis; from 13 it is one axis.
	for _, c := range []struct {
		opset int64
		axis  int64
	}{{9, 1}, {9, 2}, {9, -1}, {13, 1}, {13, -1}, {13, 0}} {
		ax := (int(c.axis) + 3) % 3
		want := make([]float64, len(x))
		st := strides(xs)
		for i := range x {
			idx := unravel(i, xs)
			m := math.Inf(-1)
			var group []int
			for j := range x {
				jdx := unravel(j, xs)
				same := true
				for d := range xs {
					if c.opset < 13 && d < ax && jdx[d] != idx[d] || c.opset >= 13 && d != ax && jdx[d] != idx[d] {
						same = false
					}
				}
				if same {
					group = append(group, j)
					m = math.Max(m, float64(x[j]))
				}
			}
			s := 0.0
			for _, j := range group {
				s += math.Exp(float64(x[j]) - m)
			}
			want[i] = math.Exp(float64(x[i])-m) / s
		}
		_ = st
		got, err := runOp(c.opset, "Softmax", []tAttr{aInt("axis", c.axis)}, fArg(xs, x))
		check(t, fmt.Sprintf("Softmax opset %d axis %d", c.opset, c.axis), got, err, xs, want, 1e-6)
	}
	// Transpose
	ts := []int{2, 3, 4, 5}
	tx := randT(ts...)
	for _, perm := range [][]int64{{0, 2, 1, 3}, {2, 0, 3, 1}, {3, 2, 1, 0}, nil} {
		p := []int{3, 2, 1, 0}
		if perm != nil {
			p = []int{int(perm[0]), int(perm[1]), int(perm[2]), int(perm[3])}
		}
		os := []int{ts[p[0]], ts[p[1]], ts[p[2]], ts[p[3]]}
		want := make([]float64, len(tx))
		for i := range want {
			oi := unravel(i, os)
			ii := make([]int, 4)
			for d := range p {
				ii[p[d]] = oi[d]
			}
			want[i] = float64(tx[bcastIndex(ii, ts)])
		}
		var attrs []tAttr
		if perm != nil {
			attrs = []tAttr{aInts("perm", perm...)}
		}
		got, err := runOp(9, "Transpose", attrs, fArg(ts, tx))
		check(t, fmt.Sprintf("Transpose %v", perm), got, err, os, want, 0)
	}
}

func f64(f []float32) []float64 {
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out
}

func TestShapeOps(t *testing.T) {
	xs := []int{2, 3, 4}
	x := randT(xs...)
	// Slice, opset 9 (attributes) with a negative axis and start, and opset 13 (inputs) with steps
	{
		want := []float64{}
		for i := 0; i < 2; i++ {
			for j := 0; j < 3; j++ {
				for k := 1; k < 3; k++ {
					want = append(want, float64(x[(i*3+j)*4+k]))
				}
			}
		}
		got, err := runOp(9, "Slice", []tAttr{aInts("starts", -3), aInts("ends", 3), aInts("axes", -1)}, fArg(xs, x))
		check(t, "Slice opset 9", got, err, []int{2, 3, 2}, want, 0)
		want = want[:0]
		for i := 0; i < 2; i++ {
			for j := 2; j >= 0; j -= 2 {
				for k := 0; k < 4; k++ {
					want = append(want, float64(x[(i*3+j)*4+k]))
				}
			}
		}
		got, err = runOp(13, "Slice", nil, fArg(xs, x), iArg(-1), iArg(-100), iArg(1), iArg(-2))
		check(t, "Slice opset 13 step -2", got, err, []int{2, 2, 4}, want, 0)
		got, err = runOp(13, "Slice", nil, fArg(xs, x), iArg(0, 1), iArg(1<<40, 2), arg{omit: true}, iArg(1, 2))
		want = want[:0]
		for i := 0; i < 2; i++ { // axes default to 0, 1: rows 0..1, then column 1 only (step 2)
			want = append(want, f64(x[(i*3+1)*4:(i*3+2)*4])...)
		}
		check(t, "Slice opset 13 steps without axes", got, err, []int{2, 1, 4}, want, 0)
	}
	// Concat on a negative axis
	{
		y := randT(2, 3, 2)
		want := []float64{}
		for i := 0; i < 6; i++ {
			want = append(want, f64(x[i*4:(i+1)*4])...)
			want = append(want, f64(y[i*2:(i+1)*2])...)
		}
		got, err := runOp(11, "Concat", []tAttr{aInt("axis", -1)}, fArg(xs, x), fArg([]int{2, 3, 2}, y))
		check(t, "Concat axis -1", got, err, []int{2, 3, 6}, want, 0)
	}
	// Reshape (0 copies, -1 infers), Flatten, Squeeze, Unsqueeze: data unchanged
	for _, c := range []struct {
		op    string
		opset int64
		attrs []tAttr
		args  []arg
		os    []int
	}{
		{"Reshape", 9, nil, []arg{iArg(0, -1)}, []int{2, 12}},
		{"Reshape", 9, nil, []arg{iArg(4, 0, 2)}, []int{4, 3, 2}},
		{"Flatten", 9, nil, nil, []int{2, 12}},
		{"Flatten", 11, []tAttr{aInt("axis", -1)}, nil, []int{6, 4}},
		{"Unsqueeze", 9, []tAttr{aInts("axes", 0, 4)}, nil, []int{1, 2, 3, 4, 1}},
		{"Unsqueeze", 13, nil, []arg{iArg(-1)}, []int{2, 3, 4, 1}},
	} {
		got, err := runOp(c.opset, c.op, c.attrs, append([]arg{fArg(xs, x)}, c.args...)...)
		check(t, fmt.Sprintf("%s opset %d", c.op, c.opset), got, err, c.os, f64(x), 0)
	}
	sq := randT(1, 3, 1, 2)
	got, err := runOp(9, "Squeeze", []tAttr{aInts("axes", -2)}, fArg([]int{1, 3, 1, 2}, sq))
	check(t, "Squeeze axes -2", got, err, []int{1, 3, 2}, f64(sq), 0)
	got, err = runOp(13, "Squeeze", nil, fArg([]int{1, 3, 1, 2}, sq))
	check(t, "Squeeze all", got, err, []int{3, 2}, f64(sq), 0)
	if _, err := runOp(9, "Squeeze", []tAttr{aInts("axes", 1)}, fArg([]int{1, 3, 1, 2}, sq)); err == nil {
		t.Error("Squeeze of a dimension 3 accepted")
	}
	// Gather on axis 1 with a negative index
	{
		want := []float64{}
		for i := 0; i < 2; i++ {
			for _, j := range []int{2, 0} {
				want = append(want, f64(x[(i*3+j)*4:(i*3+j+1)*4])...)
			}
		}
		got, err := runOp(11, "Gather", []tAttr{aInt("axis", 1)}, fArg(xs, x), iArg(-1, 0))
		check(t, "Gather", got, err, []int{2, 2, 4}, want, 0)
	}
	// Shape and Cast: int64 values come out as float32
	got, err = runOp(9, "Shape", nil, fArg(xs, x))
	check(t, "Shape", got, err, []int{3}, []float64{2, 3, 4}, 0)
	cx := []float32{-2.7, -0.5, 0.5, 3.9}
	got, err = runOp(9, "Cast", []tAttr{aInt("to", dtInt64)}, fArg([]int{4}, cx))
	check(t, "Cast float→int64", got, err, []int{4}, []float64{-2, 0, 0, 3}, 0)
	got, err = runOp(9, "Cast", []tAttr{aInt("to", dtInt32)}, iArg(1<<33+5, -7))
	check(t, "Cast int64→int32", got, err, []int{2}, []float64{5, -7}, 0)
}

func TestParseErrors(t *testing.T) {
	x := fArg([]int{2}, []float32{1, 2})
	for _, c := range []struct {
		opset int64
		op    string
		attrs []tAttr
		want  string
	}{
		{9, "LSTM", nil, "op LSTM is not supported"},
		{10, "Resize", nil, "Resize before opset 11"},
		{9, "Relu", []tAttr{aInt("bogus", 1)}, "bogus"},
		{9, "Softmax", []tAttr{aFloat("axis", 1)}, "attribute \"axis\" has type"},
		{9, "Cast", []tAttr{aInt("to", 11)}, "Cast to double"},
		{99, "Relu", nil, "opset 99"},
		{9, "Conv", []tAttr{aStr("auto_pad", "SAME")}, "auto_pad"},
	} {
		args := []arg{x}
		if c.op == "Conv" {
			args = append(args, cArg([]int{1, 1, 1, 1}, []float32{1}))
		}
		_, err := Parse(buildOp(c.opset, c.op, c.attrs, args))
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.opset < 99 && !strings.Contains(err.Error(), "n0")) {
			t.Errorf("%s %v: error %v, expected one naming node n0 and containing %q", c.op, c.attrs, err, c.want)
		}
	}
	// a node reading a value nobody produces
	m := &tModel{opset: 9, inputs: []string{"x"}, outputs: []string{"y"},
		nodes: []tNode{{op: "Add", name: "a", in: []string{"x", "nowhere"}, out: []string{"y"}}}}
	if _, err := Parse(m.encode()); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("dangling input: %v", err)
	}
	// Run refuses missing and mis-shaped inputs
	mod, err := Parse(buildOp(9, "Relu", nil, []arg{x}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mod.Run(map[string]Tensor{}); err == nil {
		t.Error("Run without inputs accepted")
	}
	if _, err := mod.Run(map[string]Tensor{"in0": {Shape: []int{3}, Data: []float32{1}}}); err == nil {
		t.Error("Run with 1 value for shape [3] accepted")
	}
}

package onnx

import (
	"math"
	"strings"
	"testing"
)

// ppocrChain is the elementwise tail PP-OCR puts after each convolution, plus a branch that
// reads an intermediate value (so the chain must stop before it) and a scalar-rank tail (the
// fused program falls back to the nodes for a rank-0 input and rank-1 constants).
func ppocrChain() *tModel {
	sc := func(v float32) *tTensor { return &tTensor{dims: []int{1}, f: []float32{v}} }
	sc0 := func(v float32) *tTensor { return &tTensor{dims: []int{}, f: []float32{v}} }
	k := func(name string, t *tTensor) tNode {
		return tNode{op: "Constant", name: "k" + name, out: []string{name}, attrs: []tAttr{aTensor("value", t)}}
	}
	return &tModel{opset: 9, inputs: []string{"x"}, outputs: []string{"y", "z", "s"}, nodes: []tNode{
		k("a", sc(1.3841065)), k("b", sc(0.58607715)), k("three", sc0(3)), k("six", sc0(6)), k("c", sc(0.1675188)), k("d", sc(3.47e-05)),
		{op: "Mul", name: "m1", in: []string{"a", "x"}, out: []string{"t1"}},
		{op: "Add", name: "a1", in: []string{"t1", "b"}, out: []string{"t2"}},
		{op: "Add", name: "a2", in: []string{"t2", "three"}, out: []string{"t3"}},
		{op: "Clip", name: "c1", in: []string{"t3"}, out: []string{"t4"}, attrs: []tAttr{aFloat("min", 0), aFloat("max", 6)}},
		{op: "Mul", name: "m2", in: []string{"t2", "t4"}, out: []string{"t5"}},
		{op: "Div", name: "d1", in: []string{"t5", "six"}, out: []string{"t6"}},
		{op: "Mul", name: "m3", in: []string{"c", "t6"}, out: []string{"t7"}},
		{op: "Sub", name: "s1", in: []string{"t7", "d"}, out: []string{"t8"}},
		{op: "Sigmoid", name: "sg", in: []string{"t8"}, out: []string{"t9"}},
		{op: "Mul", name: "m4", in: []string{"t9", "t8"}, out: []string{"y"}},
		{op: "Relu", name: "r1", in: []string{"t8"}, out: []string{"z"}}, // reads t8 outside the chain
		{op: "ReduceMean", name: "rm", in: []string{"x"}, out: []string{"mean"}, attrs: []tAttr{aInt("keepdims", 0)}},
		{op: "Mul", name: "m5", in: []string{"mean", "a"}, out: []string{"u1"}},
		{op: "Add", name: "a5", in: []string{"u1", "b"}, out: []string{"s"}},
	}}
}

func TestFusedChainSameBitsAsNodes(t *testing.T) {
	b := ppocrChain().encode()
	fused, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	noFuse = true
	plain, err := Parse(b)
	noFuse = false
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range fused.nodes {
		ops = append(ops, n.op)
	}
	if got := strings.Join(ops, " "); !strings.Contains(got, "Fused(Mul,Add,Add,Clip,Mul,Div,Mul,Sub)") ||
		!strings.Contains(got, "Fused(Sigmoid,Mul)") || !strings.Contains(got, "Relu") {
		t.Fatalf("fused nodes: %s", got)
	}
	shape := []int{2, 3, 37, 29} // not a multiple of the block size
	x := randT(shape...)
	for i := range x {
		x[i] *= 4
	}
	in := map[string]Tensor{"x": {Shape: shape, Data: x}}
	of, err := fused.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	op, err := plain.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"y", "z", "s"} {
		a, b := of[name], op[name]
		if len(a.Data) != len(b.Data) || len(a.Shape) != len(b.Shape) {
			t.Fatalf("%s: shapes %v and %v", name, a.Shape, b.Shape)
		}
		for i := range a.Data {
			if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
				t.Fatalf("%s[%d]: fused %v, nodes %v", name, i, a.Data[i], b.Data[i])
			}
		}
	}
	// and both against float64
	hs := func(v float64) float64 { return v * math.Min(math.Max(v+3, 0), 6) / 6 }
	for i, v := range x {
		t8 := 0.1675188*hs(1.3841065*float64(v)+0.58607715) - 3.47e-05
		y := t8 / (1 + math.Exp(-t8)) // t8·sigmoid(t8)
		if d := math.Abs(float64(of["y"].Data[i]) - y); d > 1e-5*(1+math.Abs(y)) {
			t.Fatalf("y[%d] = %v, expected %v", i, of["y"].Data[i], y)
		}
		if z := math.Max(t8, 0); math.Abs(float64(of["z"].Data[i])-z) > 1e-5*(1+z) {
			t.Fatalf("z[%d] = %v, expected %v", i, of["z"].Data[i], z)
		}
	}
	if s := of["s"]; len(s.Shape) != 1 || s.Shape[0] != 1 {
		t.Fatalf("s has shape %v, expected [1] (a rank-0 mean times rank-1 constants)", s.Shape)
	}
}

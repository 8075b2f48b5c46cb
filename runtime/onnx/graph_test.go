package onnx

import (
	"fmt"
	"math"
	"sync"
	"testing"
)

// graphModel chains the patterns PP-OCR's exporter writes: Conv → BatchNormalization →
// HardSigmoid·x (hard swish) → a Reshape whose shape is computed from Shape/Cast/Slice/Concat
// → Transpose → MatMul → Softmax, opset 9, weights as Constant nodes and initializers.
func graphModel(w, b, sc, bb, mean, vr, fc []float32, c, m, k int) *tModel {
	ft := func(name string, dims []int, f []float32) *tTensor {
		return &tTensor{name: name, dims: dims, f: f, raw: true}
	}
	return &tModel{
		opset:   9,
		inputs:  []string{"x"},
		outputs: []string{"prob"},
		inits:   []*tTensor{ft("w", []int{m, c, 3, 3}, w), ft("b", []int{m}, b), {name: "fc", dims: []int{m, k}, f: fc}},
		nodes: []tNode{
			{op: "Conv", name: "conv", in: []string{"x", "w", "b"}, out: []string{"c1"}, attrs: []tAttr{
				aInts("kernel_shape", 3, 3), aInts("strides", 2, 1), aInts("pads", 1, 1, 1, 1), aInts("dilations", 1, 1), aInt("group", 1)}},
			{op: "Constant", name: "k_sc", out: []string{"sc"}, attrs: []tAttr{aTensor("value", ft("", []int{m}, sc))}},
			{op: "Constant", name: "k_bb", out: []string{"bb"}, attrs: []tAttr{aTensor("value", &tTensor{dims: []int{m}, f: bb})}},
			{op: "Constant", name: "k_mean", out: []string{"mean"}, attrs: []tAttr{aTensor("value", ft("", []int{m}, mean))}},
			{op: "Constant", name: "k_var", out: []string{"var"}, attrs: []tAttr{aTensor("value", ft("", []int{m}, vr))}},
			{op: "BatchNormalization", name: "bn", in: []string{"c1", "sc", "bb", "mean", "var"}, out: []string{"n1"},
				attrs: []tAttr{aFloat("epsilon", 1e-5), aFloat("momentum", 0.9)}},
			{op: "HardSigmoid", name: "hs", in: []string{"n1"}, out: []string{"h1"}, attrs: []tAttr{aFloat("alpha", 1.0/6), aFloat("beta", 0.5)}},
			{op: "Mul", name: "swish", in: []string{"n1", "h1"}, out: []string{"a1"}},
			{op: "Shape", name: "shape", in: []string{"a1"}, out: []string{"s1"}},
			{op: "Cast", name: "cast32", in: []string{"s1"}, out: []string{"s2"}, attrs: []tAttr{aInt("to", dtInt32)}},
			{op: "Slice", name: "slice", in: []string{"s2"}, out: []string{"s3"}, attrs: []tAttr{aInts("axes", 0), aInts("starts", 0), aInts("ends", 2)}},
			{op: "Cast", name: "cast64", in: []string{"s3"}, out: []string{"s4"}, attrs: []tAttr{aInt("to", dtInt64)}},
			{op: "Constant", name: "k_m1", out: []string{"m1"}, attrs: []tAttr{aTensor("value", &tTensor{dims: []int{1}, i: []int64{-1}, raw: true})}},
			{op: "Concat", name: "concat", in: []string{"s4", "m1"}, out: []string{"s5"}, attrs: []tAttr{aInt("axis", 0)}},
			{op: "Reshape", name: "reshape", in: []string{"a1", "s5"}, out: []string{"r1"}},
			{op: "Transpose", name: "tr", in: []string{"r1"}, out: []string{"t1"}, attrs: []tAttr{aInts("perm", 0, 2, 1)}},
			{op: "MatMul", name: "fc", in: []string{"t1", "fc"}, out: []string{"l1"}},
			{op: "Softmax", name: "sm", in: []string{"l1"}, out: []string{"prob"}, attrs: []tAttr{aInt("axis", 2)}},
		},
	}
}

func TestGraph(t *testing.T) {
	c, m, k := 3, 8, 5
	w, b, sc, bb, mean, vr, fc := randT(m, c, 3, 3), randT(m), randT(m), randT(m), randT(m), randT(m), randT(m, k)
	for i := range vr {
		vr[i] = float32(math.Abs(float64(vr[i]))) + 0.5
	}
	mod, err := Parse(graphModel(w, b, sc, bb, mean, vr, fc, c, m, k).encode())
	if err != nil {
		t.Fatal(err)
	}
	if in, out := mod.Inputs(), mod.Outputs(); len(in) != 1 || in[0] != "x" || len(out) != 1 || out[0] != "prob" {
		t.Fatalf("inputs %v outputs %v", in, out)
	}
	ref := func(x []float32, n, h, wd int) ([]float64, []int) {
		conv, cs := refConv(x, []int{n, c, h, wd}, w, []int{m, c, 3, 3}, b, 1, []int{2, 1}, []int{1, 1, 1, 1}, []int{1, 1})
		hw := cs[2] * cs[3]
		out := make([]float64, 0, n*hw*k)
		for bi := 0; bi < n; bi++ {
			for p := 0; p < hw; p++ {
				feat := make([]float64, m)
				for ch := 0; ch < m; ch++ {
					v := conv[(bi*m+ch)*hw+p]
					v = (v-float64(mean[ch]))/math.Sqrt(float64(vr[ch])+1e-5)*float64(sc[ch]) + float64(bb[ch])
					feat[ch] = v * math.Max(0, math.Min(1, v/6+0.5))
				}
				logits := make([]float64, k)
				mx := math.Inf(-1)
				for j := range logits {
					for ch := 0; ch < m; ch++ {
						logits[j] += feat[ch] * float64(fc[ch*k+j])
					}
					mx = math.Max(mx, logits[j])
				}
				s := 0.0
				for j := range logits {
					logits[j] = math.Exp(logits[j] - mx)
					s += logits[j]
				}
				for j := range logits {
					out = append(out, logits[j]/s)
				}
			}
		}
		return out, []int{n, hw, k}
	}
	// dynamic shapes: the same model on different batch sizes and picture sizes, from several
	// goroutines at once
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for _, sz := range [][3]int{{1, 6, 10}, {2, 5, 7}, {3, 8, 4}, {1, 1, 1}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 3; rep++ {
				x := make([]float32, sz[0]*c*sz[1]*sz[2])
				for i := range x {
					x[i] = float32(math.Sin(float64(i*7+rep))) * 2
				}
				want, ws := ref(x, sz[0], sz[1], sz[2])
				out, err := mod.Run(map[string]Tensor{"x": {Shape: []int{sz[0], c, sz[1], sz[2]}, Data: x}})
				if err != nil {
					errs <- fmt.Errorf("%v: %v", sz, err)
					return
				}
				got := out["prob"]
				if fmt.Sprint(got.Shape) != fmt.Sprint(ws) {
					errs <- fmt.Errorf("%v: shape %v, expected %v", sz, got.Shape, ws)
					return
				}
				for i, v := range want {
					if math.Abs(float64(got.Data[i])-v) > 1e-5 {
						errs <- fmt.Errorf("%v: element %d = %v, expected %v", sz, i, got.Data[i], v)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// FuzzParse: any bytes give a model or an error, never a panic or an allocation beyond what
// the input's size allows. Seeds are valid models, which the fuzzer mutates.
func FuzzParse(f *testing.F) {
	c, m, k := 2, 3, 2
	f.Add(graphModel(randT(m, c, 3, 3), randT(m), randT(m), randT(m), randT(m), randT(m), randT(m, k), c, m, k).encode())
	f.Add(buildOp(13, "Slice", nil, []arg{fArg([]int{2, 3}, randT(2, 3)), iArg(0), iArg(1), iArg(1), iArg(1)}))
	f.Add(buildOp(9, "Conv", []tAttr{aInts("pads", 1, 1, 1, 1)}, []arg{fArg([]int{1, 1, 3, 3}, randT(9)), cArg([]int{1, 1, 3, 3}, randT(9))}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		mod, err := Parse(b)
		if err == nil && (len(mod.Outputs()) == 0 || mod.nslots < len(mod.outputs)) {
			t.Fatalf("Parse accepted a model without outputs")
		}
		// (Run is not fuzzed: chained broadcasts of small constants can legitimately ask for
		// gigabytes; its panics are turned into errors naming the node.)
	})
}

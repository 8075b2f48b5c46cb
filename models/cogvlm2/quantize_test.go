package cogvlm2

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// calibText are "Question: ... Answer: ..." id lists (real Llama-3 ids).
var calibText = [][]int32{
	{14924, 25, 3639, 374, 304, 4156, 315, 757, 30, 22559, 25, 362, 2007, 449, 264, 10747},
	{14924, 25, 3639, 1587, 279, 1879, 2019, 30, 22559, 25, 1102, 2795, 330, 48, 1669},
	{14924, 25, 2650, 1690, 1274, 527, 1070, 30, 22559, 25, 14853},
	{14924, 25, 3639, 1933, 374, 279, 1841, 30, 22559, 25, 1102, 374, 2579},
}

// calibSamples pairs random images with the fixed questions, then (beyond them) with random
// "Question: ... Answer: ..." texts of ordinary-vocabulary ids, so the language expert sees
// varied tokens.
func calibSamples(c *Config, seed uint64, n int) []CalibSample {
	r := rand.New(rand.NewPCG(seed, 99))
	var out []CalibSample
	for i := 0; i < n; i++ {
		txt := calibText[i%len(calibText)]
		if i >= len(calibText) {
			txt = []int32{14924, 25}
			for j := 0; j < 6+r.IntN(10); j++ {
				txt = append(txt, int32(300+r.IntN(60000)))
			}
			txt = append(txt, 22559, 25)
			for j := 0; j < 2+r.IntN(6); j++ {
				txt = append(txt, int32(300+r.IntN(60000)))
			}
		}
		out = append(out, CalibSample{Image: randImage(c, seed+uint64(i)), Text: txt})
	}
	return out
}

// klTop1 compares every text position's next-token distribution of two runs.
func klTop1(ref, got []float32, V int, rows []int) (kl, top1 float64) {
	for _, r := range rows {
		p, q := ref[r*V:(r+1)*V], got[r*V:(r+1)*V]
		lp, lq := logSoftmax(p), logSoftmax(q)
		k := 0.0
		for i := range lp {
			k += math.Exp(lp[i]) * (lp[i] - lq[i])
		}
		kl += k
		if argmax(p) == argmax(q) {
			top1++
		}
	}
	return kl / float64(len(rows)), top1 / float64(len(rows))
}

func logSoftmax(x []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v))
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	ls := math.Log(s) + mx
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - ls
	}
	return out
}

func argmax(x []float32) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}

type evalPrompt struct {
	img  []float32
	text []int32
}

// evalText are other questions than the calibration's, for the KL measurement.
var evalText = [][]int32{
	{14924, 25, 2209, 374, 420, 1732, 30, 22559, 25, 1115, 374, 856, 4333},
	{14924, 25, 3639, 374, 5439, 389, 279, 6246, 30, 22559, 25, 48055},
	{14924, 25, 2650, 3117, 374, 279, 6134, 30, 22559, 25, 13384, 7504},
	{14924, 25, 11742, 374, 279, 3070, 30, 22559, 25, 578, 3070, 374, 4384},
}

func evalSet(c *Config) []evalPrompt {
	var out []evalPrompt
	for i, txt := range evalText {
		out = append(out, evalPrompt{randImage(c, 1000+uint64(i)), txt})
	}
	return out
}

// evalLogits runs the fixed prompts and returns their logits and the text rows to score.
func evalLogits(t *testing.T, m *Model, set []evalPrompt) ([][]float32, [][]int) {
	var logits [][]float32
	var rows [][]int
	for _, e := range set {
		l, tt := run(t, m, e.img, e.text)
		logits = append(logits, l)
		var r []int
		for i, ty := range tt {
			if i > 0 && ty == LanguageTokenType { // eoi's row onward: predictions of text
				r = append(r, i-1)
			}
		}
		rows = append(rows, r)
	}
	return logits, rows
}

// The tiny model at 4 bits (LM) + 8 bits (vision), RPIQ vs GPTQ vs RTN against FP32: mean KL
// divergence and top-1 agreement over the text positions of fixed image + question prompts
// (other images and questions than the calibration's). The
// quantized checkpoint written by WriteQuantized loads back to the same logits and answers.
func TestQuantizeTinyRPIQvsGPTQvsRTN(t *testing.T) {
	dir, cfg, _ := writeTiny(t, 2, 41)
	set := evalSet(cfg)
	fp := loadTiny(t, dir, 2)
	ref, rows := evalLogits(t, fp, set)
	V := cfg.LM.VocabSize
	st1 := quant.DefaultConfig()
	st1.GroupSize = 32
	s2 := quant.Stage2Config{Reading: quant.DefaultReading()}
	results := map[string][2]float64{}
	for _, method := range []string{quant.MethodRTN, quant.MethodGPTQ, quant.MethodRPIQ} {
		m := loadTiny(t, dir, 2)
		o := QuantOptions{Method: method, Bits: 4, VisionBits: 8, AdapterBits: 16, HeadBits: 16, Stage1: st1, Stage2: s2, InPlace: true}
		res, err := Quantize(m, calibSamples(cfg, 500, 32), o)
		if err != nil {
			t.Fatal(err)
		}
		// 2 layers × 2 experts × 5 modules + 2 ViT layers × 4 + conv.
		if want := cfg.LM.NumLayers*10 + cfg.Vision.NumLayers*4 + 1; len(res.Modules) != want {
			t.Fatalf("%s: %d modules quantized, want %d", method, len(res.Modules), want)
		}
		for _, qm := range res.Modules {
			want := 4
			if qm.Part == PartVision {
				want = 8
			}
			if qm.Q.Grid.Bits != want || qm.Tokens == 0 {
				t.Fatalf("%s: %s at %d bits from %d tokens", method, qm.Name, qm.Q.Grid.Bits, qm.Tokens)
			}
		}
		got, _ := evalLogits(t, m, set)
		var kl, top1 float64
		for i := range set {
			k, a := klTop1(ref[i], got[i], V, rows[i])
			kl += k / float64(len(set))
			top1 += a / float64(len(set))
		}
		results[method] = [2]float64{kl, top1}
		t.Logf("%-4s 4-bit LM + 8-bit vision: mean KL %.5f, top-1 agreement %.3f (%d prompts, %.1f s)", method, kl, top1, len(set), res.Seconds)
		if method == quant.MethodRPIQ {
			out := filepath.Join(t.TempDir(), "q")
			if err := WriteQuantized(dir, out, res, QuantSettings{Samples: 8}); err != nil {
				t.Fatal(err)
			}
			// Dequantized to float32, the checkpoint is the quantized model.
			t.Setenv("RPIQ_GPTQ", "dequant")
			back, closer, err := Load(out, cpubackend.New(2))
			if err != nil {
				t.Fatal(err)
			}
			again, _ := evalLogits(t, back, set)
			closer()
			for i := range again {
				if d := maxDiff(again[i], got[i]); d > 1e-3 {
					t.Fatalf("the written checkpoint's logits differ from the quantized model's by %g", d)
				}
			}
			if back.WeightBytes() >= fp.WeightBytes() {
				t.Fatalf("quantized checkpoint binds %d bytes, FP32 %d", back.WeightBytes(), fp.WeightBytes())
			}
			// In the CPU backend's quantized layout (kernels/cpu/q: activations quantized to 8
			// bits on the fly) it stays close to the quantized model.
			t.Setenv("RPIQ_GPTQ", "")
			qb, closer, err := Load(out, cpubackend.New(2))
			if err != nil {
				t.Fatal(err)
			}
			defer closer()
			if _, ok := qb.layers[0].vis.q.W.(*cpubackend.GPTQ); !ok {
				t.Fatalf("vision expert q is %T, want the repacked GPTQ weight", qb.layers[0].vis.q.W)
			}
			viaQ, _ := evalLogits(t, qb, set)
			var klq, klfp, top float64
			for i := range set {
				k, a := klTop1(got[i], viaQ[i], V, rows[i])
				klq += k / float64(len(set))
				top += a / float64(len(set))
				k, _ = klTop1(ref[i], viaQ[i], V, rows[i])
				klfp += k / float64(len(set))
			}
			t.Logf("repacked 4/8-bit kernels: KL %.5f and top-1 %.3f to the dequantized model; KL %.5f to FP32", klq, top, klfp)
			if klq > 0.01 || top < 0.8 {
				t.Fatalf("repacked kernels drift from the dequantized model: KL %.5f top-1 %.3f", klq, top)
			}
		}
	}
	if !(results["gptq"][0] < results["rtn"][0]) || !(results["rpiq"][0] <= results["gptq"][0]*1.1) {
		t.Fatalf("KL: rtn %.5f gptq %.5f rpiq %.5f: GPTQ must beat RTN and RPIQ must not be worse than GPTQ", results["rtn"][0], results["gptq"][0], results["rpiq"][0])
	}
}

func TestQuantizeOptionErrors(t *testing.T) {
	dir, cfg, _ := writeTiny(t, 2, 43)
	m := loadTiny(t, dir, 1)
	ok := QuantOptions{Method: "gptq", Bits: 4, VisionBits: 8, AdapterBits: 16, HeadBits: 16, Stage1: quant.DefaultConfig()}
	for name, edit := range map[string]func(o *QuantOptions){
		"method":      func(o *QuantOptions) { o.Method = "awq" },
		"bits":        func(o *QuantOptions) { o.Bits = 5 },
		"vision bits": func(o *QuantOptions) { o.VisionBits = 4 },
	} {
		o := ok
		edit(&o)
		if _, err := Quantize(m, calibSamples(cfg, 1, 1), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Quantize(m, nil, ok); err == nil {
		t.Error("no samples: no error")
	}
	bad := []CalibSample{{Image: make([]float32, 5), Text: calibText[0]}}
	if _, err := Quantize(m, bad, ok); err == nil {
		t.Error("wrong image size: no error")
	}
}

// Without InPlace the model gets its original weights back block by block (no F32 copy of every
// quantized matrix stays alive), and the result is the same as in place.
func TestQuantizeRestoresWeights(t *testing.T) {
	dir, cfg, _ := writeTiny(t, 2, 45)
	set := evalSet(cfg)[:1]
	ref, _ := evalLogits(t, loadTiny(t, dir, 1), set)
	st1 := quant.DefaultConfig()
	st1.GroupSize = 32
	o := QuantOptions{Method: "gptq", Bits: 4, VisionBits: 8, AdapterBits: 16, HeadBits: 16, Stage1: st1}
	m := loadTiny(t, dir, 1)
	a, err := Quantize(m, calibSamples(cfg, 7, 4), o)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := evalLogits(t, m, set)
	if d := maxDiff(got[0], ref[0]); d != 0 {
		t.Fatalf("after Quantize without InPlace the model differs from FP32 by %g", d)
	}
	o.InPlace = true
	b, err := Quantize(loadTiny(t, dir, 1), calibSamples(cfg, 7, 4), o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Modules {
		if a.Modules[i].Name != b.Modules[i].Name || a.Modules[i].Err != b.Modules[i].Err {
			t.Fatalf("module %d: %s err %g vs %s err %g", i, a.Modules[i].Name, a.Modules[i].Err, b.Modules[i].Name, b.Modules[i].Err)
		}
	}
}

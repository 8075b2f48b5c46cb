package hfmodel_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/hfmodel"
	_ "github.com/rpiq/rpiq/models/llama"
	"github.com/rpiq/rpiq/models/llama2c"
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/metrics"
	"github.com/rpiq/rpiq/runtime/model"
)

// quantizedStories260K writes stories260K quantized by RTN (bits, group 32, asymmetric) and
// returns its folder.
func quantizedStories260K(t *testing.T, bits int) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "stories260K")
	if err := llama2c.Convert(shareddata.Path(t, "llama2c/stories260K.bin"), shareddata.Path(t, "llama2c/tok512.bin"), src); err != nil {
		t.Fatal(err)
	}
	be := cpubackend.New(0)
	m, _, closeM, err := hfmodel.Open(src, be)
	if err != nil {
		t.Fatal(err)
	}
	defer closeM()
	rng := rand.New(rand.NewPCG(1, uint64(bits)))
	var ws [][]int32
	for i := 0; i < 3; i++ {
		w := make([]int32, 32)
		for j := range w {
			w[j] = int32(1 + rng.IntN(511))
		}
		ws = append(ws, w)
	}
	opt := quant.Options{Method: quant.MethodRTN,
		Stage1: quant.Config{Grid: quant.Grid{Bits: bits, ScaleFP16: true}, GroupSize: 32, Damp: 0.01}}
	res, err := quant.QuantizeModel(m.(model.Layered), be, ws[:2], ws[2:], opt)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "q")
	if err := quant.WriteModel(src, out, res, quant.Settings{Method: "rtn", Bits: bits, GroupSize: 32, Damp: 0.01}); err != nil {
		t.Fatal(err)
	}
	return out
}

// open loads dir with the quantized kernels (dequant=false) or the float32 dequantization, the
// tied LM head kept as stored either way (TestQuantizedHead measures quantizing it).
func open(t *testing.T, dir string, dequant bool) model.Model {
	t.Helper()
	t.Setenv("RPIQ_LM_HEAD", "keep")
	if dequant {
		t.Setenv("RPIQ_GPTQ", "dequant")
	} else {
		t.Setenv("RPIQ_GPTQ", "")
	}
	m, _, closeM, err := hfmodel.Open(dir, cpubackend.New(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeM() })
	return m
}

func greedy(t *testing.T, m model.Model, prompt []int32, n int) []int32 {
	t.Helper()
	c := m.NewCache(len(prompt) + n)
	logits, err := m.Forward(c, prompt, false)
	if err != nil {
		t.Fatal(err)
	}
	var out []int32
	for len(out) < n {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		out = append(out, int32(best))
		if logits, err = m.Forward(c, []int32{int32(best)}, false); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Issue 4: at 8 bits the quantized kernels (8-bit activations) generate the same greedy text as
// the checkpoint's float32 dequantization, and at 4 bits the mean KL divergence between the two
// stays under 1e-3. Decode runs MatVec, the batched prompt MatMul's token tiles.
func TestGPTQKernelsMatchDequantizedModel(t *testing.T) {
	prompt := []int32{1, 403, 407, 261, 378, 376, 261, 429, 270, 261, 400} // "Once upon a time, there was a"
	for _, bits := range []int{8, 4} {
		dir := quantizedStories260K(t, bits)
		fast, ref := open(t, dir, false), open(t, dir, true)
		if bits == 8 {
			a, b := greedy(t, fast, prompt, 48), greedy(t, ref, prompt, 48)
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("8-bit greedy text differs at token %d: kernels %v, dequantized %v", i, a, b)
				}
			}
		}
		window := testWindow(t, ref, prompt)
		kl, identical := meanKL(t, ref, fast, window)
		t.Logf("%d-bit: mean KL(dequantized ‖ kernels) = %.3g over %d positions", bits, kl, len(window))
		if identical {
			t.Fatalf("%d-bit: logits bit-identical: the quantized kernels were not used", bits)
		}
		if !(kl < 1e-3) {
			t.Fatalf("%d-bit: mean KL %.3g, want < 1e-3", bits, kl)
		}
	}
}

// testWindow is 128 tokens: the prompt, 40 greedy tokens of m, then random ids.
func testWindow(t *testing.T, m model.Model, prompt []int32) []int32 {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	window := make([]int32, 128)
	copy(window, prompt)
	copy(window[len(prompt):], greedy(t, m, prompt, 40))
	for i := len(prompt) + 40; i < len(window); i++ {
		window[i] = int32(1 + rng.IntN(511))
	}
	return window
}

// meanKL is the mean over window of KL(ref ‖ m) of the next-token distributions, and whether the
// logits were bit-identical.
func meanKL(t *testing.T, ref, m model.Model, window []int32) (float64, bool) {
	t.Helper()
	lf, err := model.Logits(m, window)
	if err != nil {
		t.Fatal(err)
	}
	lr, err := model.Logits(ref, window)
	if err != nil {
		t.Fatal(err)
	}
	vocab := len(lf) / len(window)
	p, q := make([]float64, vocab), make([]float64, vocab)
	var kl float64
	identical := true
	for i := range window {
		metrics.LogSoftmax(p, lr[i*vocab:(i+1)*vocab])
		metrics.LogSoftmax(q, lf[i*vocab:(i+1)*vocab])
		for j := range p {
			kl += math.Exp(p[j]) * (p[j] - q[j])
			identical = identical && lf[i*vocab+j] == lr[i*vocab+j]
		}
	}
	return kl / float64(len(window)), identical
}

// The tied LM head of a quantized checkpoint is quantized at load (RPIQ_LM_HEAD, default q8):
// against the same checkpoint with the head as stored, 8-bit per row moves the next-token
// distribution by a mean KL under 1e-3 (the bound the kernels themselves meet above), and the
// head really is replaced (the logits differ).
func TestQuantizedHead(t *testing.T) {
	prompt := []int32{1, 403, 407, 261, 378, 376, 261, 429, 270, 261, 400}
	dir := quantizedStories260K(t, 4)
	keep := open(t, dir, false)
	window := testWindow(t, keep, prompt)
	for _, mode := range []string{"", "q8", "q4"} {
		t.Setenv("RPIQ_LM_HEAD", mode)
		m, _, closeM, err := hfmodel.Open(dir, cpubackend.New(0))
		if err != nil {
			t.Fatal(err)
		}
		kl, identical := meanKL(t, keep, m, window)
		closeM()
		t.Logf("RPIQ_LM_HEAD=%q: mean KL(head as stored ‖ quantized head) = %.3g over %d positions", mode, kl, len(window))
		if identical {
			t.Errorf("RPIQ_LM_HEAD=%q: logits bit-identical to the stored head: not quantized", mode)
		}
		if mode != "q4" && !(kl < 1e-3) {
			t.Errorf("RPIQ_LM_HEAD=%q: mean KL %.3g, want < 1e-3", mode, kl)
		}
	}
	t.Setenv("RPIQ_LM_HEAD", "q3")
	if _, _, _, err := hfmodel.Open(dir, cpubackend.New(0)); err == nil {
		t.Error("RPIQ_LM_HEAD=q3 was accepted")
	}
}

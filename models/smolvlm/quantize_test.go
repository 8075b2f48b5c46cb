package smolvlm

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// quantSample is a 2×2-split image (5 tiles) and a prompt with text after it.
func quantSample(cfg *Config, seed uint64, textLen int) CalibSample {
	r := rand.New(rand.NewPCG(seed, 99))
	text := make([]int32, textLen)
	for i := range text {
		text[i] = int32(r.IntN(256))
	}
	return CalibSample{Tiles: randomTiles(cfg, 5, seed), IDs: tinyIDs(cfg, 2, 2, text)}
}

// evalKL is the mean KL(FP ‖ Q) and top-1 agreement over the text positions after the image
// (the last textLen positions) of the samples.
func evalKL(t *testing.T, fp, q *Model, set []CalibSample, textLen int) (kl, top1 float64) {
	t.Helper()
	V := fp.cfg.Text.VocabSize
	n := 0
	for _, s := range set {
		lf, lq := logitsOf(t, fp, s), logitsOf(t, q, s)
		rows := len(s.IDs)
		for r := rows - textLen; r < rows; r++ {
			a, b := lf[r*V:(r+1)*V], lq[r*V:(r+1)*V]
			pa, pb := logSoftmax(a), logSoftmax(b)
			k := 0.0
			for i := range pa {
				k += math.Exp(pa[i]) * (pa[i] - pb[i])
			}
			kl += k
			if argmax32(a) == argmax32(b) {
				top1++
			}
			n++
		}
	}
	return kl / float64(n), top1 / float64(n)
}

func logitsOf(t *testing.T, m *Model, s CalibSample) []float32 {
	var pix []float32
	for _, tile := range s.Tiles {
		pix = append(pix, tile...)
	}
	emb, err := m.EncodeTiles(pix)
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.ForwardAll(m.NewSequence(len(s.IDs)), s.IDs, emb)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func logSoftmax(x []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v))
	}
	z := 0.0
	for _, v := range x {
		z += math.Exp(float64(v) - mx)
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - mx - math.Log(z)
	}
	return out
}

func argmax32(x []float32) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}

// TestQuantizeTiny: decoder 4 (and 3) bits, vision, connector and head 8 bits, group 16, on the
// tiny checkpoint with 6 calibration samples (5 tiles + 24 text tokens each); KL and top-1
// against the FP32 model on 3 other image prompts are logged (docs/DESIGN.md has them). The
// written checkpoint loads back, dequantized, to the quantized model's logits, and in the
// CPU backend's packed layout with the per-part bits of quantization_config.dynamic.
func TestQuantizeTiny(t *testing.T) {
	dir := t.TempDir()
	cfg, err := WriteRandom(dir, TinySizes, 21)
	if err != nil {
		t.Fatal(err)
	}
	load := func(d string) *Model {
		m, closer, err := Load(d, cpubackend.New(2))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closer() })
		return m
	}
	const textLen = 24
	var calib, set []CalibSample
	for i := 0; i < 6; i++ {
		calib = append(calib, quantSample(cfg, uint64(100+i), textLen))
	}
	for i := 0; i < 3; i++ {
		set = append(set, quantSample(cfg, uint64(900+i), textLen))
	}
	fp := load(dir)
	st1 := quant.DefaultConfig()
	st1.GroupSize = 16
	s2 := quant.Stage2Config{Reading: quant.DefaultReading()}
	for _, c := range []struct {
		method string
		dec    int
	}{{quant.MethodRTN, 4}, {quant.MethodGPTQ, 4}, {quant.MethodRPIQ, 4}, {quant.MethodGPTQ, 3}, {quant.MethodRPIQ, 3}} {
		m := load(dir)
		o := QuantOptions{Method: c.method, Bits: Bits{Decoder: c.dec, Vision: 8, Connector: 8, Head: 8}, Stage1: st1, Stage2: s2, InPlace: true}
		res, err := Quantize(m, calib, o)
		if err != nil {
			t.Fatal(err)
		}
		if want := cfg.Vision.NumLayers*6 + 1 + cfg.Text.NumLayers*7 + 1; len(res.Modules) != want {
			t.Fatalf("%d modules quantized, want %d", len(res.Modules), want)
		}
		for _, qm := range res.Modules {
			want := 8
			if qm.Part == PartDecoder {
				want = c.dec
			}
			if qm.Q.Grid.Bits != want || qm.Tokens == 0 {
				t.Fatalf("%s at %d bits from %d tokens, want %d bits", qm.Name, qm.Q.Grid.Bits, qm.Tokens, want)
			}
		}
		kl, top1 := evalKL(t, fp, m, set, textLen)
		t.Logf("%-4s decoder %d-bit, vision/connector/head 8-bit, g16: mean KL %.5f, top-1 %.3f (%d positions, %.1f s)", c.method, c.dec, kl, top1, 3*textLen, res.Seconds)
		if !(kl >= 0) || kl > 1 {
			t.Fatalf("KL %g", kl)
		}
		if c.method != quant.MethodRPIQ || c.dec != 4 {
			continue
		}
		out := filepath.Join(t.TempDir(), "q")
		if err := WriteQuantized(dir, out, res, QuantSettings{Samples: len(calib)}); err != nil {
			t.Fatal(err)
		}
		t.Setenv("RPIQ_GPTQ", "dequant")
		back := load(out)
		for _, s := range set {
			a, b := logitsOf(t, back, s), logitsOf(t, m, s)
			for i := range a {
				if d := math.Abs(float64(a[i] - b[i])); d > 1e-3*(1+math.Abs(float64(b[i]))) {
					t.Fatalf("the written checkpoint's logits differ from the quantized model's: %v vs %v", a[i], b[i])
				}
			}
		}
		t.Setenv("RPIQ_GPTQ", "")
		qb := load(out)
		for _, l := range qb.Linears() {
			g, ok := l.W.(*cpubackend.GPTQ)
			if !ok {
				t.Fatalf("%s is %T after loading, want a packed weight", l.Name, l.W)
			}
			want := 8
			if PartOf(TensorSpec{Name: l.Name + ".weight", Shape: []int{1, 1}}) == PartDecoder {
				want = 4
			}
			if g.M.Bits != want {
				t.Fatalf("%s loaded at %d bits, want %d", l.Name, g.M.Bits, want)
			}
		}
		klPacked, _ := evalKL(t, m, qb, set, textLen)
		t.Logf("packed kernels (8-bit activations) against the dequantized model: KL %.5f", klPacked)
		if klPacked > 0.05 {
			t.Fatalf("the packed checkpoint drifts from the quantized model: KL %g", klPacked)
		}
	}
}

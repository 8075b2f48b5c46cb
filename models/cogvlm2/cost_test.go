package cogvlm2

import (
	"math"
	"testing"

	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// counting is the CPU backend counting the FLOPs of matrix products and attention.
type counting struct {
	*cpubackend.CPU
	flops float64
}

func (c *counting) MatMul(dst, x backend.Tensor, w backend.Weight) {
	c.flops += 2 * float64(x.Rows()) * float64(w.Rows()) * float64(w.Cols())
	c.CPU.MatMul(dst, x, w)
}

func (c *counting) AttentionFull(dst, q, k, v backend.Tensor, a backend.Attn) {
	c.flops += 4 * float64(q.Rows()) * float64(k.Rows()) * float64(a.Heads*a.HeadDim)
	c.CPU.AttentionFull(dst, q, k, v, a)
}

func (c *counting) Attention(dst, q, k, v backend.Tensor, kc backend.Cache, layer, pos int, a backend.Attn) {
	for i := 0; i < q.Rows(); i++ {
		c.flops += 4 * float64(pos+i+1) * float64(a.Heads*a.HeadDim)
	}
	c.CPU.Attention(dst, q, k, v, kc, layer, pos, a)
}

// The analytic FLOP counts equal what the model actually multiplies.
func TestQuestionCostCountsTheForward(t *testing.T) {
	s := TinySizes
	cfg, err := ParseConfig("config.json", s.ConfigJSON())
	if err != nil {
		t.Fatal(err)
	}
	be := &counting{CPU: cpubackend.New(1)}
	m, err := Build(cfg, RandomTensors(cfg, 1), be)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := m.EncodeImage(randImage(cfg, 2))
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.QuestionCost(len(question), 10, Bits{LM: 16, Vision: 16, Adapter: 16, Head: 16})
	if math.Abs(be.flops-k.VisionFLOPs) > 1e-9*k.VisionFLOPs {
		t.Fatalf("vision: counted %g FLOPs, QuestionCost says %g", be.flops, k.VisionFLOPs)
	}
	be.flops = 0
	ids, tt := BuildInput(128000, emb.Rows(), question)
	if _, err := m.Forward(m.NewSequence(len(ids)), Input{IDs: ids, Types: tt, Image: emb}); err != nil {
		t.Fatal(err)
	}
	if math.Abs(be.flops-k.PrefillFLOPs) > 1e-9*k.PrefillFLOPs || k.PromptTokens != len(ids) {
		t.Fatalf("prefill of %d tokens: counted %g FLOPs, QuestionCost says %g for %d", len(ids), be.flops, k.PrefillFLOPs, k.PromptTokens)
	}
	// Full size, as the report prints it.
	real, _ := ParseConfig("config.json", []byte(RealConfigJSON))
	for _, b := range []Bits{{LM: 16, Vision: 16, Adapter: 16, Head: 16}, {LM: 4, Vision: 8, Adapter: 16, Head: 16, GroupSize: 128}} {
		c := real.QuestionCost(16, 32, b)
		e := c.On(JetsonAGXOrin64)
		t.Logf("bits %+v: %s; %s bound: vision %.2f s, prefill %.2f s, decode %.1f ms/token, total %.2f s",
			b, c, JetsonAGXOrin64.Name, e.VisionSec, e.PrefillSec, 1000*e.DecodeSecPerToken, e.TotalSec)
		if c.VisionFLOPs < 1e13 || c.PromptTokens != 1+2306+16 {
			t.Fatalf("full-size cost %+v", c)
		}
	}
}

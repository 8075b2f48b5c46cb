package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/models/cogvlm2"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/sample"
)

// CogVLM2Size is a reduced CogVLM2 for benchmarks.
type CogVLM2Size struct {
	Name  string
	Sizes cogvlm2.Sizes
}

// benchLM is the language model of the benchmark models: the real vocabulary and head_dim 128,
// a quarter of the real widths, 2 layers (a real-width layer pair would need 3.5 GB in F32).
var benchLM = cogvlm2.Sizes{Hidden: 1024, Intermediate: 3584, Layers: 2, Heads: 8, KVHeads: 2, MaxPositions: 8192}

func cogvlm2Size(image int) CogVLM2Size {
	s := benchLM
	// The real EVA2-CLIP-E widths, 2 of its 63 layers.
	s.VHidden, s.VIntermediate, s.VLayers, s.VHeads, s.PatchSize, s.ImageSize = 1792, 15360, 2, 16, 14, image
	return CogVLM2Size{Name: fmt.Sprintf("cogvlm2_img%d_vit2x1792_lm2x1024", image), Sizes: s}
}

// CogVLM2Sizes are image 224 and 448 (the real model uses 1344).
func CogVLM2Sizes() []CogVLM2Size { return []CogVLM2Size{cogvlm2Size(224), cogvlm2Size(448)} }

// CogVLM2Options select what Bench runs.
type CogVLM2Options struct {
	Sizes       []CogVLM2Size // default CogVLM2Sizes()
	Threads     int           // default cpu.DefaultThreads()
	DecodeSteps int           // default 16
	TextTokens  int           // question tokens after the image (default 16)
	Filter      func(name string) bool
}

// CogVLM2Result is one line of `rpiq bench` (its --json result format).
type CogVLM2Result struct {
	Name    string  `json:"name"`
	Threads int     `json:"threads"`
	Ms      float64 `json:"cogvlm2.ms"`
	GFLOPs  float64 `json:"gflop_s,omitempty"`
	TokS    float64 `json:"tokens_s,omitempty"`
	Note    string  `json:"note,omitempty"`
}

func (r CogVLM2Result) String() string {
	s := fmt.Sprintf("%-52s threads=%d %10.2f cogvlm2.ms", r.Name, r.Threads, r.Ms)
	if r.GFLOPs > 0 {
		s += fmt.Sprintf("  %7.1f GFLOP/s", r.GFLOPs)
	}
	if r.TokS > 0 {
		s += fmt.Sprintf("  %7.2f tok/s", r.TokS)
	}
	if r.Note != "" {
		s += "  " + r.Note
	}
	return s
}

// Bench measures, per size: vision encoding (cogvlm2.ms, GFLOP/s), time to first token (vision +
// prompt + the first sample) and decode tokens/s, on random F32 weights; then the full-size
// model's FLOP and byte counts per question and their Jetson AGX Orin roofline bound.
func CogVLM2(o CogVLM2Options) ([]CogVLM2Result, error) {
	if o.Sizes == nil {
		o.Sizes = CogVLM2Sizes()
	}
	if o.Threads <= 0 {
		o.Threads = cpu.DefaultThreads()
	}
	if o.DecodeSteps <= 0 {
		o.DecodeSteps = 16
	}
	if o.TextTokens <= 0 {
		o.TextTokens = 16
	}
	want := func(n string) bool { return o.Filter == nil || o.Filter(n) }
	var out []CogVLM2Result
	for _, bs := range o.Sizes {
		names := []string{bs.Name + "_vision", bs.Name + "_ttft", bs.Name + "_decode"}
		if !want(names[0]) && !want(names[1]) && !want(names[2]) {
			continue
		}
		cfg, err := cogvlm2.ParseConfig(bs.Name+"/config.json", bs.Sizes.ConfigJSON())
		if err != nil {
			return nil, err
		}
		be := cpubackend.New(o.Threads)
		m, err := cogvlm2.Build(cfg, cogvlm2.RandomTensors(cfg, 1), be)
		if err != nil {
			return nil, err
		}
		rs, err := cogvlm2One(m, be, bs.Name, names, want, o)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	if want("cogvlm2_fullsize_cost") {
		real, err := cogvlm2.ParseConfig("config.json", []byte(cogvlm2.RealConfigJSON))
		if err != nil {
			return nil, err
		}
		for _, v := range []struct {
			name string
			bits cogvlm2.Bits
		}{
			{"bf16", cogvlm2.Bits{LM: 16, Vision: 16, Adapter: 16, Head: 16}},
			{"lm4_vision8", cogvlm2.Bits{LM: 4, Vision: 8, Adapter: 16, Head: 16, GroupSize: 128}},
		} {
			k := real.QuestionCost(o.TextTokens, 32, v.bits)
			e := k.On(cogvlm2.JetsonAGXOrin64)
			out = append(out, CogVLM2Result{Name: "cogvlm2_fullsize_cost_" + v.name, Threads: 0, Ms: 1000 * e.TotalSec,
				Note: fmt.Sprintf("%s; Orin bound (%.1f TFLOP/s, %.1f GB/s): vision %.2f s, prefill %.2f s, decode %.1f cogvlm2.ms/token, 32 tokens total %.2f s",
					k, cogvlm2.JetsonAGXOrin64.FLOPs/1e12, cogvlm2.JetsonAGXOrin64.BytesS/1e9, e.VisionSec, e.PrefillSec, 1000*e.DecodeSecPerToken, e.TotalSec)})
		}
	}
	return out, nil
}

func cogvlm2One(m *cogvlm2.Model, be backend.Backend, name string, names []string, want func(string) bool, o CogVLM2Options) ([]CogVLM2Result, error) {
	cfg := m.Config()
	r := rand.New(rand.NewPCG(2, 3))
	S := cfg.Vision.ImageSize
	img := make([]float32, 3*S*S)
	for i := range img {
		img[i] = float32(r.NormFloat64())
	}
	text := make([]int32, o.TextTokens)
	for i := range text {
		text[i] = int32(1000 + r.IntN(100000))
	}
	k := cfg.QuestionCost(o.TextTokens, o.DecodeSteps, cogvlm2.Bits{LM: 16, Vision: 16, Adapter: 16, Head: 16})
	// Warm up once (first-touch of the weights), then time.
	if _, err := m.EncodeImage(img); err != nil {
		return nil, err
	}
	t0 := time.Now()
	emb, err := m.EncodeImage(img)
	if err != nil {
		return nil, err
	}
	vis := time.Since(t0)
	ids, tt := cogvlm2.BuildInput(int32(cfg.LM.BOSTokenID), emb.Rows(), text)
	s := m.NewSequence(len(ids) + o.DecodeSteps)
	t1 := time.Now()
	logits, err := m.Forward(s, cogvlm2.Input{IDs: ids, Types: tt, Image: emb})
	if err != nil {
		return nil, err
	}
	next := int32(sample.Argmax(logits))
	prefill := time.Since(t1)
	t2 := time.Now()
	for i := 0; i < o.DecodeSteps; i++ {
		if logits, err = m.Forward(s, cogvlm2.Input{IDs: []int32{next}, Types: []int{cogvlm2.LanguageTokenType}}); err != nil {
			return nil, err
		}
		next = int32(sample.Argmax(logits))
	}
	dec := time.Since(t2)
	th := o.Threads
	var out []CogVLM2Result
	if want(names[0]) {
		out = append(out, CogVLM2Result{Name: names[0], Threads: th, Ms: ms(vis), GFLOPs: k.VisionFLOPs / vis.Seconds() / 1e9,
			Note: fmt.Sprintf("%d patches, %d image tokens", cfg.Vision.Grid()*cfg.Vision.Grid(), emb.Rows())})
	}
	if want(names[1]) {
		out = append(out, CogVLM2Result{Name: names[1], Threads: th, Ms: ms(vis + prefill),
			GFLOPs: (k.VisionFLOPs + k.PrefillFLOPs) / (vis + prefill).Seconds() / 1e9,
			Note:   fmt.Sprintf("vision %.1f cogvlm2.ms + prompt of %d tokens %.1f cogvlm2.ms", ms(vis), len(ids), ms(prefill))})
	}
	if want(names[2]) {
		out = append(out, CogVLM2Result{Name: names[2], Threads: th, Ms: ms(dec) / float64(o.DecodeSteps),
			TokS: float64(o.DecodeSteps) / dec.Seconds(), GFLOPs: k.DecodeFLOPs * float64(o.DecodeSteps) / dec.Seconds() / 1e9,
			Note: fmt.Sprintf("%d steps after a %d-token prompt", o.DecodeSteps, len(ids))})
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

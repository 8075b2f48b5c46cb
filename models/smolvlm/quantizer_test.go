package smolvlm

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/sample"
)

// rpiq quantize's architecture-blind path: the folder opens through the registry as a
// multimodal.Quantizer, calibration records laid out by Prompt, and the written GPTQ
// checkpoint opens again and answers; a width a part cannot take is bad input.
func TestQuantizerThroughInterface(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteRandom(dir, TinySizes, 9); err != nil {
		t.Fatal(err)
	}
	writeTinyTokenizer(t, dir)
	q, closer, err := multimodal.Open(dir, cpubackend.New(2))
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	qz, ok := q.Model.(multimodal.Quantizer)
	if !ok {
		t.Fatalf("%T is not a multimodal.Quantizer", q.Model)
	}
	var samples []multimodal.Sample
	for i, question := range []string{"What is this?", "Read the sign."} {
		im, err := q.Model.PreprocessImage("synth", synth(40+8*i, 30))
		if err != nil {
			t.Fatal(err)
		}
		in, err := q.Model.Prompt(q.Tok, im, question)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, multimodal.Sample{Input: in})
	}
	o := multimodal.QuantOptions{Method: quant.MethodGPTQ, Bits: 4, VisionBits: 8, AdapterBits: 8, HeadBits: 8,
		Stage1: quant.Config{Grid: quant.Grid{Bits: 4, ScaleFP16: true}, GroupSize: 32, Damp: 0.01, BlockSize: 128}}
	if _, err := qz.Quantize(dir, filepath.Join(t.TempDir(), "bad"), samples, func() multimodal.QuantOptions { b := o; b.VisionBits = 5; return b }()); err == nil {
		t.Fatal("--vision-bits 5 accepted")
	}
	out := filepath.Join(t.TempDir(), "q4")
	sum, err := qz.Quantize(dir, out, samples, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Model != "SmolVLM" || sum.Modules == 0 {
		t.Fatalf("summary %+v", sum)
	}
	q4, close4, err := multimodal.Open(out, cpubackend.New(2))
	if err != nil {
		t.Fatal(err)
	}
	defer close4()
	if _, err := q4.Ask(context.Background(), "synth", synth(40, 30), "What is this?", multimodal.AskOptions{MaxTokens: 3, Sample: sample.Params{Temperature: 0}}, func(multimodal.Step) error {
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Command mkcogvlm2 writes a deterministic random CogVLM2 checkpoint at the real widths of
// cogvlm2-llama3-chat-19B (language hidden 4096, FFN 14336, 32/8 heads, both experts; EVA2-CLIP
// hidden 1792, FFN 15360, 16 heads; vocabulary 128256) with few layers, the tokenizer files
// copied from --tokenizer, and a calibration JSONL of --samples synthetic pictures with a
// question and an answer: the input of scripts/cogvlm2-mem.sh (issue 14.5). Nothing is
// downloaded.
//
//	go run ./scripts/mkcogvlm2 --out DIR --tokenizer ../shared/data/tokenizers/llama3
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"

	"github.com/rpiq/rpiq/models/cogvlm2"
)

func main() {
	out := flag.String("out", "", "output directory (created)")
	tok := flag.String("tokenizer", "", "directory with the Llama 3 tokenizer.json and tokenizer_config.json to copy")
	s := cogvlm2.Sizes{Hidden: 4096, Intermediate: 14336, Heads: 32, KVHeads: 8,
		VHidden: 1792, VIntermediate: 15360, VHeads: 16, PatchSize: 14, MaxPositions: 8192}
	flag.IntVar(&s.Layers, "layers", 2, "decoder layers (the real model has 32)")
	flag.IntVar(&s.VLayers, "vision-layers", 2, "EVA2-CLIP layers (the real model has 63)")
	flag.IntVar(&s.ImageSize, "image-size", 1344, "image size in pixels, a multiple of 28 (the real model's is 1344: 9216 patches)")
	samples := flag.Int("samples", 4, "calibration records written to calib.jsonl")
	div := flag.Int("width-div", 1, "divide every width and head count by this (1, 2, 4 or 8), head sizes kept: a smaller model shaped like the real one")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if d := *div; d == 1 || d == 2 || d == 4 || d == 8 {
		s.Hidden, s.Intermediate, s.Heads, s.KVHeads = s.Hidden/d, s.Intermediate/d, s.Heads/d, s.KVHeads/d
		s.VHidden, s.VIntermediate, s.VHeads = s.VHidden/d, s.VIntermediate/d, s.VHeads/d
	} else {
		*out = ""
	}
	if *out == "" || *tok == "" || flag.NArg() != 0 || s.ImageSize%28 != 0 || *samples < 1 {
		fmt.Fprintln(os.Stderr, "usage: mkcogvlm2 --out DIR --tokenizer DIR [--layers N --vision-layers N --image-size PX --samples N --width-div N --seed N]")
		os.Exit(2)
	}
	if err := run(*out, *tok, s, *samples, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "mkcogvlm2:", err)
		os.Exit(1)
	}
}

func run(out, tok string, s cogvlm2.Sizes, samples int, seed uint64) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if _, err := cogvlm2.WriteRandomLarge(out, s, seed); err != nil {
		return err
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(tok, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
			return err
		}
	}
	// Pictures with some structure (gradients and stripes) so the patches differ.
	var jl bytes.Buffer
	questions := []string{"What is in front of me?", "Is there a door on the left?", "What colour is the wall?", "How many people are here?"}
	answers := []string{"A table with two cups on it.", "Yes, a wooden door, about two steps to your left.", "It is light blue.", "Three people sitting at a table."}
	for i := 0; i < samples; i++ {
		m := image.NewRGBA(image.Rect(0, 0, 320, 240))
		for y := 0; y < 240; y++ {
			for x := 0; x < 320; x++ {
				m.Set(x, y, color.RGBA{uint8(x*(i+1) + 7*y), uint8(y * (3 + i)), uint8(((x / (8 + i)) % 2) * 200), 255})
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, m); err != nil {
			return err
		}
		name := fmt.Sprintf("img%03d.png", i)
		if err := os.WriteFile(filepath.Join(out, name), b.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&jl, "{\"image\": %q, \"question\": %q, \"answer\": %q}\n", name, questions[i%4], answers[i%4])
	}
	return os.WriteFile(filepath.Join(out, "calib.jsonl"), jl.Bytes(), 0o644)
}

package main

// rpiq quantize on a SmolVLM (Idefics3) checkpoint: calibration from the same JSONL of
// {"image", "question", "answer"} as CogVLM2's, laid out by the model's chat template with the
// image split as its processor does; the decoder at --bits, the vision encoder at
// --vision-bits, the connector at --adapter-bits and lm_head at --head-bits (models/smolvlm's
// driver).

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/models/smolvlm"
	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// quantizeSmolVLM handles the run when the model is a SmolVLM (handled reports that).
func quantizeSmolVLM(a cogvlmQuantArgs, f *cogvlmQuantFlags, stdout, stderr io.Writer) (handled bool, err error) {
	cfg, err := hf.LoadConfig(a.model)
	if err != nil || (cfg.Architecture != smolvlm.ArchIdefics3 && cfg.Architecture != smolvlm.ArchSmolVLM) {
		return false, nil // the generic path reports config errors
	}
	if a.resume {
		return true, usagef("quantize: --resume is not implemented for SmolVLM checkpoints")
	}
	for _, b := range []struct {
		name string
		v    int
	}{{"--bits", a.bits}, {"--vision-bits", *f.vision}, {"--adapter-bits", *f.adapter}, {"--head-bits", *f.head}} {
		switch b.v {
		case 2, 3, 4, 8, 16:
		default:
			return true, usagef("quantize: %s %d: want 2, 3, 4, 8 or 16", b.name, b.v)
		}
	}
	if cfg.Quantization != nil {
		return true, fmt.Errorf("%w: %s is already quantized (%s)", ErrBadInput, a.model, cfg.Quantization.Method)
	}
	tok, err := tokenizer.Load(a.model)
	if err != nil {
		return true, err
	}
	mm, _, closeM, err := hfmodel.Open(a.model, cpubackend.New(a.threads))
	if err != nil {
		return true, err
	}
	defer closeM()
	v, ok := mm.(*smolvlm.VLM)
	if !ok {
		return true, fmt.Errorf("quantize: %s opened as %T", a.model, mm)
	}
	samples, err := readSmolVLMCalibration(a.calib, a.samples, v, tok)
	if err != nil {
		return true, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	bits := smolvlm.Bits{Decoder: a.bits, Vision: *f.vision, Connector: *f.adapter, Head: *f.head}
	if v.M.Config().TieWordEmbeddings {
		bits.Head = 16 // the head is the embedding table
	}
	o := smolvlm.QuantOptions{Method: a.method, Bits: bits, Stage1: a.stage1, Stage2: a.stage2}
	if !a.quiet {
		o.Log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	start := time.Now()
	res, err := smolvlm.Quantize(v.M, samples, o)
	if err != nil {
		return true, err
	}
	if err := smolvlm.WriteQuantized(a.model, a.out, res, smolvlm.QuantSettings{Calib: filepath.Base(a.calib), Samples: len(samples), Seed: a.seed}); err != nil {
		return true, err
	}
	var errSum float64
	for _, qm := range res.Modules {
		errSum += qm.Err
	}
	fmt.Fprintf(stdout, "%s SmolVLM: decoder %d-bit, vision %d, connector %d, head %d (group %d): %d modules from %d samples, mean relative output error %.4g, %.1fs → %s\n",
		a.method, bits.Decoder, bits.Vision, bits.Connector, bits.Head, a.stage1.GroupSize, len(res.Modules), len(samples),
		errSum/float64(max(1, len(res.Modules))), time.Since(start).Seconds(), a.out)
	return true, nil
}

// readSmolVLMCalibration reads up to n records, each laid out as the model's chat prompt about
// the picture followed by " answer".
func readSmolVLMCalibration(path string, n int, v *smolvlm.VLM, tok tokenizer.Tokenizer) ([]smolvlm.CalibSample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var out []smolvlm.CalibSample
	line := 0
	for sc.Scan() && len(out) < n {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		ip, question, answer, err := parseVQARecord(s)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if !filepath.IsAbs(ip) {
			ip = filepath.Join(filepath.Dir(path), ip)
		}
		img, err := multimodal.DecodeImageFile(ip)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		im, err := v.PreprocessImage(ip, img)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		in, err := v.Prompt(tok, im, question)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		ids := in.IDs
		if answer != "" {
			a, err := tok.Encode(" "+answer, false)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, line, err)
			}
			for _, id := range a {
				ids = append(ids, int32(id))
			}
		}
		per := len(im.Pixels) / im.Shape[0]
		var tiles [][]float32
		for t := 0; t < im.Shape[0]; t++ {
			tiles = append(tiles, im.Pixels[t*per:(t+1)*per])
		}
		out = append(out, smolvlm.CalibSample{Tiles: tiles, IDs: ids})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no calibration records", path)
	}
	return out, nil
}

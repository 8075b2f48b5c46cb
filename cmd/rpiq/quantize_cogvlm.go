package main

// rpiq quantize on a CogVLM2 checkpoint: calibration from a JSONL of {"image", "question",
// "answer"}, the language model's two experts at --bits, the vision tower at --vision-bits,
// the adapter and the head at --adapter-bits / --head-bits (models/cogvlm2's driver).

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rpiq/rpiq/models/cogvlm2"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

type cogvlmQuantFlags struct{ vision, adapter, head *int }

func addCogVLMQuantFlags(fs *flag.FlagSet) *cogvlmQuantFlags {
	return &cogvlmQuantFlags{
		vision:  fs.Int("vision-bits", 8, "CogVLM2: bits of the vision tower (EVA2-CLIP layers and the 2×2 convolution): 8, or 16 to keep it"),
		adapter: fs.Int("adapter-bits", 16, "CogVLM2: bits of the GLU adapter (2, 3, 4, 8, or 16 to keep it)"),
		head:    fs.Int("head-bits", 16, "CogVLM2: bits of lm_head (2, 3, 4, 8, or 16 to keep it)"),
	}
}

type cogvlmQuantArgs struct {
	model, calib, out string
	method            string
	bits              int
	samples           int
	seed              int64
	threads           int
	quiet, resume     bool
	stage1            quant.Config
	stage2            quant.Stage2Config
}

// quantizeCogVLM handles the run when the model is a CogVLM2 (handled reports that).
func quantizeCogVLM(a cogvlmQuantArgs, f *cogvlmQuantFlags, stdout, stderr io.Writer) (handled bool, err error) {
	cfg, err := hf.LoadConfig(a.model)
	if err != nil || cfg.Architecture != cogvlm2.Arch {
		return false, nil // the generic path reports config errors
	}
	if a.resume {
		return true, usagef("quantize: --resume is not implemented for CogVLM2 checkpoints")
	}
	for _, b := range []struct {
		name string
		v    int
	}{{"--adapter-bits", *f.adapter}, {"--head-bits", *f.head}} {
		switch b.v {
		case 2, 3, 4, 8, 16:
		default:
			return true, usagef("quantize: %s %d: want 2, 3, 4, 8 or 16", b.name, b.v)
		}
	}
	if *f.vision != 8 && *f.vision != 16 {
		return true, usagef("quantize: --vision-bits %d: want 8 or 16", *f.vision)
	}
	if cfg.Quantization != nil {
		return true, fmt.Errorf("%w: %s is already quantized (%s)", ErrBadInput, a.model, cfg.Quantization.Method)
	}
	tok, err := tokenizer.Load(a.model)
	if err != nil {
		return true, err
	}
	be := cpubackend.New(a.threads)
	m, closeM, err := cogvlm2.Load(a.model, be)
	if err != nil {
		return true, err
	}
	defer closeM()
	samples, err := readVQACalibration(a.calib, a.samples, m.Config(), tok)
	if err != nil {
		return true, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	o := cogvlm2.QuantOptions{Method: a.method, Bits: a.bits, VisionBits: *f.vision, AdapterBits: *f.adapter, HeadBits: *f.head,
		Stage1: a.stage1, Stage2: a.stage2}
	if !a.quiet {
		o.Log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	start := time.Now()
	res, err := cogvlm2.Quantize(m, samples, o)
	if err != nil {
		return true, err
	}
	if err := cogvlm2.WriteQuantized(a.model, a.out, res, cogvlm2.QuantSettings{Calib: filepath.Base(a.calib), Samples: len(samples), Seed: a.seed}); err != nil {
		return true, err
	}
	var errSum float64
	for _, qm := range res.Modules {
		errSum += qm.Err
	}
	fmt.Fprintf(stdout, "%s CogVLM2: LM %d-bit, vision %d, adapter %d, head %d (group %d): %d modules from %d samples, mean relative output error %.4g, %.1fs → %s\n",
		a.method, a.bits, *f.vision, *f.adapter, *f.head, a.stage1.GroupSize, len(res.Modules), len(samples),
		errSum/float64(max(1, len(res.Modules))), time.Since(start).Seconds(), a.out)
	return true, nil
}

// readVQACalibration reads up to n lines of {"image": path, "question": text, "answer": text}
// (image paths relative to the file's folder), preprocessed and tokenized as the model's input
// ("Question: q Answer: a").
func readVQACalibration(path string, n int, c *cogvlm2.Config, tok tokenizer.Tokenizer) ([]cogvlm2.CalibSample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var out []cogvlm2.CalibSample
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
		pix, err := cogvlm2.Preprocess(ip, img, c.Vision.ImageSize)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		text := cogvlm2.PromptText(c.TemplateVersion, question)
		if answer != "" {
			text += " " + answer
		}
		ids, err := tok.Encode(text, false)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		t32 := make([]int32, len(ids))
		for i, id := range ids {
			t32[i] = int32(id)
		}
		out = append(out, cogvlm2.CalibSample{Image: pix, Text: t32})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no calibration records", path)
	}
	return out, nil
}

// parseVQARecord reads one calibration line: image path and question required, answer optional.
func parseVQARecord(line string) (image, question, answer string, err error) {
	var rec struct {
		Image    *string `json:"image"`
		Question *string `json:"question"`
		Answer   *string `json:"answer"`
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		return "", "", "", err
	}
	if rec.Image == nil || *rec.Image == "" || rec.Question == nil {
		return "", "", "", fmt.Errorf("want {\"image\": path, \"question\": text, \"answer\": text}")
	}
	if rec.Answer != nil {
		answer = *rec.Answer
	}
	return *rec.Image, *rec.Question, answer, nil
}

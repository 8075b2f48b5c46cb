package main

// rpiq quantize on a vision-language model (any architecture implementing
// multimodal.Quantizer: CogVLM2, SmolVLM): calibration from a JSONL of {"image", "question",
// "answer"}, each record laid out by the model's own prompt format, then the architecture's
// differentiated driver — the language model at --bits, the vision encoder at --vision-bits,
// the connector at --adapter-bits and lm_head at --head-bits.

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

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

type vlmQuantFlags struct {
	vision, adapter, head *int
	actMemory             *float64
}

func addVLMQuantFlags(fs *flag.FlagSet) *vlmQuantFlags {
	return &vlmQuantFlags{
		vision:    fs.Int("vision-bits", 8, "vision-language models: bits of the vision encoder (CogVLM2: 8, or 16 to keep it)"),
		adapter:   fs.Int("adapter-bits", 16, "vision-language models: bits of the connector / adapter (2, 3, 4, 8, or 16 to keep it)"),
		head:      fs.Int("head-bits", 16, "vision-language models: bits of lm_head (2, 3, 4, 8, or 16 to keep it)"),
		actMemory: fs.Float64("act-memory", 2, "vision-language models (CogVLM2): GB of calibration activations kept in memory; the rest is spilled to files in --out/.rpiq-partial"),
	}
}

type vlmQuantArgs struct {
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

// quantizeVLM handles the run when the model is a vision-language model that quantizes itself
// part by part (handled reports that); other models go the text path. cfg is the model's
// config.json, read once by runQuantize.
func quantizeVLM(a vlmQuantArgs, cfg *hf.Config, f *vlmQuantFlags, stdout, stderr io.Writer) (handled bool, err error) {
	m, _, closeM, err := hfmodel.Open(a.model, cpubackend.New(a.threads))
	if err != nil {
		return false, nil
	}
	defer closeM()
	q, ok := m.(multimodal.Quantizer)
	if !ok {
		return false, nil
	}
	if cfg.Quantization != nil {
		return true, fmt.Errorf("%w: %s is already quantized (%s)", ErrBadInput, a.model, cfg.Quantization.Method)
	}
	tok, err := tokenizer.Load(a.model)
	if err != nil {
		return true, err
	}
	if am := *f.actMemory; !(am > 0 && am < 1<<20) {
		return true, fmt.Errorf("%w: --act-memory %v: want a positive number of GB", ErrBadInput, am)
	}
	if a.calib == "" {
		return true, fmt.Errorf("%w: --calib: a vision-language model needs a calibration file of {\"image\", \"question\", \"answer\"} lines (JSONL), also with --method rtn (one line is enough)", ErrBadInput)
	}
	samples, err := readVQACalibration(a.calib, a.samples, q, tok)
	if err != nil {
		return true, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	o := multimodal.QuantOptions{Method: a.method, Bits: a.bits, VisionBits: *f.vision, AdapterBits: *f.adapter, HeadBits: *f.head,
		Stage1: a.stage1, Stage2: a.stage2, Calib: filepath.Base(a.calib), Seed: a.seed, Resume: a.resume,
		ActMemory: int64(*f.actMemory * 1e9)}
	if !a.quiet {
		o.Log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	defer onInterrupt(stderr, "quantize", func() string {
		return "the blocks finished so far are kept in " + a.out + " (where the model can resume: CogVLM2); run the same command with --resume to finish from there, or again without it"
	})()
	start := time.Now()
	sum, err := q.Quantize(a.model, a.out, samples, o)
	if err != nil {
		return true, err
	}
	fmt.Fprintf(stdout, "%s %s: %s (group %d): %d modules from %d samples, mean relative output error %.4g, %.1fs → %s\n",
		a.method, sum.Model, sum.Parts, a.stage1.GroupSize, sum.Modules, len(samples), sum.MeanErr, time.Since(start).Seconds(), a.out)
	return true, nil
}

// readVQACalibration reads up to n lines of {"image": path, "question": text, "answer": text}
// (image paths relative to the file's folder), each laid out as the model's prompt about the
// picture followed by " answer".
func readVQACalibration(path string, n int, m multimodal.Model, tok tokenizer.Tokenizer) ([]multimodal.Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var out []multimodal.Sample
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
		im, err := m.PreprocessImage(ip, img)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		in, err := m.Prompt(tok, im, question)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if answer != "" {
			ids, err := tok.Encode(" "+answer, false)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, line, err)
			}
			for _, id := range ids {
				in.IDs = append(in.IDs, int32(id))
			}
		}
		out = append(out, multimodal.Sample{Input: in})
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

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/rpiq/rpiq/models/multimodal"
)

func init() {
	register("vqa", "answer a question about an image with a vision-language model (CogVLM2, ...), streamed to stdout", runVQA)
}

// vqaJSON is what `rpiq vqa --json` prints: the answer and, per generated step, the token id,
// its text and the top-5 (id, natural-log probability) pairs of the model's distribution.
type vqaJSON struct {
	Answer string    `json:"answer"`
	Steps  []vqaStep `json:"steps"`
}

type vqaStep struct {
	ID   int32                `json:"id"`
	Text string               `json:"text"`
	Top  []multimodal.Logprob `json:"top"`
}

// runVQA works with any registered architecture that reads images (multimodal.Model).
// Sampling defaults come from the checkpoint's generation_config.json (CogVLM2: temperature
// 0.6, top-p 0.9); flags given override them. Timings go to stderr.
func runVQA(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("vqa", stderr)
	dir := fl.String("model", "", "vision-language model folder (Hugging Face layout: CogVLM2, ...)")
	imgPath := fl.String("image", "", "image file (PNG, JPEG, GIF, BMP, TIFF, WebP)")
	question := fl.String("question", "", "the question about the image")
	sf := addSamplingFlags(fl, "new tokens at most (default: generation_config max_new_tokens, else max_length minus the prompt)")
	threads := fl.Int("threads", 0, "CPU threads (default RPIQ_THREADS or all CPUs)")
	device := deviceFlag(fl)
	asJSON := fl.Bool("json", false, `print one JSON object {"answer": TEXT, "steps": [{"id": N, "text": T, "top": [[ID, LOGPROB], ...5]}]} instead of streaming text`)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: rpiq vqa --model MODEL --image IMG --question TEXT [--json] [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S] [--repetition-penalty R] [--threads N] [--device cpu|cuda|auto]")
		fl.PrintDefaults()
	}
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("vqa: unexpected argument %q", pos[0])
	case *dir == "":
		return usagef("vqa: --model is required")
	case *imgPath == "":
		return usagef("vqa: --image is required")
	case *question == "":
		return usagef("vqa: --question is required")
	}
	// Read the image first: a bad image should not wait for a 19B model to load.
	img, err := multimodal.DecodeImageFile(*imgPath)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	be, closeBackend, err := openBackend(*device, *threads, stderr)
	if err != nil {
		return err
	}
	defer closeBackend()
	t0 := time.Now()
	q, closeModel, err := multimodal.Open(*dir, be)
	if err != nil {
		return err
	}
	defer closeModel()
	load := time.Since(t0)
	o := q.DefaultOptions()
	maxTokens, err := sf.apply("vqa", &o.Sample)
	if err != nil {
		return err
	}
	if maxTokens > 0 {
		o.MaxTokens = maxTokens
	}
	out := bufio.NewWriter(stdout)
	var res vqaJSON
	emit := func(s multimodal.Step) error {
		if _, err := io.WriteString(out, s.Text); err != nil {
			return err
		}
		return out.Flush()
	}
	if *asJSON {
		o.TopLogprobs = 5
		res.Steps = []vqaStep{}
		emit = func(s multimodal.Step) error {
			res.Answer += s.Text
			if s.ID < 0 { // text the decoder held back to the end belongs to the last step
				if n := len(res.Steps); n > 0 {
					res.Steps[n-1].Text += s.Text
				}
				return nil
			}
			res.Steps = append(res.Steps, vqaStep{ID: s.ID, Text: s.Text, Top: s.Top})
			return nil
		}
	}
	tm, err := q.Ask(context.Background(), *imgPath, img, *question, o, emit)
	if err == nil && *asJSON {
		err = json.NewEncoder(out).Encode(res)
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if !*asJSON {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stderr, "load: %s; preprocess: %s; vision encoding: %s; prompt: %d tokens in %s (%.1f tokens/s); decode: %d tokens, %.2f tokens/s (%s; %s)\n",
		ms(load), ms(tm.Preprocess), ms(tm.Vision), tm.PromptTokens, ms(tm.Prompt), rateOf(tm.PromptTokens, tm.Prompt),
		tm.NewTokens, tm.DecodeTokensPerSec(), tm.StoppedBy, be.Name())
	return err
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func rateOf(n int, d time.Duration) float64 {
	if n <= 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

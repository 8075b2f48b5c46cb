package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rpiq/rpiq/models/cogvlm2"
)

func init() {
	register("vqa", "answer a question about an image with a CogVLM2 model, streamed to stdout", runVQA)
}

// runVQA: sampling defaults come from the checkpoint's generation_config.json (CogVLM2:
// temperature 0.6, top-p 0.9); flags given override them. Timings go to stderr.
func runVQA(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("vqa", stderr)
	dir := fl.String("model", "", "CogVLM2 model folder (Hugging Face layout)")
	imgPath := fl.String("image", "", "image file (PNG, JPEG, GIF, BMP, TIFF, WebP)")
	question := fl.String("question", "", "the question about the image")
	sf := addSamplingFlags(fl, "new tokens at most (default: generation_config max_new_tokens, else max_length minus the prompt)")
	threads := fl.Int("threads", 0, "CPU threads (default RPIQ_THREADS or all CPUs)")
	device := deviceFlag(fl)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: rpiq vqa --model MODEL --image IMG --question TEXT [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S] [--repetition-penalty R] [--threads N] [--device cpu|cuda|auto]")
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
	img, err := cogvlm2.DecodeImageFile(*imgPath)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	be, closeBackend, err := openBackend(*device, *threads, stderr)
	if err != nil {
		return err
	}
	defer closeBackend()
	t0 := time.Now()
	q, closeModel, err := cogvlm2.OpenVQA(*dir, be)
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
	tm, err := q.Ask(context.Background(), *imgPath, img, *question, o, func(s string) error {
		if _, err := io.WriteString(out, s); err != nil {
			return err
		}
		return out.Flush()
	})
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	fmt.Fprintf(stderr, "\nload: %s; preprocess: %s; vision encoding: %s; prompt: %d tokens in %s (%.1f tokens/s); decode: %d tokens, %.2f tokens/s (%s; %s)\n",
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

package main

import (
	"encoding/json"
	"fmt"
	"image"
	"io"
	"os"
	"slices"
	"time"

	"github.com/rpiq/rpiq/internal/progress"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/metrics"
	"github.com/rpiq/rpiq/runtime/model"
)

func init() {
	register("eval", "perplexity over a text file (after an image with --image); with --ref also mean KL divergence and top-1 agreement", runEval)
}

// evalResult is the --json output (the CLI contract's keys, plus the settings that produced it).
type evalResult struct {
	PPL     float64  `json:"ppl"`
	KLD     *float64 `json:"kld,omitempty"`
	Top1    *float64 `json:"top1,omitempty"`
	Tokens  int      `json:"tokens"`
	Ctx     int      `json:"ctx"`
	Stride  int      `json:"stride"`
	Windows int      `json:"windows"`
	Seconds float64  `json:"seconds"`
	Image   string   `json:"image,omitempty"`         // --image: the picture the text follows
	Prompt  int      `json:"prompt_tokens,omitempty"` // positions before the text (BOS, image tokens)
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", stderr)
	modelDir := fs.String("model", "", "model directory (Hugging Face layout)")
	textPath := fs.String("text", "", "text file to score")
	ctx := fs.Int("ctx", 512, "tokens per window (clipped to the model's context)")
	stride := fs.Int("stride", 0, "tokens between window starts (0: --ctx, disjoint windows)")
	refDir := fs.String("ref", "", "reference model directory: also report mean KL divergence and top-1 agreement")
	imagePath := fs.String("image", "", "a picture the text follows (vision-language models): the text is scored after [BOS, image tokens] in one window, each model encoding the picture itself")
	limit := fs.Int("limit", 0, "score at most this many tokens of the text (0: all)")
	threads := fs.Int("threads", 0, "worker threads (0: RPIQ_THREADS or the CPU count)")
	device := deviceFlag(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	noProgress := fs.Bool("quiet", false, "no progress bar")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *modelDir == "" || *textPath == "" {
		return usagef("--model and --text are required")
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	text, err := os.ReadFile(*textPath)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(*modelDir)
	if err != nil {
		return err
	}
	ids, err := tok.Encode(string(text), false)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadInput, *textPath, err)
	}
	if *limit > 0 && len(ids) > *limit+1 {
		ids = ids[:*limit+1]
	}
	if len(ids) < 2 {
		return fmt.Errorf("%w: %s: %d tokens; need at least 2 to score a prediction", ErrBadInput, *textPath, len(ids))
	}

	var img image.Image
	if *imagePath != "" {
		if img, err = multimodal.DecodeImageFile(*imagePath); err != nil {
			return fmt.Errorf("%w: %v", ErrBadInput, err)
		}
	}
	be, closeBackend, err := openBackend(*device, *threads, stderr)
	if err != nil {
		return err
	}
	defer closeBackend()
	m, _, closeM, err := hfmodel.Open(*modelDir, be)
	if err != nil {
		return err
	}
	defer closeM()
	var ref model.Model
	if *refDir != "" {
		r, _, closeR, err := hfmodel.Open(*refDir, be)
		if err != nil {
			return err
		}
		defer closeR()
		if r.Info().Vocab != m.Info().Vocab {
			return fmt.Errorf("%w: --ref %s has a vocabulary of %d, the model %d", ErrBadInput, *refDir, r.Info().Vocab, m.Info().Vocab)
		}
		ref = r
	}
	if img != nil {
		return evalImage(m, ref, tok, *imagePath, img, ids, *asJSON, *refDir, stdout, stderr)
	}
	n := *ctx
	if max := m.Info().MaxSeq; max > 0 && n > max {
		n = max
	}
	if n < 2 {
		return usagef("--ctx must be at least 2")
	}
	windows := metrics.Windows(len(ids), n, *stride)
	vocab := m.Info().Vocab

	var bar *progress.Bar // a bar on a terminal, a plain line every few seconds otherwise
	if !*noProgress {
		bar = progress.New(stderr, len(windows), "eval")
	}
	start := time.Now()
	var s metrics.Scores
	win := make([]int32, 0, n)
	for _, w := range windows {
		win = win[:0]
		for _, id := range ids[w.Begin:w.End] {
			win = append(win, int32(id))
		}
		logits, err := model.Logits(m, win)
		if err != nil {
			return err
		}
		var refLogits []float32
		if ref != nil {
			if refLogits, err = model.Logits(ref, win); err != nil {
				return err
			}
		}
		// the prediction for token i of the text comes from window position i-1-Begin
		for i := w.ScoreFrom; i < w.End; i++ {
			row := i - 1 - w.Begin
			var r []float32
			if refLogits != nil {
				r = refLogits[row*vocab : (row+1)*vocab]
			}
			s.Add(logits[row*vocab:(row+1)*vocab], r, ids[i])
		}
		bar.Add(1)
	}
	step := n
	if *stride > 0 && *stride < n {
		step = *stride
	}
	res := evalResult{PPL: s.Perplexity(), Tokens: s.Tokens, Ctx: n, Stride: step,
		Windows: len(windows), Seconds: time.Since(start).Seconds()}
	if ref != nil {
		kl, top1 := s.MeanKL(), s.Top1Agreement()
		res.KLD, res.Top1 = &kl, &top1
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "perplexity %.4f over %d tokens (%d windows of %d, stride %d)\n", res.PPL, res.Tokens, res.Windows, res.Ctx, res.Stride)
	if ref != nil {
		fmt.Fprintf(stdout, "mean KL divergence %.6f nats, top-1 agreement %.4f (reference %s)\n", *res.KLD, *res.Top1, *refDir)
	}
	fmt.Fprintf(stderr, "eval: %.1f s, %.0f tokens/s\n", res.Seconds, float64(res.Tokens)/res.Seconds)
	return nil
}

// evalImage scores the text after the picture in one window: every text token, the first one
// predicted from the image's last position. Model and reference each encode the picture with
// their own vision tower (the quantized one's differs) and must lay the prompt out alike.
func evalImage(m, ref model.Model, tok tokenizer.Tokenizer, path string, img image.Image, ids []int,
	asJSON bool, refDir string, stdout, stderr io.Writer) error {
	text := make([]int32, len(ids))
	for i, id := range ids {
		text[i] = int32(id)
	}
	run := func(mod model.Model, which string) ([]float32, []int32, int, error) {
		mm, ok := mod.(multimodal.Model)
		if !ok {
			return nil, nil, 0, fmt.Errorf("%w: --image: the %s (%s) does not read images", ErrBadInput, which, mod.Info().Arch)
		}
		im, err := mm.PreprocessImage(path, img)
		if err != nil {
			return nil, nil, 0, err
		}
		logits, first, err := multimodal.Logits(mm, tok, im, text)
		if err != nil {
			return nil, nil, 0, err
		}
		in, err := mm.Layout(tok, im, text)
		return logits, in.IDs, first, err
	}
	start := time.Now()
	logits, layout, first, err := run(m, "model")
	if err != nil {
		return err
	}
	var refLogits []float32
	if ref != nil {
		var refLayout []int32
		if refLogits, refLayout, _, err = run(ref, "reference"); err != nil {
			return err
		}
		if !slices.Equal(layout, refLayout) {
			return fmt.Errorf("%w: --ref %s lays out the image and text as %d tokens, the model as %d (not the same architecture and image size?)", ErrBadInput, refDir, len(refLayout), len(layout))
		}
	}
	vocab := m.Info().Vocab
	var s metrics.Scores
	for j := max(0, 1-first); j < len(text); j++ {
		row := first + j - 1
		var r []float32
		if refLogits != nil {
			r = refLogits[row*vocab : (row+1)*vocab]
		}
		s.Add(logits[row*vocab:(row+1)*vocab], r, int(text[j]))
	}
	res := evalResult{PPL: s.Perplexity(), Tokens: s.Tokens, Ctx: len(layout), Stride: len(layout), Windows: 1,
		Seconds: time.Since(start).Seconds(), Image: path, Prompt: first}
	if ref != nil {
		kl, top1 := s.MeanKL(), s.Top1Agreement()
		res.KLD, res.Top1 = &kl, &top1
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "perplexity %.4f over %d tokens after the image %s (%d prompt tokens before the text)\n", res.PPL, res.Tokens, path, first)
	if ref != nil {
		fmt.Fprintf(stdout, "mean KL divergence %.6f nats, top-1 agreement %.4f (reference %s)\n", *res.KLD, *res.Top1, refDir)
	}
	fmt.Fprintf(stderr, "eval: %.1f s\n", res.Seconds)
	return nil
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/generate"
	"github.com/rpiq/rpiq/runtime/sample"
)

func init() {
	register("generate", "generate text from a prompt, streamed to stdout", runGenerate)
}

// runGenerate: defaults come from the model's generation_config.json (transformers' defaults
// when absent); flags given on the command line override them. --max-tokens counts new tokens
// only (transformers' max_new_tokens).
func runGenerate(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("generate", stderr)
	dir := fl.String("model", "", "model folder (Hugging Face layout)")
	prompt := fl.String("prompt", "", "prompt text (empty: start from BOS)")
	sf := addSamplingFlags(fl, "new tokens at most (default: generation_config max_new_tokens, else max_length minus the prompt, else 256)")
	threads := fl.Int("threads", 0, "CPU threads (default RPIQ_THREADS or all CPUs)")
	device := deviceFlag(fl)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: rpiq generate --model MODEL --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S] [--repetition-penalty R] [--threads N] [--device cpu|cuda|auto]")
		fl.PrintDefaults()
	}
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("generate: unexpected argument %q", pos[0])
	}
	if *dir == "" {
		return usagef("generate: --model is required")
	}
	gc, err := hf.LoadGenerationConfig(*dir)
	if err != nil {
		return err
	}
	p := sample.Params{Temperature: gc.Temperature, TopP: gc.TopP, TopK: gc.TopK, RepetitionPenalty: gc.RepetitionPenalty}
	if !gc.DoSample {
		p.Temperature = 0
	}
	maxTokens, err := sf.apply("generate", &p)
	if err != nil {
		return err
	}

	// The tokenizer is parsed on another core while the model loads (Llama 3's tokenizer.json
	// costs about as much CPU as mapping a pre-packed 1B model): load to first token.
	type loaded struct {
		tok tokenizer.Tokenizer
		err error
	}
	tokc := make(chan loaded, 1)
	go func() {
		t, err := tokenizer.Load(*dir)
		tokc <- loaded{t, err}
	}()
	be, closeBackend, err := openBackend(*device, *threads, stderr)
	if err != nil {
		return err
	}
	defer closeBackend()
	m, _, closeModel, err := hfmodel.Open(*dir, be)
	if err != nil {
		return err
	}
	defer closeModel()
	tl := <-tokc
	tok, err := tl.tok, tl.err
	if err != nil {
		return err
	}
	ids, err := tok.Encode(*prompt, true)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		if tok.BOS() < 0 {
			return usagef("generate: this model has no BOS token, so the prompt must not be empty")
		}
		ids = []int{tok.BOS()}
	}
	if info := m.Info(); info.MaxSeq > 0 && len(ids) > info.MaxSeq {
		return fmt.Errorf("%w: the prompt is %d tokens, more than the model's context of %d", ErrBadInput, len(ids), info.MaxSeq)
	}
	in := make([]int32, len(ids))
	for i, id := range ids {
		in[i] = int32(id)
	}
	n := maxTokens
	if n == 0 {
		switch {
		case gc.MaxNewTokens > 0:
			n = gc.MaxNewTokens
		case gc.MaxLength > len(in) && gc.MaxLength != hf.DefaultGenerationConfig().MaxLength:
			n = gc.MaxLength - len(in)
		default:
			n = 256
		}
	}

	info := m.Info()
	// Stop on the EOS ids, and on BOS: a BOS sampled mid-text starts a new document
	// (llama2.c's run.c stops there too).
	stop := slices.Clone(info.EOS)
	for _, id := range gc.EOSTokenIDs {
		stop = append(stop, int32(id))
	}
	if info.BOS >= 0 {
		stop = append(stop, info.BOS)
	}

	// The stream decoder sees the prompt first (SentencePiece drops the space after BOS), but
	// only new text is printed.
	dec := tok.NewStreamDecoder()
	for _, id := range ids {
		dec.Push(id)
	}
	out := bufio.NewWriter(stdout)
	st, err := generate.Run(m, in, generate.Options{MaxTokens: n, Sample: p, Stop: stop}, generate.TextTo(out, dec))
	if err == nil {
		_, err = io.WriteString(out, dec.Flush())
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	fmt.Fprintf(stderr, "\nprompt: %d tokens, %.1f tokens/s; decode: %d tokens, %.1f tokens/s (%s; %s)\n",
		st.PromptTokens, st.PromptTokensPerSec(), st.NewTokens, st.DecodeTokensPerSec(), st.StoppedBy, be.Name())
	return err
}

// Package generate is the generation loop: the whole prompt in one batched forward pass, then
// one token at a time through the KV cache, sampling each next token and handing it out as soon
// as it exists. It stops after MaxTokens new tokens, on a stop id, or when the context is full.
package generate

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/rpiq/rpiq/runtime/model"
	"github.com/rpiq/rpiq/runtime/sample"
)

// Options control one generation.
type Options struct {
	MaxTokens int // new tokens at most (the prompt does not count)
	Sample    sample.Params
	Stop      []int32 // ids that end generation; the stop id itself is not emitted
	// MaxSeq caps prompt + new tokens (0: the model's max_position_embeddings).
	MaxSeq int
}

// Stats are the timings of one generation.
type Stats struct {
	PromptTokens, NewTokens int
	Prompt, Decode          time.Duration // prompt = the batched forward; decode = the rest
	StoppedBy               string        // "max-tokens", "stop-id", "context"
}

// PromptTokensPerSec and DecodeTokensPerSec are the usual throughput figures. Decode speed
// counts the forward passes after the first new token (each one produces one token).
func (s Stats) PromptTokensPerSec() float64 { return rate(s.PromptTokens, s.Prompt) }
func (s Stats) DecodeTokensPerSec() float64 { return rate(s.NewTokens-1, s.Decode) }

func rate(n int, d time.Duration) float64 {
	if n <= 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Run generates after prompt (at least one token), calling emit with each new token id.
// An error from emit stops generation and is returned.
func Run(m model.Model, prompt []int32, o Options, emit func(id int32) error) (st Stats, err error) {
	st.PromptTokens = len(prompt)
	if len(prompt) == 0 {
		return st, fmt.Errorf("generate: empty prompt (a model without BOS needs some text)")
	}
	maxSeq := o.MaxSeq
	if info := m.Info(); maxSeq <= 0 || (info.MaxSeq > 0 && maxSeq > info.MaxSeq) {
		maxSeq = info.MaxSeq
	}
	if maxSeq <= 0 {
		maxSeq = len(prompt) + o.MaxTokens
	}
	if len(prompt) > maxSeq {
		return st, fmt.Errorf("generate: prompt of %d tokens exceeds the context of %d", len(prompt), maxSeq)
	}
	// The cache holds every position we may feed: the prompt and all new tokens but the last.
	c := m.NewCache(min(maxSeq, len(prompt)+max(o.MaxTokens-1, 0)))
	s := sample.New(o.Sample)
	history := slices.Clone(prompt)

	t0 := time.Now()
	logits, err := m.Forward(c, prompt, false)
	st.Prompt = time.Since(t0)
	if err != nil {
		return st, err
	}
	t1 := time.Now()
	defer func() { st.Decode = time.Since(t1) }()
	for {
		if st.NewTokens >= o.MaxTokens {
			st.StoppedBy = "max-tokens"
			return st, nil
		}
		next := s.Sample(logits, history)
		if slices.Contains(o.Stop, next) {
			st.StoppedBy = "stop-id"
			return st, nil
		}
		st.NewTokens++
		if st.NewTokens == 1 {
			t1 = time.Now() // decode speed starts after the first token
		}
		history = append(history, next)
		if err := emit(next); err != nil {
			return st, err
		}
		if st.NewTokens >= o.MaxTokens {
			continue
		}
		if c.Len() >= c.Cap() {
			st.StoppedBy = "context"
			return st, nil
		}
		if logits, err = m.Forward(c, []int32{next}, false); err != nil {
			return st, err
		}
	}
}

// Decoder turns ids into text incrementally (tokenizer.StreamDecoder is one).
type Decoder interface {
	Push(id int) string
	Flush() string
}

// TextTo returns an emit function that writes each token's complete text to w as it comes.
func TextTo(w io.Writer, d Decoder) func(int32) error {
	return func(id int32) error {
		if s := d.Push(int(id)); s != "" {
			_, err := io.WriteString(w, s)
			if f, ok := w.(interface{ Flush() error }); ok && err == nil {
				err = f.Flush()
			}
			return err
		}
		return nil
	}
}

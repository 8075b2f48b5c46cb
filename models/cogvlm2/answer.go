package cogvlm2

import (
	"context"
	"fmt"
	"image"
	"slices"
	"time"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/sample"
)

// VQA answers questions about images: the model, its tokenizer and its generation config.
type VQA struct {
	Model *Model
	Tok   tokenizer.Tokenizer
	Gen   *hf.GenerationConfig
}

// OpenVQA loads the model, tokenizer and generation_config.json of dir.
func OpenVQA(dir string, be backend.Backend) (*VQA, func() error, error) {
	gc, err := hf.LoadGenerationConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	m, closer, err := Load(dir, be)
	if err != nil {
		return nil, nil, err
	}
	return &VQA{Model: m, Tok: tok, Gen: gc}, closer, nil
}

// AskOptions control one answer.
type AskOptions struct {
	MaxTokens int // new tokens at most; 0: generation_config's max_new_tokens or max_length
	Sample    sample.Params
}

// DefaultOptions are the checkpoint's generation settings (CogVLM2: sampling at temperature
// 0.6, top-p 0.9).
func (q *VQA) DefaultOptions() AskOptions {
	g := q.Gen
	p := sample.Params{Temperature: g.Temperature, TopP: g.TopP, TopK: g.TopK, RepetitionPenalty: g.RepetitionPenalty}
	if !g.DoSample {
		p.Temperature = 0
	}
	return AskOptions{MaxTokens: g.MaxNewTokens, Sample: p}
}

// Timings of one answer.
type Timings struct {
	Preprocess, Vision, Prompt, Decode time.Duration
	PromptTokens, NewTokens            int
	StoppedBy                          string // "stop-id", "max-tokens", "context", "cancelled"
}

// DecodeTokensPerSec counts the forward passes after the first new token.
func (t Timings) DecodeTokensPerSec() float64 {
	if t.NewTokens <= 1 || t.Decode <= 0 {
		return 0
	}
	return float64(t.NewTokens-1) / t.Decode.Seconds()
}

// Ask answers question about img (nil: a text-only question), calling emit with each piece of
// answer text as soon as it is complete. Cancelling ctx stops generation between tokens.
func (q *VQA) Ask(ctx context.Context, source string, img image.Image, question string, o AskOptions, emit func(text string) error) (Timings, error) {
	var tm Timings
	m := q.Model
	var emb backend.Tensor
	nImg := 0
	if img != nil {
		t0 := time.Now()
		pix, err := Preprocess(source, img, m.cfg.Vision.ImageSize)
		if err != nil {
			return tm, err
		}
		t1 := time.Now()
		tm.Preprocess = t1.Sub(t0)
		if emb, err = m.EncodeImage(pix); err != nil {
			return tm, err
		}
		tm.Vision = time.Since(t1)
		nImg = emb.Rows()
	}
	text, err := q.Tok.Encode(PromptText(m.cfg.TemplateVersion, question), false)
	if err != nil {
		return tm, err
	}
	ids32 := make([]int32, len(text))
	for i, id := range text {
		ids32[i] = int32(id)
	}
	ids, tt := BuildInput(int32(m.cfg.LM.BOSTokenID), nImg, ids32)
	return q.generate(ctx, ids, tt, emb, o, emit, tm)
}

func (q *VQA) generate(ctx context.Context, ids []int32, tt []int, emb backend.Tensor, o AskOptions, emit func(string) error, tm Timings) (out Timings, err error) {
	m := q.Model
	tm.PromptTokens = len(ids)
	maxSeq := m.cfg.LM.MaxPositions
	if maxSeq <= 0 {
		maxSeq = len(ids) + 256
	}
	if len(ids) >= maxSeq {
		return tm, fmt.Errorf("cogvlm2: prompt of %d tokens does not fit max_position_embeddings %d", len(ids), maxSeq)
	}
	n := o.MaxTokens
	if n <= 0 {
		n = q.Gen.MaxLength - len(ids)
		if n <= 0 {
			n = 256
		}
	}
	n = min(n, maxSeq-len(ids))
	stop := []int32{}
	for _, id := range q.Gen.EOSTokenIDs {
		stop = append(stop, int32(id))
	}
	for _, id := range m.cfg.LM.EOSTokenIDs {
		stop = append(stop, int32(id))
	}
	s := m.NewSequence(len(ids) + n)
	smp := sample.New(o.Sample)
	dec := q.Tok.NewStreamDecoder()
	for i, id := range ids {
		if tt[i] == LanguageTokenType {
			dec.Push(int(id)) // the prompt primes the decoder; only new text is emitted
		}
	}
	history := slices.Clone(ids)
	t0 := time.Now()
	logits, err := m.Forward(s, Input{IDs: ids, Types: tt, Image: emb})
	tm.Prompt = time.Since(t0)
	tm.PromptTokens = len(ids)
	if err != nil {
		return tm, err
	}
	t1 := time.Now()
	defer func() { out.Decode = time.Since(t1) }()
	for {
		if err := ctx.Err(); err != nil {
			tm.StoppedBy = "cancelled"
			return tm, err
		}
		if tm.NewTokens >= n {
			tm.StoppedBy = "max-tokens"
			break
		}
		next := smp.Sample(logits, history)
		if slices.Contains(stop, next) {
			tm.StoppedBy = "stop-id"
			break
		}
		tm.NewTokens++
		if tm.NewTokens == 1 {
			t1 = time.Now()
		}
		history = append(history, next)
		if txt := dec.Push(int(next)); txt != "" {
			if err := emit(txt); err != nil {
				return tm, err
			}
		}
		if tm.NewTokens >= n {
			continue
		}
		if s.Len() >= s.Cache.Cap() {
			tm.StoppedBy = "context"
			break
		}
		if logits, err = m.Forward(s, Input{IDs: []int32{next}, Types: []int{LanguageTokenType}}); err != nil {
			return tm, err
		}
	}
	if txt := dec.Flush(); txt != "" {
		if err := emit(txt); err != nil {
			return tm, err
		}
	}
	return tm, nil
}

package multimodal

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"slices"
	"time"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/sample"
)

// VQA answers questions about pictures: a vision-language model, its tokenizer and its
// generation config.
type VQA struct {
	Model  Model
	Config *hf.Config
	Tok    tokenizer.Tokenizer
	Gen    *hf.GenerationConfig
}

// Open loads the model folder dir, whatever registered architecture it is, with its tokenizer
// and generation_config.json; a model that does not read images is an error naming it.
func Open(dir string, be backend.Backend) (*VQA, func() error, error) {
	gc, err := hf.LoadGenerationConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	m, cfg, closer, err := hfmodel.Open(dir, be)
	if err != nil {
		return nil, nil, err
	}
	mm, ok := m.(Model)
	if !ok {
		closer()
		return nil, nil, &hfmodel.Error{Msg: fmt.Sprintf("%s/%s: architecture %s does not read images (want a vision-language model)", dir, hf.ConfigFile, cfg.Architecture)}
	}
	return &VQA{Model: mm, Config: cfg, Tok: tok, Gen: gc}, closer, nil
}

// AskOptions control one answer.
type AskOptions struct {
	MaxTokens int // new tokens at most; 0: generation_config's max_new_tokens, else max_length minus the prompt
	Sample    sample.Params
	// TopLogprobs is how many of each step's most likely tokens Step.Top lists (0: none).
	TopLogprobs int
}

// DefaultOptions are the checkpoint's generation settings (generation_config.json; greedy when
// do_sample is false).
func (q *VQA) DefaultOptions() AskOptions {
	g := q.Gen
	p := sample.Params{Temperature: g.Temperature, TopP: g.TopP, TopK: g.TopK, RepetitionPenalty: g.RepetitionPenalty}
	if !g.DoSample {
		p.Temperature = 0
	}
	return AskOptions{MaxTokens: g.MaxNewTokens, Sample: p}
}

// Step is one generated token: its id, the text it completes (may be "" inside a multi-byte
// character) and, when asked for, the most likely tokens of that step with their natural-log
// probabilities under the model (before temperature and penalties). A last Step with ID -1
// carries text the decoder held back to the end.
type Step struct {
	ID   int32
	Text string
	Top  []Logprob
}

// Logprob is a token id with its log-probability; it is written as [ID, LOGPROB] in JSON.
type Logprob struct {
	ID      int32
	Logprob float64
}

func (l Logprob) MarshalJSON() ([]byte, error) { return json.Marshal([]any{l.ID, l.Logprob}) }

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

// Image preprocesses and encodes a picture for this model.
func (q *VQA) Image(source string, img image.Image) (*Image, error) {
	im, err := q.Model.PreprocessImage(source, img)
	if err != nil {
		return nil, err
	}
	if err := q.Model.EncodeImage(im); err != nil {
		return nil, err
	}
	return im, nil
}

// Ask answers question about img (nil: a text-only question), calling emit with each step as
// soon as it is sampled. emit's error or cancelling ctx stops generation between tokens.
func (q *VQA) Ask(ctx context.Context, source string, img image.Image, question string, o AskOptions, emit func(Step) error) (Timings, error) {
	var tm Timings
	var im *Image
	if img != nil {
		var err error
		if im, err = q.Image(source, img); err != nil {
			return tm, err
		}
		tm.Preprocess, tm.Vision = im.Preprocess, im.Encode
		if err := ctx.Err(); err != nil { // given up while the picture was encoded: no prefill
			return tm, err
		}
	}
	in, err := q.Model.Prompt(q.Tok, im, question)
	if err != nil {
		return tm, err
	}
	return q.Generate(ctx, in, o, emit, tm)
}

// Generate samples an answer after the laid-out prompt in (Ask without the layout step).
func (q *VQA) Generate(ctx context.Context, in Input, o AskOptions, emit func(Step) error, tm Timings) (out Timings, err error) {
	m := q.Model
	ids := in.IDs
	tm.PromptTokens = len(ids)
	info := m.Info()
	maxSeq := info.MaxSeq
	if maxSeq <= 0 {
		maxSeq = len(ids) + 256
	}
	if len(ids) >= maxSeq {
		return tm, fmt.Errorf("multimodal: prompt of %d tokens does not fit max_position_embeddings %d", len(ids), maxSeq)
	}
	n := o.MaxTokens
	if n <= 0 {
		if n = q.Gen.MaxLength - len(ids); n <= 0 {
			n = 256
		}
	}
	n = min(n, maxSeq-len(ids))
	var stop []int32
	for _, id := range q.Gen.EOSTokenIDs {
		stop = append(stop, int32(id))
	}
	stop = append(stop, info.EOS...)
	c := m.NewCache(len(ids) + n)
	smp := sample.New(o.Sample)
	dec := q.Tok.NewStreamDecoder()
	img := 0
	for i, id := range ids {
		if img < len(in.ImageAt) && in.ImageAt[img] == i {
			img++
			continue
		}
		dec.Push(int(id)) // the prompt primes the decoder; only new text is emitted
	}
	history := slices.Clone(ids)
	t0 := time.Now()
	logits, err := m.ForwardInput(c, in, false)
	tm.Prompt = time.Since(t0)
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
		st := Step{ID: next, Text: dec.Push(int(next))}
		if o.TopLogprobs > 0 {
			st.Top = TopLogprobs(logits, o.TopLogprobs)
		}
		if err := emit(st); err != nil {
			return tm, err
		}
		if tm.NewTokens >= n {
			continue
		}
		if c.Len() >= c.Cap() {
			tm.StoppedBy = "context"
			break
		}
		if logits, err = m.Forward(c, []int32{next}, false); err != nil {
			return tm, err
		}
	}
	if txt := dec.Flush(); txt != "" {
		if err := emit(Step{ID: -1, Text: txt}); err != nil {
			return tm, err
		}
	}
	return tm, nil
}

// TopLogprobs is the k most likely tokens of logits with their log-softmax values (float64;
// ties by lower id first).
func TopLogprobs(logits []float32, k int) []Logprob {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - mx)
	}
	lse := mx + math.Log(sum)
	k = min(k, len(logits))
	top := make([]int, 0, k+1) // ids by decreasing logit, kept sorted by insertion
	for i, v := range logits {
		if len(top) == k && v <= logits[top[k-1]] {
			continue
		}
		j := len(top)
		top = append(top, i)
		for ; j > 0 && logits[top[j-1]] < v; j-- {
			top[j] = top[j-1]
		}
		top[j] = i
		top = top[:min(len(top), k)]
	}
	out := make([]Logprob, len(top))
	for i, id := range top {
		out[i] = Logprob{ID: int32(id), Logprob: float64(logits[id]) - lse}
	}
	return out
}

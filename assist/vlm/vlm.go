// Package vlm is the assistant's vision-language answer engine: whichever vision-language model
// is installed (`[models] vlm = DIR`: CogVLM2, SmolVLM, any architecture that implements
// models/multimodal.Model) answers "what is in front of me" and open questions about the
// picture, streaming its answer piece by piece into the speech queue as the tokens come. It
// knows no architecture: models/multimodal opens the folder through the registry. It registers
// itself as the "vlm" engine; cmd/assist imports it (and the architectures). No cgo: the model
// runs on the CUDA backend through purego when a GPU is usable, else on the CPU.
package vlm

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	_ "github.com/rpiq/rpiq/models/archs" // every architecture the registry can open
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/runtime/cudabackend"
)

func init() { assist.RegisterEngine("vlm", newEngine) }

// MaxTokens bounds an answer per verbosity setting (a spoken answer should be short).
var MaxTokens = map[string]int{"brief": 48, "normal": 96, "detailed": 256}

// Engine answers with a vision-language model. One answer runs at a time (the model and its memory are
// shared); a second request waits for the first, which barge-in cancels.
type Engine struct {
	q      *multimodal.VQA
	opts   multimodal.AskOptions
	mu     sync.Mutex
	closer func() error // unmaps the weights; nil when New was given the model
}

// New makes an engine of a loaded model; maxTokens <= 0 keeps the generation config's limit.
func New(q *multimodal.VQA, maxTokens int) *Engine {
	o := q.DefaultOptions()
	if maxTokens > 0 {
		o.MaxTokens = maxTokens
	}
	return &Engine{q: q, opts: o}
}

func newEngine(cfg config.Config) (assist.Engine, error) {
	dir := cfg.Models.Path(cfg.Models.VLM) // a relative folder is in the model folder, as doctor and check read it
	if dir == "" {
		return nil, fmt.Errorf("%w: no vision-language model is configured (models.vlm)", assist.ErrNotInstalled)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: models.vlm %s has no config.json", assist.ErrNotInstalled, dir)
	}
	be := cudabackend.OpenOrCPU(cudabackend.Options{}, 0, slog.Default())
	q, closer, err := multimodal.Open(dir, be) // until a settings reload replaces the engine (Close)
	if err != nil {
		return nil, fmt.Errorf("models.vlm %s: %w", dir, err)
	}
	e := New(q, MaxTokens[cfg.Verbosity])
	e.closer = closer
	return e, nil
}

// Close frees the model's weights, after the answer in progress (the router closes the engines
// a settings reload replaced, once no answer uses them). Later answers fail.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.closer
	e.closer, e.q = nil, nil
	if c != nil {
		return c()
	}
	return nil
}

// Name implements assist.Engine.
func (e *Engine) Name() string { return "vlm" }

// Answer implements assist.Engine: the model's answer to question about frame (nil: no picture),
// each complete piece of text handed to emit as soon as it is decoded. emit's error (barge-in)
// or ctx ends the answer.
func (e *Engine) Answer(ctx context.Context, frame image.Image, question string, emit func(assist.Piece) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.q == nil {
		return errors.New("vlm: the engine was closed")
	}
	var img image.Image
	if frame != nil {
		img = frame
	}
	_, err := e.q.Ask(ctx, "camera frame", img, question, e.opts, func(s multimodal.Step) error {
		if s.Text == "" {
			return nil
		}
		return emit(assist.Piece{Text: s.Text, Confidence: -1})
	})
	return err
}

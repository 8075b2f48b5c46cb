package hfmodel

import (
	"fmt"
	"os"

	"github.com/rpiq/rpiq/runtime/backend"
)

// HeadQuantizer is a backend that can run a dense matrix through its quantized kernels (the CPU
// backend: q.FromRows).
// done(lo, hi) is called as rows lo..hi-1 of w have been read, so a loader can drop them from
// resident memory.
type HeadQuantizer interface {
	QuantizeHead(w backend.Weight, bits int, done func(lo, hi int)) (backend.Weight, error)
}

// releaser is a checkpoint whose memory-mapped tensors can be dropped from resident memory once
// used (hf.Checkpoint).
type releaser interface {
	Release(name string, off, n int64)
}

func (w *Weights) release(name string, off, n int64) {
	if r, ok := w.Checkpoint.(releaser); ok {
		r.Release(name, off, n)
	}
}

// HeadBits is how a tied embedding becomes the LM head of a quantized (GPTQ) checkpoint:
// RPIQ_LM_HEAD=q8 (the default: 8-bit per output row), q4 (4-bit, groups of 32) or keep (the
// embedding as stored, e.g. BF16). 0 means keep. Float checkpoints always keep theirs.
func HeadBits() (int, error) {
	switch v := os.Getenv("RPIQ_LM_HEAD"); v {
	case "", "q8":
		return 8, nil
	case "q4":
		return 4, nil
	case "keep":
		return 0, nil
	default:
		return 0, &Error{Msg: fmt.Sprintf("RPIQ_LM_HEAD=%q: want q8, q4 or keep", v)}
	}
}

// TiedHead is the LM head of a model whose lm_head is its embedding (the checkpoint's tensor
// name): the embedding itself, or for a quantized checkpoint on a backend with quantized kernels,
// a quantized copy (HeadBits). The embedding's pages are dropped from resident memory as they are
// read (lookups map back in the rows they touch).
// The head of Llama-3.2-1B is 128256×2048: in BF16 it is read at 525 MB per token, more than
// all its 4-bit layers; 8-bit halves that (docs/BENCHMARKS.md, and README for the effect on KL).
func (w *Weights) TiedHead(embed backend.Weight, name string) backend.Weight {
	if w.Err != nil || embed == nil || w.Quant == nil {
		return embed
	}
	hq, ok := w.Backend.(HeadQuantizer)
	if !ok || os.Getenv("RPIQ_GPTQ") == "dequant" {
		return embed
	}
	bits, err := HeadBits()
	if err != nil {
		w.fail(err)
		return nil
	}
	if bits == 0 {
		return embed
	}
	if lb, ok := w.Backend.(LayoutBackend); ok {
		if _, isQ := lb.Layout(embed); isQ {
			return embed // a quantized embedding is its own head
		}
	}
	key := []string{fmt.Sprintf("lm_head=%s q%d", name, bits)}
	if ws, ok := w.pack.lookup(key, []int{embed.Rows()}, embed.Cols()); ok {
		return ws[0]
	}
	w.pack.miss()
	rowBytes := int64(0)
	if info, ok := w.Checkpoint.Info(name); ok && embed.Rows() > 0 {
		rowBytes = info.Bytes() / int64(embed.Rows())
	}
	h, err := hq.QuantizeHead(embed, bits, func(lo, hi int) {
		w.release(name, int64(lo)*rowBytes, int64(hi-lo)*rowBytes)
	})
	if err != nil {
		w.fail(err)
		return nil
	}
	w.pack.record(key, []backend.Weight{h})
	return h
}

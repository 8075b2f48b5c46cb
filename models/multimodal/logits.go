package multimodal

import (
	"fmt"

	"github.com/rpiq/rpiq/models/tokenizer"
)

// Logits runs im followed by text (Layout: no template) through m in one batched pass and
// returns every position's logits (rows of Vocab) and the position of text's first token, so
// row first+j-1 predicts text[j]. im is encoded first when it has no embeddings yet. This is
// what `rpiq eval --image` scores, for a model and its reference alike.
func Logits(m Model, tok tokenizer.Tokenizer, im *Image, text []int32) (logits []float32, first int, err error) {
	if im != nil && im.Embeddings == nil {
		if err := m.EncodeImage(im); err != nil {
			return nil, 0, err
		}
	}
	in, err := m.Layout(tok, im, text)
	if err != nil {
		return nil, 0, err
	}
	first = len(in.IDs) - len(text)
	if max := m.Info().MaxSeq; max > 0 && len(in.IDs) > max {
		return nil, 0, fmt.Errorf("multimodal: image and text are %d tokens, more than max_position_embeddings %d", len(in.IDs), max)
	}
	logits, err = m.ForwardInput(m.NewCache(len(in.IDs)), in, true)
	return logits, first, err
}

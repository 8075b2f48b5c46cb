package cogvlm2

import (
	"fmt"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/model"
)

// CogVLMForCausalLM opens through hfmodel as a text-only model.Model too, so rpiq generate and
// rpiq eval work on it (every token is a language token: positions count up, the language
// expert runs). Images go through Model.Forward / VQA.Ask.
func init() {
	hfmodel.Register(hfmodel.Arch{Name: Arch, Config: readConfig, New: open})
}

func open(c *hf.Config, w *hfmodel.Weights) (model.Model, error) {
	cfg, err := FromHF(w.Checkpoint.Dir()+"/config.json", c)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg, w)
	if err != nil {
		return nil, err
	}
	return &TextModel{m}, nil
}

// TextModel is a CogVLM2 used without images.
type TextModel struct{ M *Model }

func (t *TextModel) Info() model.Info {
	c := t.M.cfg.LM
	eos := make([]int32, len(c.EOSTokenIDs))
	for i, id := range c.EOSTokenIDs {
		eos[i] = int32(id)
	}
	return model.Info{Arch: c.Architecture, Vocab: c.VocabSize, Hidden: c.HiddenSize, Layers: c.NumLayers,
		MaxSeq: c.MaxPositions, BOS: int32(c.BOSTokenID), EOS: eos, WeightBytes: t.M.bytes,
		KVBytesPerPos: int64(2 * c.NumLayers * t.M.attn.KVHeads * t.M.attn.HeadDim * 4)}
}

func (t *TextModel) NewCache(maxSeq int) backend.Cache { return t.M.NewSequence(maxSeq).Cache }

// Forward runs language tokens at cache positions c.Len()...: with no image, position ids are
// the cache positions.
func (t *TextModel) Forward(c backend.Cache, tokens []int32, all bool) ([]float32, error) {
	start := c.Len()
	s := &Sequence{Cache: c, types: make([]int, start), pos: make([]int32, start)}
	for i := range s.pos {
		s.pos[i] = int32(i)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("cogvlm2: forward of no tokens")
	}
	return t.M.forward(s, Input{IDs: tokens, Types: make([]int, len(tokens))}, all)
}

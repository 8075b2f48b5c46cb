package cogvlm2

import (
	"fmt"
	"image"
	"time"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/model"
)

// The one registration: hf.LoadConfig reads CogVLMForCausalLM configs with readConfig, and
// hfmodel.Open returns a *VLM (a model.Model that reads images: multimodal.Model).
func init() {
	hfmodel.Register(hfmodel.Arch{Name: Arch, Config: readConfig, New: open, Inspect: inspect})
}

func open(c *hf.Config, w *hfmodel.Weights) (model.Model, error) {
	cfg, err := FromHF(w.Checkpoint.Dir()+"/"+hf.ConfigFile, c)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg, w)
	if err != nil {
		return nil, err
	}
	return &VLM{m}, nil
}

// VLM is a CogVLM2 as the registry opens it: model.Model for text (every token a language
// token: positions count up, the language expert runs; rpiq generate and eval work on it) and
// multimodal.Model for pictures. Its caches are *Sequence, so a decode step after an image
// prompt continues that prompt's position ids.
type VLM struct{ M *Model }

var _ multimodal.Model = (*VLM)(nil)

func (t *VLM) Info() model.Info {
	c := t.M.cfg.LM
	eos := make([]int32, len(c.EOSTokenIDs))
	for i, id := range c.EOSTokenIDs {
		eos[i] = int32(id)
	}
	return model.Info{Arch: c.Architecture, Vocab: c.VocabSize, Hidden: c.HiddenSize, Layers: c.NumLayers,
		MaxSeq: c.MaxPositions, BOS: int32(c.BOSTokenID), EOS: eos, WeightBytes: t.M.bytes,
		KVBytesPerPos: int64(2 * c.NumLayers * t.M.attn.KVHeads * t.M.attn.HeadDim * 4)}
}

// NewCache returns an empty *Sequence.
func (t *VLM) NewCache(maxSeq int) backend.Cache { return t.M.NewSequence(maxSeq) }

// sequence is c as a Sequence: one of ours, or a bare backend cache whose positions so far
// were all language tokens.
func (t *VLM) sequence(c backend.Cache) *Sequence {
	if s, ok := c.(*Sequence); ok {
		return s
	}
	start := c.Len()
	s := &Sequence{Cache: c, types: make([]int, start), pos: make([]int32, start)}
	for i := range s.pos {
		s.pos[i] = int32(i)
	}
	return s
}

// Forward runs language tokens after what c holds.
func (t *VLM) Forward(c backend.Cache, tokens []int32, all bool) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("cogvlm2: forward of no tokens")
	}
	return t.M.forward(t.sequence(c), Input{IDs: tokens, Types: make([]int, len(tokens))}, all)
}

// PreprocessImage is Preprocess at the tower's image size (Pillow-exact bicubic resize to a
// square, CLIP normalisation): 3×S×S, ImageTokens() rows once encoded.
func (t *VLM) PreprocessImage(source string, img image.Image) (*multimodal.Image, error) {
	t0 := time.Now()
	v := t.M.cfg.Vision
	pix, err := Preprocess(source, img, v.ImageSize)
	if err != nil {
		return nil, err
	}
	return &multimodal.Image{Source: source, Pixels: pix, Shape: []int{3, v.ImageSize, v.ImageSize},
		Tokens: v.ImageTokens(), Preprocess: time.Since(t0)}, nil
}

// EncodeImage runs the vision tower and adapter: [boi, patches, eoi] of LM width.
func (t *VLM) EncodeImage(im *multimodal.Image) error {
	t0 := time.Now()
	emb, err := t.M.EncodeImage(im.Pixels)
	if err != nil {
		return fmt.Errorf("%s: %w", im.Source, err)
	}
	im.Embeddings, im.Encode = emb, time.Since(t0)
	return nil
}

// Prompt is [BOS] + image tokens + PromptText(template_version, question), the text encoded
// without special tokens (reference §1.6).
func (t *VLM) Prompt(tok tokenizer.Tokenizer, im *multimodal.Image, question string) (multimodal.Input, error) {
	ids, err := tok.Encode(PromptText(t.M.cfg.TemplateVersion, question), false)
	if err != nil {
		return multimodal.Input{}, err
	}
	return t.Layout(tok, im, toInt32(ids))
}

// Layout is [BOS] + image tokens + text: the model's input with the "base" template.
func (t *VLM) Layout(_ tokenizer.Tokenizer, im *multimodal.Image, text []int32) (multimodal.Input, error) {
	n := 0
	if im != nil {
		n = im.Tokens
	}
	ids, tt := BuildInput(int32(t.M.cfg.LM.BOSTokenID), n, text)
	in := multimodal.Input{IDs: ids, Image: im}
	for i, ty := range tt {
		if ty == VisionTokenType {
			in.ImageAt = append(in.ImageAt, i)
		}
	}
	return in, nil
}

// ForwardInput runs a laid-out prompt: the ImageAt positions are vision tokens (one contiguous
// run) taking the image's embeddings, the others language tokens.
func (t *VLM) ForwardInput(c backend.Cache, in multimodal.Input, all bool) ([]float32, error) {
	x := Input{IDs: in.IDs, Types: make([]int, len(in.IDs))}
	for _, i := range in.ImageAt {
		if i < 0 || i >= len(in.IDs) {
			return nil, fmt.Errorf("cogvlm2: image position %d outside the input of %d tokens", i, len(in.IDs))
		}
		x.Types[i] = VisionTokenType
	}
	if len(in.ImageAt) > 0 {
		if in.Image == nil || in.Image.Embeddings == nil {
			return nil, fmt.Errorf("cogvlm2: an input with %d image positions needs an encoded image", len(in.ImageAt))
		}
		x.Image = in.Image.Embeddings
	}
	if len(in.IDs) == 0 {
		return nil, fmt.Errorf("cogvlm2: forward of no tokens")
	}
	return t.M.forward(t.sequence(c), x, all)
}

func toInt32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

package smolvlm

import (
	"errors"
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

// The registration: hf.LoadConfig reads Idefics3 and SmolVLM2 configs with readConfig, and
// hfmodel.Open returns a *VLM (a model.Model that reads images: multimodal.Model).
func init() {
	for _, name := range []string{ArchIdefics3, ArchSmolVLM} {
		hfmodel.Register(hfmodel.Arch{Name: name, Config: readConfig, New: open, Inspect: inspect})
	}
}

// readConfig fills the generic config with the decoder's hyper-parameters (text_config: what
// generate, eval and the size checks need) and keeps the whole SmolVLM config in c.Arch.
func readConfig(f *hf.Fields, c *hf.Config) {
	sc, err := parse(f.File(), f.Raw())
	if err != nil {
		var he *hf.Error
		if errors.As(err, &he) {
			f.Fail(he.Field, "%s", he.Problem)
		} else {
			f.Fail("", "%v", err)
		}
		return
	}
	arch, mt, raw := c.Architecture, c.ModelType, c.Raw
	*c = *sc.Text
	c.Architecture, c.ModelType, c.Raw, c.Arch = arch, mt, raw, sc
}

func open(c *hf.Config, w *hfmodel.Weights) (model.Model, error) {
	sc, ok := c.Arch.(*Config)
	if !ok {
		return nil, fmt.Errorf("smolvlm: config of %s was not read by this package", c.Architecture)
	}
	sc.Quantization, sc.Text.Quantization = c.Quantization, c.Quantization // quantize_config.json too
	m, err := New(sc, w)
	if err != nil {
		return nil, err
	}
	pc, err := LoadProcessorConfig(w.Checkpoint.Dir(), sc.Vision.ImageSize)
	if err != nil {
		return nil, err
	}
	return &VLM{M: m, Proc: pc}, nil
}

// VLM is a SmolVLM as the registry opens it: model.Model for text and multimodal.Model for
// pictures.
type VLM struct {
	M    *Model
	Proc ProcessorConfig
}

var _ multimodal.Model = (*VLM)(nil)

func (t *VLM) Info() model.Info {
	c := t.M.cfg.Text
	eos := make([]int32, len(c.EOSTokenIDs))
	for i, id := range c.EOSTokenIDs {
		eos[i] = int32(id)
	}
	return model.Info{Arch: t.M.cfg.Architecture, Vocab: c.VocabSize, Hidden: c.HiddenSize, Layers: c.NumLayers,
		MaxSeq: c.MaxPositions, BOS: int32(c.BOSTokenID), EOS: eos, WeightBytes: t.M.bytes,
		KVBytesPerPos: int64(2 * c.NumLayers * t.M.attn.KVHeads * t.M.attn.HeadDim * 4)}
}

// NewCache returns an empty KV cache.
func (t *VLM) NewCache(maxSeq int) backend.Cache { return t.M.NewSequence(maxSeq).Cache }

// Forward runs text tokens after what c holds.
func (t *VLM) Forward(c backend.Cache, tokens []int32, all bool) ([]float32, error) {
	return t.M.forward(&Sequence{Cache: c}, tokens, nil, all, nil)
}

// PreprocessImage is the image processor (Preprocess with the checkpoint's
// preprocessor_config.json): tiles×3×T×T pixels, ImageSeqLen() rows per tile once encoded.
func (t *VLM) PreprocessImage(source string, img image.Image) (*multimodal.Image, error) {
	t0 := time.Now()
	px, err := Preprocess(source, img, t.Proc)
	if err != nil {
		return nil, err
	}
	T := t.M.cfg.Vision.ImageSize
	pix := make([]float32, 0, len(px.Tiles)*3*T*T)
	for _, tile := range px.Tiles {
		pix = append(pix, tile...)
	}
	return &multimodal.Image{Source: source, Pixels: pix, Shape: []int{len(px.Tiles), 3, T, T}, Rows: px.Rows, Cols: px.Cols,
		Tokens: len(px.Tiles) * t.M.cfg.ImageSeqLen(), Preprocess: time.Since(t0)}, nil
}

// EncodeImage encodes every tile and stacks the embeddings in tile order.
func (t *VLM) EncodeImage(im *multimodal.Image) error {
	t0 := time.Now()
	emb, err := t.M.EncodeTiles(im.Pixels)
	if err != nil {
		return fmt.Errorf("%s: %w", im.Source, err)
	}
	im.Embeddings, im.Encode = emb, time.Since(t0)
	return nil
}

// EncodeTiles encodes consecutive CHW tiles (n·3·T·T values) into n·ImageSeqLen() rows.
func (m *Model) EncodeTiles(pix []float32) (backend.Tensor, error) {
	T, L := m.cfg.Vision.ImageSize, m.cfg.ImageSeqLen()
	per := 3 * T * T
	if len(pix) == 0 || len(pix)%per != 0 {
		return nil, fmt.Errorf("smolvlm: %d pixel values are not whole %d×%d tiles", len(pix), T, T)
	}
	n := len(pix) / per
	out := m.be.NewTensor(n*L, m.cfg.Text.HiddenSize)
	for i := 0; i < n; i++ {
		e, err := m.EncodeTile(pix[i*per : (i+1)*per])
		if err != nil {
			return nil, err
		}
		m.be.Copy(m.be.Rows(out, i*L, (i+1)*L), e)
	}
	return out, nil
}

// Prompt is the chat template around the question with the image expanded as the processor
// does, encoded by the checkpoint's tokenizer (its added tokens <image>,
// <fake_token_around_image>, <global-img>, <row_r_col_c> become their ids).
func (t *VLM) Prompt(tok tokenizer.Tokenizer, im *multimodal.Image, question string) (multimodal.Input, error) {
	text := ChatPrompt(question, im != nil)
	if im != nil {
		var err error
		if text, err = ExpandImage(text, t.M.cfg.ImageSeqLen(), im.Rows, im.Cols); err != nil {
			return multimodal.Input{}, err
		}
	}
	ids, err := tok.Encode(text, false)
	if err != nil {
		return multimodal.Input{}, err
	}
	return t.input(toInt32(ids), im)
}

// Layout is the expanded image (when there is one) followed by text, no template; BOS first
// when the tokenizer has one.
func (t *VLM) Layout(tok tokenizer.Tokenizer, im *multimodal.Image, text []int32) (multimodal.Input, error) {
	var ids []int32
	if b := tok.BOS(); b >= 0 {
		ids = append(ids, int32(b))
	}
	if im != nil {
		pre, err := tok.Encode(ImagePrompt(t.M.cfg.ImageSeqLen(), im.Rows, im.Cols), false)
		if err != nil {
			return multimodal.Input{}, err
		}
		ids = append(ids, toInt32(pre)...)
	}
	return t.input(append(ids, text...), im)
}

// input finds the image positions (the ids equal to image_token_id) and checks their number.
func (t *VLM) input(ids []int32, im *multimodal.Image) (multimodal.Input, error) {
	in := multimodal.Input{IDs: ids, Image: im}
	for i, id := range ids {
		if int(id) == t.M.cfg.ImageTokenID {
			in.ImageAt = append(in.ImageAt, i)
		}
	}
	want := 0
	if im != nil {
		want = im.Tokens
	}
	if len(in.ImageAt) != want {
		return in, fmt.Errorf("smolvlm: the prompt has %d image tokens (id %d), the picture needs %d: does the tokenizer have %s as one added token?",
			len(in.ImageAt), t.M.cfg.ImageTokenID, want, ImageToken)
	}
	return in, nil
}

// ForwardInput runs a laid-out prompt: the ImageAt positions take the image's rows.
func (t *VLM) ForwardInput(c backend.Cache, in multimodal.Input, all bool) ([]float32, error) {
	ids := append([]int32(nil), in.IDs...)
	var img backend.Tensor
	if len(in.ImageAt) > 0 {
		if in.Image == nil || in.Image.Embeddings == nil {
			return nil, fmt.Errorf("smolvlm: an input with %d image positions needs an encoded image", len(in.ImageAt))
		}
		img = in.Image.Embeddings
		for _, i := range in.ImageAt {
			if i < 0 || i >= len(ids) {
				return nil, fmt.Errorf("smolvlm: image position %d outside the input of %d tokens", i, len(ids))
			}
			ids[i] = int32(t.M.cfg.ImageTokenID)
		}
	}
	return t.M.forward(&Sequence{Cache: c}, ids, img, all, nil)
}

func toInt32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

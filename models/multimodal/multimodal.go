// Package multimodal is the one capability a model that reads images adds to model.Model, and
// what is built on it without knowing the architecture: opening a checkpoint as a
// vision-language model, answering a question about a picture (streamed, with each step's top
// log-probabilities for `rpiq vqa --json`), and laying out image + text for `rpiq eval --image`
// and calibration. rpiq vqa, rpiq eval, rpiq quantize and assist's "vlm" engine use only this
// package; an architecture (models/cogvlm2, models/smolvlm) implements Model and registers with
// models/hfmodel like any other.
package multimodal

import (
	"image"
	"time"

	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/model"
)

// Model is a model.Model that also reads images. Text-only use (Forward) stays as for any model;
// a cache from NewCache carries whatever the architecture needs across calls (CogVLM2: token
// types and position ids), so Forward after ForwardInput continues the same sequence.
type Model interface {
	model.Model
	// PreprocessImage turns a decoded picture into what the vision encoder takes, as the
	// checkpoint's image processor does (resize rule, rescale, normalise, tiles), and says how
	// many embedding rows it will become. source names the picture in errors.
	PreprocessImage(source string, img image.Image) (*Image, error)
	// EncodeImage runs the vision encoder and connector on im's pixels and sets im.Embeddings.
	EncodeImage(im *Image) error
	// Prompt lays out a question about im (nil: no picture) in the checkpoint's prompt format
	// (template, image tokens, the model's own special tokens), ready for ForwardInput.
	Prompt(tok tokenizer.Tokenizer, im *Image, question string) (Input, error)
	// Layout is im followed by text as a plain continuation, no template: text is the suffix
	// of the returned IDs (what `rpiq eval --image` scores). im nil: text alone (with BOS).
	Layout(tok tokenizer.Tokenizer, im *Image, text []int32) (Input, error)
	// ForwardInput runs in at positions c.Len()... of a cache from NewCache, as Forward does:
	// the logits of the last position (all=false) or of every position (all=true). The
	// positions in in.ImageAt take im.Embeddings' rows instead of their token's embedding.
	ForwardInput(c backend.Cache, in Input, all bool) ([]float32, error)
}

// Image is one picture on its way into a model.
type Image struct {
	Source string
	// Pixels is the image processor's output and Shape its dimensions (CogVLM2: 3×H×W;
	// tiled processors: tiles×3×H×W); Rows and Cols are the tile grid when the processor
	// splits the picture (0 when it does not).
	Pixels     []float32
	Shape      []int
	Rows, Cols int
	// Tokens is how many embedding rows the picture becomes in the language model (the
	// number of ImageAt positions a layout gives it).
	Tokens int
	// Embeddings is set by EncodeImage: Tokens rows of the language model's width.
	Embeddings backend.Tensor
	// Preprocess and Encode are the times the two steps took.
	Preprocess, Encode time.Duration
}

// Input is a laid-out prompt: token ids, and which of them take the picture's embedding rows.
type Input struct {
	IDs []int32
	// ImageAt are the indices into IDs (ascending) that take Image.Embeddings' rows 0, 1, ...;
	// the ids there are the model's placeholder and are not embedded.
	ImageAt []int
	Image   *Image
}

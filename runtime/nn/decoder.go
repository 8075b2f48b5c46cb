package nn

import (
	"fmt"

	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/model"
)

// Decoder is the plumbing every decoder-only model shares: the forward pass over the KV cache
// (model.Model) and the quantizer's per-layer access (model.Layered). An architecture fills in
// its own parts — the embedding, one decoder layer, the head, each layer's linear groups — and
// embeds the Decoder in its model type, which then is a model.Layered.
type Decoder struct {
	Name    string // the architecture's name in errors ("llama")
	Backend backend.Backend
	Meta    model.Info // what Info returns
	Layers  int
	KVDim   int // per-position key (and value) width of one layer's cache
	// MaxPositions bounds positions for learned position embeddings (OPT); 0: no bound
	// beyond the cache.
	MaxPositions int
	Linear       Linears // every linear by HF module name (LinearF32, SetLinear)

	// EmbedAt is the hidden states entering layer 0 for tokens at positions pos... (it checks
	// the ids).
	EmbedAt func(tokens []int32, pos int) (backend.Tensor, error)
	// Layer runs decoder layer i on x (n×Hidden, positions pos...) with cache layer ci, calling
	// hook with the input of each of Groups(i) (nn.Tap), and returns the layer's output.
	Layer func(i int, x backend.Tensor, c backend.Cache, ci, pos int, hook model.Hook) backend.Tensor
	// Logits is the final norm and output projection of x, downloaded (rows × Vocab).
	Logits func(x backend.Tensor) []float32
	// Groups lists layer i's linears in true-sequential groups.
	Groups func(i int) [][]*Linear
}

func (d *Decoder) Info() model.Info { return d.Meta }

func (d *Decoder) NewCache(maxSeq int) backend.Cache {
	return d.Backend.NewCache(d.Layers, maxSeq, d.KVDim)
}

// Forward is the whole model: embed, the decoder layers, final norm, output projection.
func (d *Decoder) Forward(c backend.Cache, tokens []int32, all bool) ([]float32, error) {
	n, pos := len(tokens), c.Len()
	if n == 0 {
		return nil, fmt.Errorf("%s: forward of no tokens", d.Name)
	}
	if pos+n > c.Cap() {
		return nil, fmt.Errorf("%s: %d positions exceed the cache of %d", d.Name, pos+n, c.Cap())
	}
	if d.MaxPositions > 0 && pos+n > d.MaxPositions {
		return nil, fmt.Errorf("%s: %d positions exceed max_position_embeddings %d", d.Name, pos+n, d.MaxPositions)
	}
	x, err := d.EmbedAt(tokens, pos)
	if err != nil {
		return nil, err
	}
	for i := 0; i < d.Layers; i++ {
		x = d.Layer(i, x, c, i, pos, nil)
	}
	c.SetLen(pos + n)
	if !all {
		x = d.Backend.Rows(x, n-1, n)
	}
	return d.Logits(x), nil
}

// The quantizer's per-layer access (model.Layered).

func (d *Decoder) NumLayers() int { return d.Layers }

func (d *Decoder) Embed(tokens []int32) ([]float32, error) {
	if d.MaxPositions > 0 && len(tokens) > d.MaxPositions {
		return nil, fmt.Errorf("%s: %d tokens exceed max_position_embeddings %d", d.Name, len(tokens), d.MaxPositions)
	}
	x, err := d.EmbedAt(tokens, 0)
	if err != nil {
		return nil, err
	}
	out := make([]float32, x.Rows()*x.Cols())
	d.Backend.Download(out, x)
	return out, nil
}

func (d *Decoder) Linears(i int) [][]model.Linear { return Groups(d.Groups(i)...) }

func (d *Decoder) RunLayer(i int, h []float32, n int, hook model.Hook) ([]float32, error) {
	H := d.Meta.Hidden
	if i < 0 || i >= d.Layers || n <= 0 || len(h) != n*H {
		return nil, fmt.Errorf("%s: RunLayer(%d) on %d values as %d rows of %d (%d layers)", d.Name, i, len(h), n, H, d.Layers)
	}
	x := d.Backend.NewTensor(n, H)
	d.Backend.Upload(x, h)
	c := d.Backend.NewCache(1, n, d.KVDim)
	x = d.Layer(i, x, c, 0, 0, hook)
	out := make([]float32, len(h))
	d.Backend.Download(out, x)
	return out, nil
}

func (d *Decoder) LinearF32(name string) ([]float32, []float32, error) {
	return d.Linear.F32(d.Backend, name)
}

func (d *Decoder) SetLinear(name string, w backend.Weight, bias []float32) error {
	return d.Linear.Set(d.Backend, name, w, bias)
}

func (d *Decoder) Head(h []float32, n int) ([]float32, error) {
	H := d.Meta.Hidden
	if n <= 0 || len(h) != n*H {
		return nil, fmt.Errorf("%s: Head on %d values as %d rows of %d", d.Name, len(h), n, H)
	}
	x := d.Backend.NewTensor(n, H)
	d.Backend.Upload(x, h)
	return d.Logits(x), nil
}

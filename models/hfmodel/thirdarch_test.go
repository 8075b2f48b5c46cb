package hfmodel_test

// A third architecture added the way DESIGN.md says: everything below would be its own folder
// (config reader, constructor binding tensors through Weights, nn.Decoder for the plumbing,
// the Inspect hook) and one Register call; nothing in models/hf, hfmodel or the programs
// changes. hf.LoadConfig, hfmodel.Open, model.Layered (rpiq quantize's text path),
// hfmodel.Inspect and the generation loop then take it like any other.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/generate"
	"github.com/rpiq/rpiq/runtime/model"
	"github.com/rpiq/rpiq/runtime/nn"
)

// toy is "ToyForCausalLM": h = embed(t); each layer h += relu(W_i h) · toy_scale; logits = head h.
type toy struct {
	nn.Decoder
	be     backend.Backend
	scale  float32
	embed  backend.Weight
	layers []*nn.Linear
	head   *nn.Linear
}

type toyConfig struct{ Scale float64 }

func init() {
	hfmodel.Register(hfmodel.Arch{Name: "ToyForCausalLM", Config: readToy, New: newToy, Inspect: inspectToy})
}

func readToy(f *hf.Fields, c *hf.Config) {
	c.HiddenSize = f.Positive("hidden_size", true, 0)
	c.NumLayers = f.Positive("num_hidden_layers", true, 0)
	c.VocabSize = f.Positive("vocab_size", true, 0)
	c.MaxPositions = f.Positive("max_position_embeddings", false, 64)
	c.NumHeads, c.NumKVHeads, c.HeadDim, c.IntermediateSize = 1, 1, c.HiddenSize, c.HiddenSize
	c.BOSTokenID, c.EOSTokenIDs = f.TokenID("bos_token_id", 0), f.TokenIDs("eos_token_id", nil)
	c.Arch = &toyConfig{Scale: f.Float("toy_scale", 1)}
}

func newToy(c *hf.Config, w *hfmodel.Weights) (model.Model, error) {
	H, V := c.HiddenSize, c.VocabSize
	m := &toy{be: w.Backend, scale: float32(c.Arch.(*toyConfig).Scale)}
	m.embed = w.Matrix("embed.weight", V, H)
	lin := nn.Linears{}
	for i := 0; i < c.NumLayers; i++ {
		l := &nn.Linear{Name: fmt.Sprintf("layers.%d", i), W: w.Matrix(fmt.Sprintf("layers.%d.weight", i), H, H)}
		lin.Add(l)
		m.layers = append(m.layers, l)
	}
	m.head = &nn.Linear{Name: "head", W: w.Matrix("head.weight", V, H)}
	if w.Err != nil {
		return nil, w.Err
	}
	m.Decoder = nn.Decoder{Name: "toy", Backend: w.Backend, Layers: c.NumLayers, KVDim: 1, Linear: lin,
		Meta: model.Info{Arch: c.Architecture, Vocab: V, Hidden: H, Layers: c.NumLayers, MaxSeq: c.MaxPositions, BOS: -1},
		EmbedAt: func(tokens []int32, _ int) (backend.Tensor, error) {
			x := m.be.NewTensor(len(tokens), H)
			m.be.Embed(x, m.embed, tokens)
			return x, nil
		},
		Layer: func(i int, x backend.Tensor, _ backend.Cache, _, _ int, hook model.Hook) backend.Tensor {
			nn.Tap(m.be, hook, m.layers[i].Name, x)
			y := m.layers[i].Forward(m.be, x)
			m.be.ReLU(y)
			v := make([]float32, y.Rows()*y.Cols())
			m.be.Download(v, y)
			for j := range v {
				v[j] *= m.scale
			}
			m.be.Upload(y, v)
			m.be.Add(x, x, y)
			return x
		},
		Logits: func(x backend.Tensor) []float32 {
			y := m.head.Forward(m.be, x)
			out := make([]float32, y.Rows()*y.Cols())
			m.be.Download(out, y)
			return out
		},
		Groups: func(i int) [][]*nn.Linear { return [][]*nn.Linear{{m.layers[i]}} },
	}
	return m, nil
}

func inspectToy(c *hf.Config, _ int64) (*hfmodel.Inspection, error) {
	H, V, L := int64(c.HiddenSize), int64(c.VocabSize), int64(c.NumLayers)
	return &hfmodel.Inspection{Parameters: 2*V*H + L*H*H}, nil
}

func TestThirdArchitectureNeedsOnlyItsFolder(t *testing.T) {
	const H, V, L = 8, 11, 2
	dir := t.TempDir()
	cj := fmt.Sprintf(`{"architectures": ["ToyForCausalLM"], "hidden_size": %d, "num_hidden_layers": %d, "vocab_size": %d, "toy_scale": 0.5}`, H, L, V)
	os.WriteFile(filepath.Join(dir, hf.ConfigFile), []byte(cj), 0o644)
	w := map[string][]float32{}
	var ts []safetensors.Tensor
	add := func(name string, rows, cols int) {
		v := make([]float32, rows*cols)
		for i := range v {
			v[i] = float32(math.Sin(float64(len(name)*131+i*7))) * 0.5
		}
		w[name] = v
		ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: []int{rows, cols}, Data: f32bytes(v)})
	}
	add("embed.weight", V, H)
	for i := 0; i < L; i++ {
		add(fmt.Sprintf("layers.%d.weight", i), H, H)
	}
	add("head.weight", V, H)
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}

	cfg, err := hf.LoadConfig(dir)
	if err != nil || cfg.Arch.(*toyConfig).Scale != 0.5 {
		t.Fatalf("config: %+v %v", cfg, err)
	}
	m, _, closer, err := hfmodel.Open(dir, cpubackend.New(1))
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	if _, ok := m.(model.Layered); !ok {
		t.Fatal("nn.Decoder did not make the toy a model.Layered")
	}
	if in, err := hfmodel.Inspect(cfg, 0); err != nil || in.Parameters != 2*V*H+L*H*H {
		t.Fatalf("inspect: %+v %v", in, err)
	}
	// The logits of the last token against the formula in float64.
	tokens := []int32{3, 7, 1}
	got, err := model.Logits(m, tokens)
	if err != nil {
		t.Fatal(err)
	}
	for p, tok := range tokens {
		h := make([]float64, H)
		for j := range h {
			h[j] = float64(w["embed.weight"][int(tok)*H+j])
		}
		for i := 0; i < L; i++ {
			W := w[fmt.Sprintf("layers.%d.weight", i)]
			y := make([]float64, H)
			for r := 0; r < H; r++ {
				for c := 0; c < H; c++ {
					y[r] += float64(W[r*H+c]) * h[c]
				}
			}
			for r := range h {
				h[r] += 0.5 * math.Max(y[r], 0)
			}
		}
		for v := 0; v < V; v++ {
			var want float64
			for c := 0; c < H; c++ {
				want += float64(w["head.weight"][v*H+c]) * h[c]
			}
			if g := float64(got[p*V+v]); math.Abs(g-want) > 1e-5*math.Max(1, math.Abs(want)) {
				t.Fatalf("position %d logit %d: %g, float64 %g", p, v, g, want)
			}
		}
	}
	var ids []int32
	if _, err := generate.Run(m, tokens, generate.Options{MaxTokens: 4}, func(id int32) error { ids = append(ids, id); return nil }); err != nil || len(ids) != 4 {
		t.Fatalf("generate: %v %v", ids, err)
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		u := math.Float32bits(f)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

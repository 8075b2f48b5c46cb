package smolvlm

import (
	"github.com/rpiq/rpiq/models/hfmodel"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/sample"
)

// tinyIDs lays out a prompt as the processor does for a rows×cols split (ids: text < 256,
// <fake_token_around_image> 261, <row_r_col_c> 262+, <global-img> 270, "\n" 10).
func tinyIDs(cfg *Config, rows, cols int, text []int32) []int32 {
	img := int32(cfg.ImageTokenID)
	seq := cfg.ImageSeqLen()
	ids := []int32{1, 85, 58}
	put := func(tag int32) {
		ids = append(ids, 261, tag)
		for range seq {
			ids = append(ids, img)
		}
	}
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			put(int32(262 + r*cols + c))
		}
		ids = append(ids, 10)
	}
	if rows > 0 {
		ids = append(ids, 10)
	}
	put(270)
	ids = append(ids, 261)
	return append(ids, text...)
}

func randomTiles(cfg *Config, n int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	S := cfg.Vision.ImageSize
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, 3*S*S)
		for j := range out[i] {
			out[i][j] = float32(2*r.Float64() - 1)
		}
	}
	return out
}

func relDiff(got []float32, want []float64) float64 {
	num, den := 0.0, 0.0
	for i := range want {
		num = math.Max(num, math.Abs(float64(got[i])-want[i]))
		den = math.Max(den, math.Abs(want[i]))
	}
	return num / den
}

// TestMatchesReference: the tiny random checkpoint written to disk and loaded like a real one,
// a 2×2 split image (4 tiles + the global image) and a question; every position's logits within
// 1e-4 (relative to the largest) of the float64 reference, and 8 greedy ids equal.
func TestMatchesReference(t *testing.T) {
	for _, tied := range []bool{false, true} {
		s := TinySizes
		s.Tied = tied
		dir := t.TempDir()
		cfg, err := WriteRandom(dir, s, 11)
		if err != nil {
			t.Fatal(err)
		}
		m, closer, err := Load(dir, cpubackend.New(2))
		if err != nil {
			t.Fatal(err)
		}
		defer closer()
		ref := newRef(t, cfg, 11)
		tiles := randomTiles(cfg, 5, 3)
		emb := m.be.NewTensor(5*cfg.ImageSeqLen(), cfg.Text.HiddenSize)
		var refImg [][]float64
		for i, tile := range tiles {
			e, err := m.EncodeTile(tile)
			if err != nil {
				t.Fatal(err)
			}
			m.be.Copy(m.be.Rows(emb, i*cfg.ImageSeqLen(), (i+1)*cfg.ImageSeqLen()), e)
			t64 := make([]float64, len(tile))
			for j, v := range tile {
				t64[j] = float64(v)
			}
			refImg = append(refImg, ref.encode(t64)...)
		}
		got := make([]float32, emb.Rows()*emb.Cols())
		m.be.Download(got, emb)
		var want []float64
		for _, row := range refImg {
			want = append(want, row...)
		}
		if e := relDiff(got, want); e > 1e-5 {
			t.Errorf("tied=%v: image embeddings off by %.3g relative", tied, e)
		}
		ids := tinyIDs(cfg, 2, 2, []int32{40, 41, 99, 7})
		seq := m.NewSequence(len(ids) + 16)
		all, err := m.ForwardAll(seq, ids, emb)
		if err != nil {
			t.Fatal(err)
		}
		wantL := ref.logits(ids, refImg)
		var flat []float64
		for _, row := range wantL {
			flat = append(flat, row...)
		}
		if e := relDiff(all, flat); e > 1e-4 {
			t.Errorf("tied=%v: logits off by %.3g relative (want ≤ 1e-4)", tied, e)
		} else {
			t.Logf("tied=%v: %d positions' logits within %.2g relative of the float64 reference", tied, len(ids), e)
		}
		V := cfg.Text.VocabSize
		next := int32(sample.Argmax(all[(len(ids)-1)*V:]))
		seqIDs := append([]int32(nil), ids...)
		for step := 0; step < 8; step++ {
			rl := ref.logits(seqIDs, refImg)
			want := argmax64(rl[len(rl)-1])
			if int(next) != want {
				t.Fatalf("tied=%v: greedy step %d: got id %d, reference %d", tied, step, next, want)
			}
			seqIDs = append(seqIDs, next)
			l, err := m.Forward(seq, []int32{next}, nil)
			if err != nil {
				t.Fatal(err)
			}
			next = int32(sample.Argmax(l))
		}
	}
}

func argmax64(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// TestPixelShuffleMatchesTorchOps: the direct gather equals pixel_shuffle's view/permute steps.
func TestPixelShuffleMatchesTorchOps(t *testing.T) {
	for _, c := range []struct{ G, D, s int }{{8, 3, 2}, {32, 2, 4}, {27, 2, 3}} {
		in := make([]float32, c.G*c.G*c.D)
		x := make([][]float64, c.G*c.G)
		for i := range x {
			x[i] = make([]float64, c.D)
			for d := range x[i] {
				in[i*c.D+d] = float32(i*c.D + d)
				x[i][d] = float64(i*c.D + d)
			}
		}
		got := PixelShuffle(in, c.G, c.D, c.s)
		want := refPixelShuffle(x, c.s)
		for i, row := range want {
			for j, v := range row {
				if float64(got[i*len(row)+j]) != v {
					t.Fatalf("G=%d s=%d: token %d value %d = %v, want %v", c.G, c.s, i, j, got[i*len(row)+j], v)
				}
			}
		}
	}
}

func TestImageTokenCountChecked(t *testing.T) {
	cfg, _ := TinySizes.Config()
	be := cpubackend.New(1)
	m, err := New(cfg, &hfmodel.Weights{Checkpoint: RandomTensors(cfg, 1), Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	ids := tinyIDs(cfg, 0, 0, []int32{5})
	short := be.NewTensor(cfg.ImageSeqLen()-1, cfg.Text.HiddenSize)
	if _, err := m.Forward(m.NewSequence(64), ids, short); err == nil || !strings.Contains(err.Error(), "image tokens") {
		t.Fatalf("want an error about the image token count, got %v", err)
	}
	if _, err := m.Forward(m.NewSequence(64), []int32{5, 400}, nil); err == nil {
		t.Fatal("want an error for an id outside the vocabulary")
	}
}

func TestMissingTensorNamed(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteRandom(dir, TinySizes, 1); err != nil {
		t.Fatal(err)
	}
	// a config promising one more vision layer than the checkpoint holds
	s := TinySizes
	s.VLayers = 3
	if err := os.WriteFile(filepath.Join(dir, "config.json"), s.ConfigJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(dir, cpubackend.New(1))
	if err == nil || !strings.Contains(err.Error(), "model.vision_model.encoder.layers.2.") {
		t.Fatalf("want an error naming the missing layer-2 tensor, got %v", err)
	}
}

package smolvlm

import (
	"context"
	"testing"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/sample"
)

func writeTinyTokenizer(t testing.TB, dir string) {
	t.Helper()
	if err := WriteTinyTokenizer(dir); err != nil {
		t.Fatal(err)
	}
}

// TestAskThroughRegistry: the folder opens through hfmodel's registry as a multimodal.Model;
// a 60×40 picture becomes 4×3 tiles + the global image (13·16 image tokens laid out by the
// chat template and the tokenizer's added tokens), and the greedy answer equals the float64
// reference's on the same pixels and ids.
func TestAskThroughRegistry(t *testing.T) {
	dir := t.TempDir()
	cfg, err := WriteRandom(dir, TinySizes, 5)
	if err != nil {
		t.Fatal(err)
	}
	writeTinyTokenizer(t, dir)
	if c, err := hf.LoadConfig(dir); err != nil || c.Architecture != ArchIdefics3 || c.HiddenSize != TinySizes.Hidden {
		t.Fatalf("hf.LoadConfig: %+v %v", c, err)
	}
	q, closer, err := multimodal.Open(dir, cpubackend.New(2))
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	img := synth(60, 40)
	im, err := q.Image("synth.png", img)
	if err != nil {
		t.Fatal(err)
	}
	if im.Rows != 3 || im.Cols != 4 || im.Tokens != 13*16 {
		t.Fatalf("image of %d×%d tiles, %d tokens; want 3×4 and 208", im.Rows, im.Cols, im.Tokens)
	}
	in, err := q.Model.Prompt(q.Tok, im, "What is this?")
	if err != nil {
		t.Fatal(err)
	}
	if in.IDs[0] != 256 || len(in.ImageAt) != 208 || in.IDs[6] != 258 || in.IDs[7] != 261 {
		t.Fatalf("prompt ids start %v", in.IDs[:8])
	}
	var got []int32
	o := multimodal.AskOptions{MaxTokens: 5, Sample: sample.Params{Temperature: 0}}
	if _, err := q.Generate(context.Background(), in, o, func(s multimodal.Step) error {
		if s.ID >= 0 {
			got = append(got, s.ID)
		}
		return nil
	}, multimodal.Timings{}); err != nil {
		t.Fatal(err)
	}
	ref := newRef(t, cfg, 5)
	var refImg [][]float64
	per := 3 * 32 * 32
	for i := 0; i < 13; i++ {
		tile := make([]float64, per)
		for j := range tile {
			tile[j] = float64(im.Pixels[i*per+j])
		}
		refImg = append(refImg, ref.encode(tile)...)
	}
	ids := append([]int32(nil), in.IDs...)
	for step := 0; step < len(got); step++ {
		l := ref.logits(ids, refImg)
		want := int32(argmax64(l[len(l)-1]))
		if got[step] != want {
			t.Fatalf("greedy step %d: %d, reference %d (answer %v)", step, got[step], want, got)
		}
		ids = append(ids, want)
	}
	if len(got) == 0 {
		t.Fatal("no tokens generated")
	}
	// the registry lists both names; a text-only prompt works too
	if archs := hfmodel.Architectures(); !contains(archs, ArchIdefics3) || !contains(archs, ArchSmolVLM) {
		t.Errorf("registered: %v", archs)
	}
	if _, err := q.Model.Prompt(q.Tok, nil, "hello"); err != nil {
		t.Errorf("text-only prompt: %v", err)
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

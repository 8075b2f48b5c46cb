package smolvlm

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func synth(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				img.Pix[y*img.Stride+4*x+c] = uint8((x*31 + y*17 + c*89 + ((x*y)%7)*11) % 256)
			}
			img.Pix[y*img.Stride+4*x+3] = 255
		}
	}
	return img
}

// TestPreprocessMatchesPillow: tiles, grid and every float32 value equal what the processor's
// steps give with Pillow 9.4 and NumPy (testdata/pil_reference.py printed these hashes):
// upscaling and downscaling, landscape, portrait, a single tile, an extreme aspect ratio.
func TestPreprocessMatchesPillow(t *testing.T) {
	for _, c := range []struct {
		w, h, longest, tile, rows, cols int
		sha                             string
	}{
		{300, 200, 256, 64, 3, 4, "f23cc3b4281c7492807fa26d54e8608f6048da525558c0d623e08dd1eca5ba18"},
		{45, 70, 128, 64, 2, 2, "ae2872dc8db9c6f310198f4a5721a29c09c466b559978f071e69002949e8793f"},
		{64, 64, 64, 64, 0, 0, "b0058a0d294e9a5319081206c577eaefc118a0cc8bd7a1360414c144d4e6d90f"},
		{1000, 30, 256, 64, 1, 4, "b269b31db165e04f3613cf83bfeba19d33626780f7ec58610ff4d00f360ff8f1"},
		{97, 131, 512, 128, 4, 3, "a537177b6aeda7533c220a07b1ba1eed578c707ce51ca2b82e6f37cd318fd853"},
	} {
		pc := DefaultProcessorConfig(c.tile)
		pc.LongestEdge = c.longest
		px, err := Preprocess("synth", synth(c.w, c.h), pc)
		if err != nil {
			t.Fatal(err)
		}
		if px.Rows != c.rows || px.Cols != c.cols || len(px.Tiles) != max(c.rows*c.cols, 0)+1 {
			t.Errorf("%d×%d: grid %d×%d with %d tiles, want %d×%d", c.w, c.h, px.Rows, px.Cols, len(px.Tiles), c.rows, c.cols)
			continue
		}
		h := sha256.New()
		for _, tile := range px.Tiles {
			b := make([]byte, 4*len(tile))
			for i, v := range tile {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
			h.Write(b)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != c.sha {
			t.Errorf("%d×%d longest %d tile %d: pixel values differ from Pillow's (sha256 %s)", c.w, c.h, c.longest, c.tile, got)
		}
	}
}

func TestResizeRules(t *testing.T) {
	// 512×512 with longest edge 2048 (SmolVLM-256M's default) becomes 2048×2048: 4×4 tiles + global.
	if h, w := ResizeSize(512, 512, 2048); h != 2048 || w != 2048 {
		t.Errorf("ResizeSize(512, 512, 2048) = %d×%d", h, w)
	}
	// 640×480 (a camera frame): 2048 wide, 1536 high, 4×3 tiles.
	h, w := ResizeSize(480, 640, 2048)
	if h != 1536 || w != 2048 {
		t.Errorf("ResizeSize(480, 640) = %d×%d, want 1536×2048", h, w)
	}
	if h, w = TileGridSize(h, w, 512); h != 1536 || w != 2048 {
		t.Errorf("TileGridSize = %d×%d", h, w)
	}
	// odd results are rounded up to even; the 4096 cap applies to absurd longest edges
	if h, w := ResizeSize(3, 10, 100); h != 30 || w != 100 {
		t.Errorf("ResizeSize(3, 10, 100) = %d×%d, want 30×100", h, w)
	}
}

func TestProcessorConfigErrors(t *testing.T) {
	for _, c := range []struct{ json, field string }{
		{`{"size": {"longest_edge": 0}}`, "size.longest_edge"},
		{`{"max_image_size": {"longest_edge": 384}}`, "max_image_size.longest_edge"},
		{`{"image_std": [0.5, 0]}`, "image_std"},
		{`{"do_image_splitting": false}`, "do_image_splitting"},
		{`{"size": "big"}`, "preprocessor_config.json"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(c.json), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadProcessorConfig(dir, 512)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: want an error naming %s, got %v", c.json, c.field, err)
		}
	}
	pc, err := LoadProcessorConfig(t.TempDir(), 512)
	if err != nil || pc.LongestEdge != 2048 || pc.TileSize != 512 {
		t.Fatalf("defaults: %+v %v", pc, err)
	}
}

func TestPreprocessRejectsEmpty(t *testing.T) {
	if _, err := Preprocess("x.png", image.NewRGBA(image.Rect(0, 0, 0, 5)), DefaultProcessorConfig(64)); err == nil {
		t.Fatal("want an error for an image without pixels")
	}
}

// TestPromptLayout: the processor's expansion of <image> for a 2×3 split and for one tile, and
// the chat template around it.
func TestPromptLayout(t *testing.T) {
	img2 := strings.Repeat("<image>", 2)
	want := "<fake_token_around_image><row_1_col_1>" + img2 + "<fake_token_around_image><row_1_col_2>" + img2 +
		"<fake_token_around_image><row_1_col_3>" + img2 + "\n" +
		"<fake_token_around_image><row_2_col_1>" + img2 + "<fake_token_around_image><row_2_col_2>" + img2 +
		"<fake_token_around_image><row_2_col_3>" + img2 + "\n" +
		"\n<fake_token_around_image><global-img>" + img2 + "<fake_token_around_image>"
	if got := ImagePrompt(2, 2, 3); got != want {
		t.Errorf("ImagePrompt(2, 2, 3) =\n%q\nwant\n%q", got, want)
	}
	if got := ImagePrompt(3, 0, 0); got != "<fake_token_around_image><global-img><image><image><image><fake_token_around_image>" {
		t.Errorf("single tile: %q", got)
	}
	p, err := ExpandImage(ChatPrompt("What is this?", true), 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := "<|im_start|>User:<fake_token_around_image><global-img><image><fake_token_around_image>What is this?<end_of_utterance>\nAssistant:"; p != want {
		t.Errorf("chat prompt %q, want %q", p, want)
	}
	if _, err := ExpandImage("no image here", 1, 0, 0); err == nil {
		t.Error("want an error for a prompt without <image>")
	}
}

// FuzzProcessorConfig: any preprocessor_config.json parses or fails with an error, and a
// config it accepts preprocesses a small picture without panicking.
func FuzzProcessorConfig(f *testing.F) {
	f.Add([]byte(`{"do_resize": true, "size": {"longest_edge": 128}, "max_image_size": {"longest_edge": 32}, "rescale_factor": 0.00392156862745098, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}`))
	f.Add([]byte(`{"size": {"longest_edge": 1}}`))
	f.Add([]byte(`{"do_resize": false}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pc, err := ParseProcessorConfig("preprocessor_config.json", data, 32)
		if err != nil {
			return
		}
		if pc.LongestEdge > 512 {
			return // valid but slow to run here
		}
		px, err := Preprocess("x", synth(7, 5), pc)
		if err != nil {
			t.Fatal(err)
		}
		if len(px.Tiles) == 0 || len(px.Tiles[0]) != 3*32*32 {
			t.Fatalf("%d tiles", len(px.Tiles))
		}
	})
}

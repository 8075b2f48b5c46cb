package smolvlm

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/pilresize"
)

// ProcessorConfig is preprocessor_config.json (Idefics3ImageProcessor): the longest edge images
// are resized to, the tile side they are split into, and the rescale and normalisation.
type ProcessorConfig struct {
	Resize        bool    // do_resize
	LongestEdge   int     // size.longest_edge (SmolVLM-256M/500M: 2048 = 4 tiles)
	Split         bool    // do_image_splitting
	TileSize      int     // max_image_size.longest_edge (the encoder's image_size)
	RescaleFactor float64 // rescale_factor (1/255)
	Mean, Std     [3]float32
}

// DefaultProcessorConfig is what SmolVLM's published preprocessor_config.json files say for a
// tile of side tile: longest edge 4 tiles, splitting on, 1/255, mean = std = 0.5.
func DefaultProcessorConfig(tile int) ProcessorConfig {
	return ProcessorConfig{Resize: true, LongestEdge: 4 * tile, Split: true, TileSize: tile,
		RescaleFactor: 1.0 / 255, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}}
}

// LoadProcessorConfig reads dir/preprocessor_config.json; without one, the defaults for tile.
func LoadProcessorConfig(dir string, tile int) (ProcessorConfig, error) {
	pc := DefaultProcessorConfig(tile)
	path := filepath.Join(dir, "preprocessor_config.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return pc, nil
	}
	if err != nil {
		return pc, err
	}
	return ParseProcessorConfig(path, data, tile)
}

// ParseProcessorConfig parses preprocessor_config.json content (path names it in errors) over
// the defaults for tile.
func ParseProcessorConfig(path string, data []byte, tile int) (ProcessorConfig, error) {
	pc := DefaultProcessorConfig(tile)
	var raw struct {
		DoResize      *bool              `json:"do_resize"`
		Size          map[string]float64 `json:"size"`
		DoSplit       *bool              `json:"do_image_splitting"`
		MaxImageSize  map[string]float64 `json:"max_image_size"`
		RescaleFactor *float64           `json:"rescale_factor"`
		Mean          []float32          `json:"image_mean"`
		Std           []float32          `json:"image_std"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return pc, &hf.Error{File: path, Problem: "not a valid preprocessor config", Err: err}
	}
	bad := func(field, format string, a ...any) error {
		return &hf.Error{File: path, Field: field, Problem: fmt.Sprintf(format, a...)}
	}
	if raw.DoResize != nil {
		pc.Resize = *raw.DoResize
	}
	if raw.DoSplit != nil {
		pc.Split = *raw.DoSplit
	}
	if v, ok := raw.Size["longest_edge"]; ok {
		if v < 1 || v > maxEdge || v != math.Trunc(v) {
			return pc, bad("size.longest_edge", "want an integer in [1, %d], got %g", maxEdge, v)
		}
		pc.LongestEdge = int(v)
	}
	if v, ok := raw.MaxImageSize["longest_edge"]; ok {
		if v != float64(tile) {
			return pc, bad("max_image_size.longest_edge", "want the encoder's image_size %d, got %g", tile, v)
		}
	}
	if raw.RescaleFactor != nil {
		if !(*raw.RescaleFactor > 0) {
			return pc, bad("rescale_factor", "want a positive number, got %g", *raw.RescaleFactor)
		}
		pc.RescaleFactor = *raw.RescaleFactor
	}
	for _, f := range []struct {
		name string
		src  []float32
		dst  *[3]float32
	}{{"image_mean", raw.Mean, &pc.Mean}, {"image_std", raw.Std, &pc.Std}} {
		if f.src == nil {
			continue
		}
		if len(f.src) != 3 {
			return pc, bad(f.name, "want 3 values, got %d", len(f.src))
		}
		copy(f.dst[:], f.src)
	}
	for _, s := range pc.Std {
		if !(s > 0) {
			return pc, bad("image_std", "want positive values, got %v", pc.Std)
		}
	}
	if !pc.Split {
		return pc, bad("do_image_splitting", "only the split layout (true, as SmolVLM ships) is implemented")
	}
	return pc, nil
}

// maxEdge is the processor's upper bound on the first resize (MAX_IMAGE_SIZE = 4096).
const maxEdge = 4096

// Pixels is a preprocessed image: the tiles (CHW float32, TileSize per side) in the order the
// model sees them, the Rows×Cols grid tiles first (row-major) and the global image last; Rows =
// Cols = 0 when the image is a single tile.
type Pixels struct {
	Tiles      [][]float32
	Rows, Cols int
}

// ImageError is an image the model cannot take; it is bad input.
type ImageError struct {
	Source, Problem string
}

func (e *ImageError) Error() string  { return e.Source + ": " + e.Problem }
func (e *ImageError) BadInput() bool { return true }

// ResizeSize is the first resize (_resize_output_size_rescale_to_max_len, then the 4096 cap of
// _resize_output_size_scale_below_upper_bound): the longest edge becomes longest, the other
// keeps the aspect ratio truncated and rounded up to even.
func ResizeSize(h, w, longest int) (int, int) {
	ar := float64(w) / float64(h)
	if w >= h {
		w = longest
		h = int(float64(w) / ar)
		if h%2 != 0 {
			h++
		}
	} else {
		h = longest
		w = int(float64(h) * ar)
		if w%2 != 0 {
			w++
		}
	}
	h, w = max(h, 1), max(w, 1)
	ar = float64(w) / float64(h)
	if w >= h && w > maxEdge {
		w = maxEdge
		h = int(float64(w) / ar)
	} else if h > w && h > maxEdge {
		h = maxEdge
		w = int(float64(h) * ar)
	}
	return max(h, 1), max(w, 1)
}

// TileGridSize is resize_for_vision_encoder: both sides rounded up to multiples of tile, the
// longer first and the shorter from the aspect ratio.
func TileGridSize(h, w, tile int) (int, int) {
	ar := float64(w) / float64(h)
	t := float64(tile)
	if w >= h {
		w = int(math.Ceil(float64(w)/t)) * tile
		h = int(float64(w) / ar)
		h = int(math.Ceil(float64(h)/t)) * tile
	} else {
		h = int(math.Ceil(float64(h)/t)) * tile
		w = int(float64(h) * ar)
		w = int(math.Ceil(float64(w)/t)) * tile
	}
	return h, w
}

// Preprocess is Idefics3ImageProcessor.preprocess for one image with splitting on: resize
// (LANCZOS) to the longest edge, resize again to multiples of the tile, cut into tiles, add the
// whole image resized to one tile, then rescale and normalise. Resizing is Pillow's 8-bit
// LANCZOS, so an opaque RGB image gives the processor's float32 values exactly; an image with
// transparency is composited on white before resizing (the processor composites after).
func Preprocess(source string, img image.Image, pc ProcessorConfig) (*Pixels, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, &ImageError{Source: source, Problem: fmt.Sprintf("the image has no pixels (%d×%d)", w, h)}
	}
	if int64(w)*int64(h) > 100_000_000 {
		return nil, &ImageError{Source: source, Problem: fmt.Sprintf("the image is %d×%d; at most 100 megapixels are accepted", w, h)}
	}
	rgb := toRGB(img)
	if pc.Resize {
		nh, nw := ResizeSize(h, w, pc.LongestEdge)
		rgb, w, h = pilresize.RGB(rgb, w, h, nw, nh, pilresize.Lanczos), nw, nh
	}
	T := pc.TileSize
	nh, nw := TileGridSize(h, w, T)
	rgb, w, h = pilresize.RGB(rgb, w, h, nw, nh, pilresize.Lanczos), nw, nh
	px := &Pixels{}
	if h > T || w > T {
		px.Rows, px.Cols = h/T, w/T
		for r := 0; r < px.Rows; r++ {
			for c := 0; c < px.Cols; c++ {
				tile := make([]uint8, 3*T*T)
				for y := 0; y < T; y++ {
					copy(tile[3*y*T:3*(y+1)*T], rgb[3*((r*T+y)*w+c*T):])
				}
				px.Tiles = append(px.Tiles, pc.normalize(tile, T))
			}
		}
		rgb = pilresize.RGB(rgb, w, h, T, T, pilresize.Lanczos)
	}
	px.Tiles = append(px.Tiles, pc.normalize(rgb, T))
	return px, nil
}

// normalize is rescale then normalize as transformers does them: float32(v·factor) computed in
// float64, then (x − mean)/std in float32; the result is CHW.
func (pc ProcessorConfig) normalize(rgb []uint8, T int) []float32 {
	plane := T * T
	out := make([]float32, 3*plane)
	for i := 0; i < plane; i++ {
		for c := 0; c < 3; c++ {
			x := float32(float64(rgb[3*i+c]) * pc.RescaleFactor)
			out[c*plane+i] = (x - pc.Mean[c]) / pc.Std[c]
		}
	}
	return out
}

// toRGB flattens an image to 8-bit RGB, compositing transparency onto white.
func toRGB(img image.Image) []uint8 {
	b := img.Bounds()
	out := make([]uint8, 0, 3*b.Dx()*b.Dy())
	if m, ok := img.(*image.RGBA); ok && m.Opaque() {
		for y := 0; y < b.Dy(); y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*b.Dx()]
			for x := 0; x < b.Dx(); x++ {
				out = append(out, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
		return out
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, a := img.At(x, y).RGBA() // premultiplied 16-bit
			white := 0xffff - a
			out = append(out, uint8((r+white)>>8), uint8((g+white)>>8), uint8((bb+white)>>8))
		}
	}
	return out
}

// Package textdet finds where text is in a picture with a text-detection network of the
// PaddleOCR PP-OCR family (DBNet, e.g. ch_PP-OCRv4_det_infer.onnx), pre- and post-processing
// as PaddleOCR does them: the picture is scaled so its long side is at most LimitSide (960)
// and both sides are multiples of 32, converted to BGR planes normalised as (x/255 − mean)/std
// with mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); the network gives a
// probability map of the same size; the map is thresholded at Thresh (0.3), its 8-connected
// regions are boxed, a box is kept when the map's mean over it is at least BoxThresh (0.6),
// grown by UnclipRatio (1.5) and scaled back to the picture's pixels.
//
// One simplification: PaddleOCR boxes a region with its rotated minimum-area rectangle and
// grows that polygon with a Clipper offset of area·ratio/perimeter; here a region gets its
// upright bounding rectangle (point coordinates through the pixel centres, as OpenCV's
// contours give them), its score is the map's mean over that rectangle's pixels, and it is
// grown by the same distance d = area·ratio/perimeter on every side (a rectangle expansion,
// without the offset's rounded corners). For upright text this is PaddleOCR's box; slanted
// lines get the upright rectangle around them.
package textdet

import (
	"fmt"
	"image"
	"math"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/rpiq/rpiq/assist/netimage"
	"github.com/rpiq/rpiq/runtime/onnx"
)

// Runner runs the network on one input of shape [1, 3, H, W] and returns its output of shape
// [1, 1, H, W] (the text probability per pixel).
type Runner interface {
	Run(x []float32, shape []int) (y []float32, yshape []int, err error)
}

// Box is one text region found.
type Box struct {
	Rect  image.Rectangle // in the picture's pixels
	Score float64         // the map's mean over the region's rectangle, 0..1
}

// Detector finds text regions.
type Detector struct {
	mu  sync.Mutex // one run at a time
	run Runner
	// LimitSide bounds the long side of the network's input (PaddleOCR's det_limit_side_len).
	LimitSide int
	// Thresh binarises the map; BoxThresh is the least mean score of a kept box; UnclipRatio
	// grows a box (PaddleOCR's det_db_thresh, det_db_box_thresh, det_db_unclip_ratio).
	Thresh, BoxThresh, UnclipRatio float64
	// MaxCandidates bounds the regions looked at (PaddleOCR's 1000).
	MaxCandidates int
	name          string // the model file, for errors
}

// New makes a detector with PaddleOCR's settings. name is the model file, for errors.
func New(run Runner, name string) *Detector {
	return &Detector{run: run, LimitSide: 960, Thresh: 0.3, BoxThresh: 0.6, UnclipRatio: 1.5, MaxCandidates: 1000, name: name}
}

// Load reads the detector's ONNX file and runs it with the project's ONNX interpreter
// (runtime/onnx). Errors name the file.
func Load(modelPath string) (*Detector, error) {
	st, err := os.Stat(modelPath)
	if err != nil {
		return nil, fmt.Errorf("textdet: %w", err)
	}
	m, err := loadShared(modelPath, st)
	if err != nil {
		return nil, fmt.Errorf("textdet: %s: %w", modelPath, err)
	}
	if len(m.Inputs()) != 1 || len(m.Outputs()) < 1 {
		return nil, fmt.Errorf("textdet: %s: the network has %d inputs and %d outputs; a text detector has one input picture and one output map", modelPath, len(m.Inputs()), len(m.Outputs()))
	}
	return New(netimage.Runner{M: m}, modelPath), nil
}

// loaded keeps each parsed network by file, so the reading and the scene engines (which both
// load the detector) share one copy; a file that changed (size or time) is parsed again. A
// model is never changed after loading and runs from several goroutines.
var loaded struct {
	sync.Mutex
	m map[string]loadedModel
}

type loadedModel struct {
	size  int64
	mtime time.Time
	m     *onnx.Model
}

func loadShared(path string, st os.FileInfo) (*onnx.Model, error) {
	loaded.Lock()
	defer loaded.Unlock()
	if l, ok := loaded.m[path]; ok && l.size == st.Size() && l.mtime.Equal(st.ModTime()) {
		return l.m, nil
	}
	m, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	if loaded.m == nil {
		loaded.m = map[string]loadedModel{}
	}
	loaded.m[path] = loadedModel{size: st.Size(), mtime: st.ModTime(), m: m}
	return m, nil
}

// Detect finds the text regions in img, top to bottom, then left to right.
func (d *Detector) Detect(img image.Image) ([]Box, error) {
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 {
		return nil, fmt.Errorf("textdet: the picture is %v, too small", b.Size())
	}
	h, w := InputSize(b.Dx(), b.Dy(), d.LimitSide)
	x := Preprocess(img, w, h)
	d.mu.Lock()
	y, shape, err := d.run.Run(x, []int{1, 3, h, w})
	d.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("textdet: %s: %w", d.name, err)
	}
	if len(shape) != 4 || shape[0] != 1 || shape[1] != 1 || shape[2] != h || shape[3] != w || len(y) != h*w {
		return nil, fmt.Errorf("textdet: %s: the network's output has shape %v; expected [1, 1, %d, %d] (a probability map of the input's size)", d.name, shape, h, w)
	}
	return d.Boxes(y, w, h, b), nil
}

// InputSize is the network input's height and width for a picture w×h: scaled so the long side
// is at most limit, each side then rounded to a multiple of 32 (at least 32).
func InputSize(w, h, limit int) (ih, iw int) {
	ratio := 1.0
	if m := max(w, h); limit > 0 && m > limit {
		ratio = float64(limit) / float64(m)
	}
	r32 := func(v int) int {
		return max(32, int(math.Round(float64(v)*ratio/32))*32)
	}
	return r32(h), r32(w)
}

var (
	mean = [3]float64{0.485, 0.456, 0.406}
	std  = [3]float64{0.229, 0.224, 0.225}
)

// Preprocess scales img to w×h (bilinear, OpenCV's INTER_LINEAR) and returns its BGR planes,
// each channel c normalised as (v/255 − mean[c])/std[c] (PaddleOCR applies the means in the
// order of its BGR picture's channels).
func Preprocess(img image.Image, w, h int) []float32 {
	b := img.Bounds()
	src := netimage.FromImage(img)
	out := make([]float32, 3*h*w)
	sx := float64(b.Dx()) / float64(w)
	sy := float64(b.Dy()) / float64(h)
	plane := h * w
	for y := 0; y < h; y++ {
		fy := (float64(y)+0.5)*sy - 0.5
		for x := 0; x < w; x++ {
			fx := (float64(x)+0.5)*sx - 0.5
			p := src.Bilinear(fx, fy)
			i := y*w + x
			for c := 0; c < 3; c++ { // c: B, G, R
				out[c*plane+i] = float32((p[2-c]/255 - mean[c]) / std[c])
			}
		}
	}
	return out
}

// Boxes is the post-processing: the map prob (w×h, row-major) thresholded at Thresh, its
// 8-connected regions boxed, scored, filtered, grown and scaled to the picture's bounds pic.
func (d *Detector) Boxes(prob []float32, w, h int, pic image.Rectangle) []Box {
	seen := make([]bool, w*h)
	var out []Box
	var stack []int
	regions := 0
	for start := range prob {
		if seen[start] || float64(prob[start]) <= d.Thresh {
			continue
		}
		regions++
		if d.MaxCandidates > 0 && regions > d.MaxCandidates {
			break
		}
		x0, y0, x1, y1 := w, h, -1, -1
		stack = append(stack[:0], start)
		seen[start] = true
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			px, py := i%w, i/w
			x0, x1, y0, y1 = min(x0, px), max(x1, px), min(y0, py), max(y1, py)
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := px+dx, py+dy
					if nx < 0 || ny < 0 || nx >= w || ny >= h {
						continue
					}
					j := ny*w + nx
					if !seen[j] && float64(prob[j]) > d.Thresh {
						seen[j] = true
						stack = append(stack, j)
					}
				}
			}
		}
		// The rectangle through the region's outer pixel centres (OpenCV's contour points).
		bw, bh := float64(x1-x0), float64(y1-y0)
		if math.Min(bw, bh) < 3 {
			continue // PaddleOCR's min_size
		}
		sum := 0.0
		for y := y0; y <= y1; y++ {
			for x := x0; x <= x1; x++ {
				sum += float64(prob[y*w+x])
			}
		}
		score := sum / float64((x1-x0+1)*(y1-y0+1))
		if score < d.BoxThresh {
			continue
		}
		dist := bw * bh * d.UnclipRatio / (2 * (bw + bh))
		if math.Min(bw, bh)+2*dist < 5 {
			continue // PaddleOCR's min_size + 2 after unclipping
		}
		fx, fy := float64(pic.Dx())/float64(w), float64(pic.Dy())/float64(h)
		sc := func(v, f float64, hi int) int {
			return max(0, min(hi, int(math.Round(v*f))))
		}
		r := image.Rect(
			pic.Min.X+sc(float64(x0)-dist, fx, pic.Dx()), pic.Min.Y+sc(float64(y0)-dist, fy, pic.Dy()),
			pic.Min.X+sc(float64(x1)+dist, fx, pic.Dx()), pic.Min.Y+sc(float64(y1)+dist, fy, pic.Dy()))
		if r.Dx() < 1 || r.Dy() < 1 {
			continue
		}
		out = append(out, Box{Rect: r, Score: score})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Rect, out[j].Rect
		if a.Min.Y != b.Min.Y {
			return a.Min.Y < b.Min.Y
		}
		return a.Min.X < b.Min.X
	})
	return out
}

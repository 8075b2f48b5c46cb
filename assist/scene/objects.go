package scene

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"

	"gocv.io/x/gocv"
)

// Box is a detection in the picture's pixels (x, y is the top-left corner).
type Box struct {
	X, Y, W, H float64
}

func (b Box) area() float64 { return max(b.W, 0) * max(b.H, 0) }

// iou is the intersection over union, as OpenCV's NMSBoxes computes it.
func iou(a, b Box) float64 {
	x1, y1 := max(a.X, b.X), max(a.Y, b.Y)
	x2, y2 := min(a.X+a.W, b.X+b.W), min(a.Y+a.H, b.Y+b.H)
	inter := max(x2-x1, 0) * max(y2-y1, 0)
	u := a.area() + b.area() - inter
	if u <= 0 {
		return 0
	}
	return inter / u
}

// Detection is one thing found in the picture.
type Detection struct {
	Class string  // COCO's name ("person", "dog") or "face"
	Score float64 // 0..1
	Box   Box
}

// ObjectDetector is YOLOX-Nano through OpenCV's DNN module: the picture is letterboxed to
// 416x416 (pad 114), the three grids (strides 8, 16, 32) decoded as YOLOX does, the score is
// objectness x class, and non-maximum suppression runs per class.
type ObjectDetector struct {
	net     *net
	classes []string
	// Threshold is the lowest score kept (YOLOX's demo uses 0.3); NMS the overlap above which
	// the lower-scored box of the same class is dropped.
	Threshold, NMS float64
}

// yoloxSize is the network's input side; yoloxPad the letterbox grey.
const (
	yoloxSize = 416
	yoloxPad  = 114
)

// OpenObjects loads the ONNX model and the class names (one per line).
func OpenObjects(model, names string) (*ObjectDetector, error) {
	if _, err := os.Stat(model); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %s: %w", ErrModel, model, fs.ErrNotExist)
	}
	classes, err := readNames(names)
	if err != nil {
		return nil, err
	}
	n, err := readNet(model, "")
	if err != nil {
		return nil, err
	}
	d := &ObjectDetector{net: n, classes: classes, Threshold: 0.3, NMS: 0.45}
	// One pass on a grey picture proves the file is the network we expect (its output shape).
	if _, err := d.Detect(image.NewGray(image.Rect(0, 0, 64, 48))); err != nil {
		n.close()
		return nil, fmt.Errorf("%w %s: %v", ErrModel, model, err)
	}
	return d, nil
}

func readNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %s: %w", ErrModel, path, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrModel, path, err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrModel, path, err)
	}
	if len(names) == 0 || len(names) > 10000 {
		return nil, fmt.Errorf("%w %s: expected one class name a line, found %d names", ErrModel, path, len(names))
	}
	return names, nil
}

// Close frees the network.
func (d *ObjectDetector) Close() { d.net.close() }

// Detect finds the objects in img, best first.
func (d *ObjectDetector) Detect(img image.Image) ([]Detection, error) {
	src, err := bgrMat(img)
	if err != nil {
		return nil, err
	}
	defer closeMat(&src)
	w, h := src.Cols(), src.Rows()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("scene: empty picture")
	}
	// Letterbox: scale to fit, top-left, the rest grey 114 (YOLOX's preproc).
	r := math.Min(float64(yoloxSize)/float64(h), float64(yoloxSize)/float64(w))
	rw, rh := max(1, int(float64(w)*r)), max(1, int(float64(h)*r))
	resized := track(gocv.NewMat())
	defer closeMat(&resized)
	gocv.Resize(src, &resized, image.Pt(rw, rh), 0, 0, gocv.InterpolationLinear)
	padded := track(gocv.NewMatWithSizeFromScalar(gocv.NewScalar(yoloxPad, yoloxPad, yoloxPad, 0), yoloxSize, yoloxSize, gocv.MatTypeCV8UC3))
	defer closeMat(&padded)
	roi := padded.Region(image.Rect(0, 0, rw, rh))
	resized.CopyTo(&roi)
	roi.Close()
	blob := track(gocv.BlobFromImage(padded, 1, image.Pt(yoloxSize, yoloxSize), gocv.NewScalar(0, 0, 0, 0), false, false))
	defer closeMat(&blob)
	out, err := d.net.forward(blob)
	if err != nil {
		return nil, err
	}
	defer closeMat(&out)
	data, err := out.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("scene: object network output: %v", err)
	}
	return d.decode(data, r)
}

// decode turns the network's rows (cx, cy, w, h on the grids, objectness, class scores) into
// boxes at the original size, then suppresses overlaps class by class.
func (d *ObjectDetector) decode(data []float32, scale float64) ([]Detection, error) {
	nc := len(d.classes)
	stride := 5 + nc
	rows := 0
	for _, s := range []int{8, 16, 32} {
		rows += (yoloxSize / s) * (yoloxSize / s)
	}
	if len(data) != rows*stride {
		return nil, fmt.Errorf("scene: object network gave %d numbers; YOLOX at %d with %d classes gives %d x %d", len(data), yoloxSize, nc, rows, stride)
	}
	byClass := map[int][]Detection{}
	i := 0
	for _, s := range []int{8, 16, 32} {
		g := yoloxSize / s
		for gy := 0; gy < g; gy++ {
			for gx := 0; gx < g; gx++ {
				row := data[i*stride : (i+1)*stride]
				i++
				obj := float64(row[4])
				if obj < d.Threshold {
					continue // every score is objectness x class <= objectness
				}
				cx := (float64(row[0]) + float64(gx)) * float64(s)
				cy := (float64(row[1]) + float64(gy)) * float64(s)
				bw := math.Exp(float64(row[2])) * float64(s)
				bh := math.Exp(float64(row[3])) * float64(s)
				box := Box{X: (cx - bw/2) / scale, Y: (cy - bh/2) / scale, W: bw / scale, H: bh / scale}
				for c := 0; c < nc; c++ {
					if sc := obj * float64(row[5+c]); sc > d.Threshold {
						byClass[c] = append(byClass[c], Detection{Class: d.classes[c], Score: sc, Box: box})
					}
				}
			}
		}
	}
	var out []Detection
	for _, ds := range byClass {
		sort.SliceStable(ds, func(a, b int) bool { return ds[a].Score > ds[b].Score })
		if len(ds) > maxCandidates {
			ds = ds[:maxCandidates] // a damaged network's output must not make NMS quadratic in 3549
		}
		out = append(out, nms(ds, d.NMS)...)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Score > out[b].Score })
	if len(out) > maxDetections {
		out = out[:maxDetections]
	}
	return out, nil
}

// Bounds on the work per picture: candidates per class before NMS, detections after.
const (
	maxCandidates = 300
	maxDetections = 100
)

// nms keeps the best box of each group that overlaps more than thresh (greedy, by score).
func nms(ds []Detection, thresh float64) []Detection {
	sort.SliceStable(ds, func(a, b int) bool { return ds[a].Score > ds[b].Score })
	var keep []Detection
	for _, d := range ds {
		ok := true
		for _, k := range keep {
			if iou(d.Box, k.Box) > thresh {
				ok = false
				break
			}
		}
		if ok {
			keep = append(keep, d)
		}
	}
	return keep
}

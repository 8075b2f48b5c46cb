package scene

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"
)

// FaceDetector is OpenCV's res10 SSD face detector (a TensorFlow graph and its text config):
// the picture is scaled to 300x300, the mean (104, 177, 123) subtracted, and each output row
// is (image, class, score, x1, y1, x2, y2) with corners as fractions of the picture.
type FaceDetector struct {
	net       *net
	Threshold float64 // lowest score kept
}

// OpenFaces loads the face detector from its graph (.pb) and config (.pbtxt).
func OpenFaces(model, config string) (*FaceDetector, error) {
	n, err := readNet(model, config)
	if err != nil {
		return nil, err
	}
	d := &FaceDetector{net: n, Threshold: 0.5}
	if _, err := d.Detect(image.NewGray(image.Rect(0, 0, 64, 48))); err != nil {
		n.close()
		return nil, fmt.Errorf("%w %s: %v", ErrModel, model, err)
	}
	return d, nil
}

// Close frees the network.
func (d *FaceDetector) Close() { d.net.close() }

// Detect finds the faces in img, best first.
func (d *FaceDetector) Detect(img image.Image) ([]Detection, error) {
	src, err := bgrMat(img)
	if err != nil {
		return nil, err
	}
	defer closeMat(&src)
	w, h := float64(src.Cols()), float64(src.Rows())
	blob := track(gocv.BlobFromImage(src, 1, image.Pt(300, 300), gocv.NewScalar(104, 177, 123, 0), false, false))
	defer closeMat(&blob)
	out, err := d.net.forward(blob)
	if err != nil {
		return nil, err
	}
	defer closeMat(&out)
	data, err := out.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("scene: face network output: %v", err)
	}
	if len(data)%7 != 0 {
		return nil, fmt.Errorf("scene: face network gave %d numbers, not rows of 7", len(data))
	}
	var faces []Detection
	for i := 0; i+7 <= len(data); i += 7 {
		row := data[i : i+7]
		score := float64(row[2])
		if score < d.Threshold {
			continue
		}
		x1, y1 := clamp01(float64(row[3]))*w, clamp01(float64(row[4]))*h
		x2, y2 := clamp01(float64(row[5]))*w, clamp01(float64(row[6]))*h
		if x2 <= x1 || y2 <= y1 {
			continue
		}
		faces = append(faces, Detection{Class: "face", Score: score, Box: Box{X: x1, Y: y1, W: x2 - x1, H: y2 - y1}})
	}
	return nms(faces, 0.45), nil
}

func clamp01(v float64) float64 { return min(max(v, 0), 1) }

package scene

import (
	"image"
	"math"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/rpiq/rpiq/internal/shareddata"
)

// visionFile is a file of the shared vision data; tests skip without it unless
// RPIQ_REQUIRE_DATA=1.
func visionFile(tb testing.TB, name string) string {
	return shareddata.Path(tb, filepath.Join("vision", name))
}

// readCV decodes a picture with OpenCV, as the reference did. (Go's JPEG decoder rounds
// differently: on dog.jpg the bicycle's left edge moves 2.2 px.)
func readCV(tb testing.TB, path string) image.Image {
	tb.Helper()
	m := gocv.IMRead(path, gocv.IMReadColor)
	defer m.Close()
	if m.Empty() {
		tb.Fatalf("OpenCV cannot read %s", path)
	}
	img, err := m.ToImage()
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

func openObjects(tb testing.TB) *ObjectDetector {
	tb.Helper()
	d, err := OpenObjects(visionFile(tb, "yolox_nano.onnx"), visionFile(tb, "coco.names"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	return d
}

// TestObjectsMatchReference compares with the reference decode in shared/data/MANIFEST.md
// (OpenCV 4.6, threshold 0.3, class-wise NMS 0.45): the same classes, boxes within 2 px at the
// original size, scores within 0.01.
func TestObjectsMatchReference(t *testing.T) {
	d := openObjects(t)
	type ref struct {
		class      string
		score      float64
		x, y, w, h float64
	}
	cases := map[string][]ref{
		"dog.jpg": {
			{"dog", 0.86, 133, 207, 193, 336},
			{"bicycle", 0.80, 52, 137, 521, 286},
			{"car", 0.80, 466, 78, 226, 93},
			{"truck", 0.31, 464, 78, 219, 95},
		},
		"eagle.jpg": {{"bird", 0.94, 135, 84, 464, 365}},
	}
	for file, want := range cases {
		img := readCV(t, visionFile(t, file))
		got, err := d.Detect(img)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			t.Logf("%s: %s %.3f [%.1f %.1f %.1f %.1f]", file, g.Class, g.Score, g.Box.X, g.Box.Y, g.Box.W, g.Box.H)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d detections, want %d", file, len(got), len(want))
		}
		for _, w := range want {
			found := false
			for _, g := range got {
				if g.Class != w.class {
					continue
				}
				found = true
				// The reference prints rounded figures: 2 px and 0.01 plus the rounding.
				if math.Abs(g.Score-w.score) > 0.01+0.005 {
					t.Errorf("%s %s: score %.3f, reference %.2f", file, w.class, g.Score, w.score)
				}
				for i, p := range [][2]float64{{g.Box.X, w.x}, {g.Box.Y, w.y}, {g.Box.W, w.w}, {g.Box.H, w.h}} {
					if math.Abs(p[0]-p[1]) > 2+0.5 {
						t.Errorf("%s %s: box[%d] = %.1f, reference %.0f", file, w.class, i, p[0], p[1])
					}
				}
			}
			if !found {
				t.Errorf("%s: no %s", file, w.class)
			}
		}
	}
	if n := LiveMats(); n != 0 {
		t.Errorf("%d Mats left open", n)
	}
}

package scene

import (
	"math"
	"testing"
)

// TestFacesMessi: the MANIFEST's figure for messi5.jpg is one face at 0.954.
func TestFacesMessi(t *testing.T) {
	d, err := OpenFaces(visionFile(t, "opencv_face_detector_uint8.pb"), visionFile(t, "opencv_face_detector.pbtxt"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Detect(readCV(t, visionFile(t, "messi5.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got {
		t.Logf("face %.3f %+v", f.Score, f.Box)
	}
	if len(got) != 1 {
		t.Fatalf("%d faces, want 1", len(got))
	}
	if math.Abs(got[0].Score-0.954) > 0.01 {
		t.Errorf("score %.3f, reference 0.954", got[0].Score)
	}
	// And none in a picture of an eagle.
	none, err := d.Detect(readCV(t, visionFile(t, "eagle.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	if len(none) != 0 {
		t.Errorf("faces in eagle.jpg: %+v", none)
	}
	if n := LiveMats(); n != 0 {
		t.Errorf("%d Mats left open", n)
	}
}

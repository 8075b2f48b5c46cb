//go:build matprofile

package scene

import (
	"context"
	"testing"

	"gocv.io/x/gocv"

	"github.com/rpiq/rpiq/assist"
)

// TestNoMatLeaksProfile checks with gocv's own Mat profile (go test -tags matprofile), which
// counts every Mat gocv creates, not only those this package counts itself.
func TestNoMatLeaksProfile(t *testing.T) {
	e := New(Options{
		Objects: visionFile(t, "yolox_nano.onnx"), Classes: visionFile(t, "coco.names"),
		Faces: visionFile(t, "opencv_face_detector_uint8.pb"), FacesConfig: visionFile(t, "opencv_face_detector.pbtxt"),
		Log: quiet(),
	})
	defer e.Close()
	img := readCV(t, visionFile(t, "dog.jpg"))
	base := gocv.MatProfile.Count()
	for _, q := range []string{"what is in front of me", "how many people", "what colour is this", "is the light on", "is there text here"} {
		if err := e.Answer(context.Background(), img, q, func(assist.Piece) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n := gocv.MatProfile.Count(); n != base {
		t.Errorf("%d Mats leaked", n-base)
	}
}

//go:build matprofile

package camera

import (
	"context"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"
)

// TestNoMatLeaksProfile checks with gocv's own Mat profile (go test -tags matprofile), which
// counts every Mat gocv creates, not only those this package counts itself.
func TestNoMatLeaksProfile(t *testing.T) {
	base := gocv.MatProfile.Count()
	card, err := TextCard(320, 240, "LEAK TEST")
	if err != nil {
		t.Fatal(err)
	}
	blurred, _ := Blur(card, 3)
	path := filepath.Join(t.TempDir(), "v.avi")
	if err := WriteVideo(path, 10, card, blurred, card); err != nil {
		t.Fatal(err)
	}
	cam, err := Open(Options{Source: path, Burst: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := cam.Capture(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	cam.Close()
	Measure(card)
	DecodeImage("junk", []byte("junk"))
	if n := gocv.MatProfile.Count(); n != base {
		t.Errorf("%d Mats leaked", n-base)
	}
}

package scene

import (
	"fmt"
	"image/color"
	"testing"

	"github.com/rpiq/rpiq/device/camera"
)

// TestHasText: the ICDAR 2015 wearable-camera photos (each has marked text) and printed cards
// hold text; the detector test photos and plain colour cards do not.
func TestHasText(t *testing.T) {
	card, err := camera.TextCard(640, 480, "EXIT 12 MAIN STREET", "TAKE 2 TABLETS DAILY")
	if err != nil {
		t.Fatal(err)
	}
	if c := HasText(card); !c.Found() {
		t.Errorf("text card: %+v", c)
	}
	found := 0
	for i := 1; i <= 10; i++ {
		c := HasText(readCV(t, visionFile(t, fmt.Sprintf("../ocr/icdar2015-toy/img_%d.jpg", i))))
		t.Logf("icdar img_%d: %+v", i, c)
		if c.Found() {
			found++
		}
	}
	// Photos without text (eagle.jpg's grass and feathers made line-like regions until their
	// soft contrast was required to be print's) and plain cards.
	for _, f := range []string{"dog.jpg", "messi5.jpg", "eagle.jpg"} {
		c := HasText(readCV(t, visionFile(t, f)))
		t.Logf("%s: %+v", f, c)
		if c.Found() {
			t.Errorf("%s: text found: %+v", f, c)
		}
	}
	for _, c := range []color.NRGBA{{20, 30, 90, 255}, {250, 250, 250, 255}, {128, 128, 128, 255}} {
		if tc := HasText(patch(640, 480, c, color.NRGBA{240, 240, 240, 255})); tc.Found() {
			t.Errorf("plain card %v: text found: %+v", c, tc)
		}
	}
	t.Logf("ICDAR: %d of 10", found)
	if found < 6 {
		t.Errorf("text found in %d of the 10 ICDAR photos; want at least 6", found)
	}
	if n := LiveMats(); n != 0 {
		t.Errorf("%d Mats left open", n)
	}
}

package netimage

import (
	"image"
	"image/color"
	"math"
	"testing"
)

// TestBilinear: at pixel centres the picture's own values, half way the mean of the neighbours,
// outside the picture the nearest edge; grey and colour pictures convert alike.
func TestBilinear(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	c := image.NewRGBA(g.Bounds())
	for i := range g.Pix {
		g.Pix[i] = uint8(10 + 40*i)
		c.Set(i%3, i/3, color.RGBA{g.Pix[i], g.Pix[i], g.Pix[i], 255})
	}
	pg, pc := FromImage(g), FromImage(c)
	for i := range pg.Pix {
		if pg.Pix[i] != pc.Pix[i] {
			t.Fatalf("value %d: grey %v, colour %v", i, pg.Pix[i], pc.Pix[i])
		}
	}
	at := func(x, y int) float64 { return float64(g.Pix[y*3+x]) }
	for _, tc := range []struct {
		x, y, want float64
	}{
		{0, 0, at(0, 0)}, {2, 1, at(2, 1)},
		{0.5, 0, (at(0, 0) + at(1, 0)) / 2},
		{1, 0.5, (at(1, 0) + at(1, 1)) / 2},
		{1.5, 0.5, (at(1, 0) + at(2, 0) + at(1, 1) + at(2, 1)) / 4},
		{-3, 7, at(0, 1)}, {9, -1, at(2, 0)},
	} {
		got := pg.Bilinear(tc.x, tc.y)
		for ch := 0; ch < 3; ch++ {
			if math.Abs(got[ch]-tc.want) > 1e-12 {
				t.Errorf("(%v, %v) channel %d: %v, want %v", tc.x, tc.y, ch, got[ch], tc.want)
			}
		}
	}
}

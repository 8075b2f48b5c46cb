package textimage

import (
	"image"
	"image/color"
	"testing"
)

func TestTurnRotateBlurDarken(t *testing.T) {
	img, err := RenderLines([]Line{{Text: "EXIT", Size: 40, Font: Bold}, {Text: "12 Main St", Size: 20, Font: Mono}}, Options{Width: 200, Height: 120})
	if err != nil {
		t.Fatal(err)
	}
	// A quarter turn clockwise: the top-left pixel goes to the top-right corner.
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	q := Turn(img, 1)
	if q.Bounds() != image.Rect(0, 0, 120, 200) || q.RGBAAt(119, 0) != (color.RGBA{255, 0, 0, 255}) {
		t.Errorf("turn: %v %v", q.Bounds(), q.RGBAAt(119, 0))
	}
	back := Turn(Turn(Turn(q, 1), 1), 1)
	for i := range img.Pix {
		if back.Pix[i] != img.Pix[i] {
			t.Fatalf("four quarter turns changed pixel byte %d", i)
		}
	}
	if r := Rotate(img, 0, color.White); r.RGBAAt(50, 50) != img.RGBAAt(50, 50) || r.RGBAAt(0, 0) != img.RGBAAt(0, 0) {
		t.Error("rotation by 0 changed the picture")
	}
	// Blur keeps a flat picture flat and the mean of a page.
	flat := image.NewRGBA(image.Rect(0, 0, 30, 20))
	for i := range flat.Pix {
		flat.Pix[i] = 100
	}
	if b := Blur(flat, 3); b.Pix[4*(10*30+15)] != 100 || b.Pix[0] != 100 {
		t.Errorf("blur of a flat picture: %d %d", b.Pix[4*(10*30+15)], b.Pix[0])
	}
	mean := func(m *image.RGBA) float64 {
		s := 0
		for i := 0; i < len(m.Pix); i += 4 {
			s += int(m.Pix[i+1])
		}
		return float64(s) / float64(len(m.Pix)/4)
	}
	if a, b := mean(img), mean(Blur(img, 2)); b < a-1 || b > a+1 {
		t.Errorf("blur moved the mean from %.1f to %.1f", a, b)
	}
	if d := Darken(img, 0.1); d.Pix[4*(60*200+199)] > 26 {
		t.Errorf("darkened paper %d", d.Pix[4*(60*200+199)])
	}
}

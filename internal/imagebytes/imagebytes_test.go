package imagebytes

import (
	"bytes"
	"image"
	"image/color"
	"runtime"
	"testing"

	"golang.org/x/image/tiff"
)

// 9 bytes naming a TIFF IFD at 1 GB allocated 2 GB through image.DecodeConfig; here they fail
// at once, and a real TIFF still decodes.
func TestTIFFThroughReaderAt(t *testing.T) {
	bad := []byte("II*\x0000\x00A")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err1 := DecodeConfig(bad)
	_, _, err2 := Decode(bad)
	runtime.ReadMemStats(&after)
	if err1 == nil || err2 == nil {
		t.Fatalf("errors %v, %v; want both", err1, err2)
	}
	if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 1 {
		t.Fatalf("%d MB allocated for 9 bytes", mb)
	}
	m := image.NewGray(image.Rect(0, 0, 5, 3))
	m.SetGray(4, 2, color.Gray{200})
	var buf bytes.Buffer
	if err := tiff.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	cfg, format, err := DecodeConfig(buf.Bytes())
	if err != nil || format != "tiff" || cfg.Width != 5 || cfg.Height != 3 {
		t.Fatalf("config %+v %q %v", cfg, format, err)
	}
	img, _, err := Decode(buf.Bytes())
	if err != nil || color.GrayModel.Convert(img.At(4, 2)).(color.Gray).Y != 200 {
		t.Fatalf("decode: %v", err)
	}
}

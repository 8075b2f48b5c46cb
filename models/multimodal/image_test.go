package multimodal

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"strings"
	"testing"
)

func TestImageErrors(t *testing.T) {
	if _, err := DecodeImage("empty.png", nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := DecodeImage("junk.jpg", []byte("not an image at all")); err == nil || !strings.Contains(err.Error(), "junk.jpg") {
		t.Errorf("junk: %v", err)
	}
	var buf bytes.Buffer
	png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 4, 4)))
	trunc := buf.Bytes()[:buf.Len()/2]
	if _, err := DecodeImage("cut.png", trunc); err == nil {
		t.Error("truncated PNG decoded")
	}
	img, err := DecodeImage("ok.png", buf.Bytes())
	if err != nil || img.Bounds().Dx() != 4 {
		t.Fatalf("valid PNG: %v", err)
	}
	var ie *ImageError
	_, err = DecodeImage("junk", []byte("xx"))
	if !errors.As(err, &ie) || !ie.BadInput() {
		t.Error("image errors must be bad input")
	}
}

func FuzzDecodeImage(f *testing.F) {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 3, 2)))
	f.Add(buf.Bytes())
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeImage("fuzz", data)
		if err != nil {
			return
		}
		if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
			t.Fatalf("decoded an image without pixels: %v", b)
		}
	})
}

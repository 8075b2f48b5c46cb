package multimodal

import (
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // decoders for image.Decode
	_ "image/jpeg" //
	_ "image/png"  //
	"os"

	_ "golang.org/x/image/bmp"  //
	_ "golang.org/x/image/tiff" //
	_ "golang.org/x/image/webp" //

	"github.com/rpiq/rpiq/internal/imagebytes"
)

// ImageError is an image the model cannot take (undecodable, empty); it is bad input.
type ImageError struct {
	Source  string
	Problem string
	Err     error
}

func (e *ImageError) Error() string {
	s := e.Source + ": " + e.Problem
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}
func (e *ImageError) Unwrap() error  { return e.Err }
func (e *ImageError) BadInput() bool { return true }

// maxPixels bounds the images accepted (a 12 MP camera frame is far below it).
const maxPixels = 100_000_000

// DecodeImageFile reads any image Go can decode (PNG, JPEG, GIF, BMP, TIFF, WebP).
func DecodeImageFile(path string) (image.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeImage(path, data)
}

// DecodeImage decodes image bytes; source names them in errors.
func DecodeImage(source string, data []byte) (image.Image, error) {
	if len(data) == 0 {
		return nil, &ImageError{Source: source, Problem: "the file is empty"}
	}
	// check the declared size before decoding: a 60-byte PNG header can ask for gigabytes
	cfg, _, err := imagebytes.DecodeConfig(data) // TIFF through io.ReaderAt
	if err == nil && (cfg.Width <= 0 || cfg.Height <= 0) {
		return nil, &ImageError{Source: source, Problem: fmt.Sprintf("the image has no pixels (%d×%d)", cfg.Width, cfg.Height)}
	}
	if err == nil && int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, &ImageError{Source: source, Problem: fmt.Sprintf("the image is %d×%d; at most %d megapixels are accepted", cfg.Width, cfg.Height, maxPixels/1_000_000)}
	}
	img, _, err := imagebytes.Decode(data)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, &ImageError{Source: source, Problem: "not an image in a known format (PNG, JPEG, GIF, BMP, TIFF, WebP)"}
		}
		return nil, &ImageError{Source: source, Problem: "cannot decode the image", Err: err}
	}
	return img, nil
}

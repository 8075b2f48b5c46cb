// Package imagefile decodes still pictures (PNG, JPEG, GIF, TIFF, BMP, WebP) for the assistant,
// in Go, with the size checked before any pixel is allocated, so a corrupt or hostile file is a
// clear error and never a crash or an out-of-memory.
package imagefile

import (
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // GIF
	_ "image/jpeg" // JPEG
	_ "image/png"  // PNG
	"os"

	_ "golang.org/x/image/bmp"  // BMP
	_ "golang.org/x/image/tiff" // TIFF (incl. CCITT fax, as scanned pages are)
	_ "golang.org/x/image/webp" // WebP

	"github.com/rpiq/rpiq/internal/imagebytes"
)

// MaxPixels bounds what Decode accepts: larger than any camera frame or scanned page (an
// 8000x8000 photo is 64 megapixels and is read; the reader scales it down).
const MaxPixels = 100_000_000

// MaxFileSize bounds the file read into memory.
const MaxFileSize = 200 << 20

// ErrBadImage is wrapped by every error about the file's contents.
var ErrBadImage = errors.New("bad image")

// ErrNotPicture (which wraps ErrBadImage) is a file in no picture format at all (a text file):
// "not a picture", where a corrupt picture is "damaged".
var ErrNotPicture = fmt.Errorf("%w: not a picture", ErrBadImage)

// ErrTooLarge (which wraps ErrBadImage) is a valid picture with more than MaxPixels pixels.
var ErrTooLarge = fmt.Errorf("%w: too large", ErrBadImage)

// Load reads and decodes the picture at path.
func Load(path string) (image.Image, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("image %s: %w: it is a folder, not a picture", path, ErrBadImage)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("image %s: %w: %d bytes is more than %d", path, ErrBadImage, st.Size(), MaxFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	img, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return img, nil
}

// Decode decodes a picture held in memory.
func Decode(data []byte) (img image.Image, err error) {
	cfg, format, err := imagebytes.DecodeConfig(data) // TIFF through io.ReaderAt (see there)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, fmt.Errorf("%w: not a PNG, JPEG, GIF, TIFF, BMP or WebP picture", ErrNotPicture)
		}
		return nil, fmt.Errorf("%w: the header cannot be read: %v", ErrBadImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %s picture of %dx%d pixels", ErrBadImage, format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, fmt.Errorf("%w: %s picture of %dx%d pixels is larger than %d pixels", ErrTooLarge, format, cfg.Width, cfg.Height, MaxPixels)
	}
	// The decoders allocate the whole picture before reading its data, so a 54-byte file that
	// claims 10000x10000 pixels cost 381 MB (seen while chasing a FuzzDecode hang). A
	// picture cannot hold more pixels than its bytes can describe: uncompressed BMP at most 8
	// per byte (1 bit each); the compressed formats far less than 100,000 per byte (a blank
	// CCITT G4 page, the most compressible real input, is about 64,000: estimated at 1 bit a row).
	perByte := int64(100_000)
	if format == "bmp" {
		perByte = 8
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > 10_000+perByte*int64(len(data)) {
		return nil, fmt.Errorf("%w: %s header claims %dx%d pixels, more than its %d bytes can hold", ErrBadImage, format, cfg.Width, cfg.Height, len(data))
	}
	// The decoders validate as they go, but a panic in a third-party decoder on a corrupt file
	// must not take the daemon down.
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("%w: the %s data is corrupt (%v)", ErrBadImage, format, r)
		}
	}()
	img, _, err = imagebytes.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%w: the %s data is corrupt: %v", ErrBadImage, format, err)
	}
	return img, nil
}

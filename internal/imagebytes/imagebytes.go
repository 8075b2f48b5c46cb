// Package imagebytes decodes a picture held in memory like image.DecodeConfig and image.Decode,
// except that TIFF is read through io.ReaderAt. Given an io.Reader (image.DecodeConfig wraps the
// bytes in a buffered reader), x/image/tiff reads ahead into a growing buffer up to every offset
// the file names, so 9 bytes naming an IFD at 1 GB allocate 2 GB (found by FuzzDecode).
package imagebytes

import (
	"bytes"
	"image"

	_ "golang.org/x/image/bmp"  // BMP
	"golang.org/x/image/tiff"   // TIFF (incl. CCITT fax, as scanned pages are)
	_ "golang.org/x/image/webp" // WebP
)

func isTIFF(data []byte) bool {
	return bytes.HasPrefix(data, []byte("II*\x00")) || bytes.HasPrefix(data, []byte("MM\x00*"))
}

// DecodeConfig is image.DecodeConfig on data (PNG, JPEG, GIF, BMP, TIFF, WebP).
func DecodeConfig(data []byte) (image.Config, string, error) {
	if isTIFF(data) {
		c, err := tiff.DecodeConfig(bytes.NewReader(data))
		return c, "tiff", err
	}
	return image.DecodeConfig(bytes.NewReader(data))
}

// Decode is image.Decode on data.
func Decode(data []byte) (image.Image, string, error) {
	if isTIFF(data) {
		m, err := tiff.Decode(bytes.NewReader(data))
		return m, "tiff", err
	}
	return image.Decode(bytes.NewReader(data))
}

package imagefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
)

func pngBytes(t testing.TB, w, h int) []byte {
	img := image.NewGray(image.Rect(0, 0, w, h))
	img.Set(1, 1, color.Gray{200})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecode(t *testing.T) {
	img, err := Decode(pngBytes(t, 7, 5))
	if err != nil || img.Bounds().Dx() != 7 || img.Bounds().Dy() != 5 {
		t.Fatalf("%v %v", img, err)
	}
	good := pngBytes(t, 64, 64)
	for name, data := range map[string][]byte{
		"empty":     nil,
		"text":      []byte("hello, this is not a picture"),
		"truncated": good[:len(good)/2],
	} {
		if _, err := Decode(data); !errors.Is(err, ErrBadImage) {
			t.Errorf("%s: got %v, want ErrBadImage", name, err)
		}
	}
	// A text file is not a picture; a picture cut short is damaged, not "not a picture".
	if _, err := Decode([]byte("hello, this is not a picture")); !errors.Is(err, ErrNotPicture) {
		t.Errorf("text: %v, want ErrNotPicture", err)
	}
	if _, err := Decode(good[:len(good)/2]); errors.Is(err, ErrNotPicture) || errors.Is(err, ErrTooLarge) {
		t.Errorf("truncated: %v, want damaged", err)
	}
	// A header claiming a huge picture is refused before allocating.
	huge := append([]byte(nil), good...)
	copy(huge[16:24], []byte{0, 1, 0, 0, 0, 1, 0, 0}) // IHDR width, height = 65536
	binary.BigEndian.PutUint32(huge[29:33], crc32.ChecksumIEEE(huge[12:29]))
	if _, err := Decode(huge); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge: %v", err)
	}
}

// TestLargePhoto: a valid 8000x8000 photo decodes (the reader scales it); it is not "damaged".
func TestLargePhoto(t *testing.T) {
	img, err := Decode(pngBytes(t, 8000, 8000))
	if err != nil || img.Bounds().Dx() != 8000 {
		t.Fatalf("8000x8000: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.png")); err == nil || errors.Is(err, ErrBadImage) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrBadImage) {
		t.Errorf("folder: %v", err)
	}
	p := filepath.Join(dir, "x.png")
	os.WriteFile(p, []byte("junk"), 0o644)
	if _, err := Load(p); !errors.Is(err, ErrBadImage) || !bytes.Contains([]byte(err.Error()), []byte(p)) {
		t.Errorf("junk: %v", err)
	}
}

func TestSharedTIFFs(t *testing.T) {
	for _, n := range []string{"phototest.tif", "eurotext.tif", "8071_093.3B.tif", "8087_054.3B.tif"} {
		img, err := Load(shareddata.Path(t, "ocr/"+n))
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 300 {
			t.Errorf("%s: %v", n, b)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(pngBytes(f, 4, 4))
	f.Add([]byte("GIF89a\x01\x00\x01\x00"))
	f.Add([]byte("II*\x00\x08\x00\x00\x00"))
	f.Add([]byte("BM"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data)
		if err == nil && (img == nil || img.Bounds().Empty()) {
			t.Fatal("nil image without error")
		}
		if err != nil && !errors.Is(err, ErrBadImage) {
			t.Fatalf("error without ErrBadImage: %v", err)
		}
	})
}

// FuzzDecode found that a few bytes could make the decoders allocate gigabytes, which hung the
// fuzzer: a header claiming a huge picture (a 54-byte BMP for 10000x10000: 381 MB, then EOF),
// and a TIFF naming an IFD far beyond its end (9 bytes: 2 GB). Both are refused cheaply.
func TestHeaderClaimingMorePixelsThanData(t *testing.T) {
	bmp := append([]byte("BM"), make([]byte, 52)...)
	binary.LittleEndian.PutUint32(bmp[10:], 54)
	binary.LittleEndian.PutUint32(bmp[14:], 40)
	binary.LittleEndian.PutUint32(bmp[18:], 10000)
	binary.LittleEndian.PutUint32(bmp[22:], 10000)
	binary.LittleEndian.PutUint16(bmp[26:], 1)
	binary.LittleEndian.PutUint16(bmp[28:], 32)
	gif := []byte("GIF89a\x10\x27\x10\x27\x00\x00\x00,\x00\x00\x00\x00\x10\x27\x10\x27\x00\x08")
	// 9 bytes naming an IFD at 1 GB: 2 GB were allocated through image.DecodeConfig's reader
	tif := []byte("II*\x0000\x00A")
	for name, data := range map[string][]byte{"bmp": bmp, "gif": gif, "tiff": tif} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(data)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrBadImage) || name != "tiff" && !strings.Contains(err.Error(), "more than its") {
			t.Errorf("%s: %v; want ErrBadImage for a header claiming more pixels than its bytes hold", name, err)
		}
		if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 8 {
			t.Errorf("%s: %d MB allocated to refuse a %d-byte file", name, mb, len(data))
		}
	}
}

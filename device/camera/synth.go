package camera

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gocv.io/x/gocv"
)

// TextCard draws lines of dark text on a light background with OpenCV's Hershey font: a test
// picture with known words in it, for OCR and end-to-end tests.
func TextCard(width, height int, lines ...string) (*Frame, error) {
	if width < 16 || height < 16 || width > 8192 || height > 8192 {
		return nil, fmt.Errorf("camera: text card size %dx%d, expected 16..8192", width, height)
	}
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(235, 240, 245, 0), height, width, gocv.MatTypeCV8UC3)
	liveMats.Add(1)
	defer closeMat(&m)
	n := len(lines)
	if n == 0 {
		n = 1
	}
	longest := 1
	for _, l := range lines {
		if len(l) > longest {
			longest = len(l)
		}
	}
	// Hershey simplex is about 20 px per character at scale 1 (plus spacing): fit the longest line.
	scale := float64(width-40) / float64(longest*20)
	if lh := float64(height-20) / float64(n) / 40; lh < scale {
		scale = lh
	}
	if scale > 3 {
		scale = 3
	}
	thick := int(scale*2 + 0.5)
	if thick < 1 {
		thick = 1
	}
	lineH := int(scale * 40)
	top := (height-lineH*n)/2 + int(scale*30)
	for i, l := range lines {
		gocv.PutText(&m, l, image.Pt(20, top+i*lineH), gocv.FontHersheySimplex, scale, color.RGBA{20, 20, 20, 0}, thick)
	}
	return matToFrame(m)
}

// WriteVideo writes frames as an MJPG AVI file (what Debian's OpenCV writes without extra
// codecs) at fps frames per second. All frames must have the first one's size. The file is
// written under a temporary name and renamed into place.
func WriteVideo(path string, fps float64, frames ...*Frame) error {
	if len(frames) == 0 {
		return fmt.Errorf("camera: %s: no frames to write", path)
	}
	if !strings.EqualFold(filepath.Ext(path), ".avi") {
		return fmt.Errorf("camera: %s: the video file must end in .avi (MJPG in AVI)", path)
	}
	w, h := frames[0].Width, frames[0].Height
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	vw, err := gocv.VideoWriterFile(tmp, "MJPG", fps, w, h, true)
	if err != nil {
		return fmt.Errorf("camera: %s: %w", path, err)
	}
	if !vw.IsOpened() {
		vw.Close()
		return fmt.Errorf("camera: %s: OpenCV cannot write MJPG video", path)
	}
	for i, f := range frames {
		if f.Width != w || f.Height != h || len(f.Pix) != 3*w*h {
			vw.Close()
			os.Remove(tmp)
			return fmt.Errorf("camera: %s: frame %d is %dx%d, expected %dx%d", path, i, f.Width, f.Height, w, h)
		}
		if err := writeFrame(vw, f); err != nil {
			vw.Close()
			os.Remove(tmp)
			return fmt.Errorf("camera: %s: frame %d: %w", path, i, err)
		}
	}
	if err := vw.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("camera: %s: %w", path, err)
	}
	if fh, err := os.Open(tmp); err == nil {
		fh.Sync()
		fh.Close()
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("camera: %w", err)
	}
	return nil
}

func writeFrame(vw *gocv.VideoWriter, f *Frame) error {
	rgb, err := gocv.NewMatFromBytes(f.Height, f.Width, gocv.MatTypeCV8UC3, f.Pix)
	if err != nil {
		return err
	}
	liveMats.Add(1)
	defer closeMat(&rgb)
	bgr := newMat()
	defer closeMat(&bgr)
	gocv.CvtColor(rgb, &bgr, gocv.ColorBGRToRGB) // the same swap both ways
	if bgr.Empty() {
		return fmt.Errorf("colour conversion gave no picture")
	}
	return vw.Write(bgr)
}

// Blur returns a copy of f blurred with a Gaussian of the given sigma, and measured: a test aid
// for the sharpness check.
func Blur(f *Frame, sigma float64) (*Frame, error) {
	src, err := gocv.NewMatFromBytes(f.Height, f.Width, gocv.MatTypeCV8UC3, append([]byte(nil), f.Pix...))
	if err != nil {
		return nil, err
	}
	liveMats.Add(1)
	defer closeMat(&src)
	dst := newMat()
	defer closeMat(&dst)
	gocv.GaussianBlur(src, &dst, image.Pt(0, 0), sigma, sigma, gocv.BorderDefault)
	if dst.Empty() {
		return nil, fmt.Errorf("camera: blur gave no picture")
	}
	bgr := newMat() // matToFrame expects BGR
	defer closeMat(&bgr)
	gocv.CvtColor(dst, &bgr, gocv.ColorBGRToRGB)
	return matToFrame(bgr)
}

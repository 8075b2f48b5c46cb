package camera

import (
	"fmt"
	"image"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"
)

// liveMats counts the Mats this package has created and not yet closed. Mats hold C memory the
// Go collector never sees, so a leak grows the process without bound; tests assert it returns
// to zero.
var liveMats atomic.Int64

func newMat() gocv.Mat {
	liveMats.Add(1)
	return gocv.NewMat()
}

func closeMat(m *gocv.Mat) {
	m.Close()
	liveMats.Add(-1)
}

// LiveMats returns the number of OpenCV matrices this package holds right now (0 when idle).
func LiveMats() int64 { return liveMats.Load() }

// measureWidth is the width the luma is scaled to before the Laplacian, so sharpness means the
// same at every camera resolution.
const measureWidth = 640

// matToFrame converts a non-empty 8-bit BGR, BGRA or gray Mat into a measured Frame.
func matToFrame(src gocv.Mat) (*Frame, error) {
	if src.Empty() || src.Rows() <= 0 || src.Cols() <= 0 {
		return nil, fmt.Errorf("camera: %w (empty picture)", ErrUnavailable)
	}
	var code gocv.ColorConversionCode
	switch src.Type() {
	case gocv.MatTypeCV8UC3:
		code = gocv.ColorBGRToRGB
	case gocv.MatTypeCV8UC4:
		code = gocv.ColorRGBAToBGR // code 3, which is also BGRA to RGB: swap and drop alpha
	case gocv.MatTypeCV8UC1:
		code = gocv.ColorGrayToBGR // gray to three equal channels
	default:
		return nil, fmt.Errorf("camera: unsupported pixel type %v", src.Type())
	}
	rgb := newMat()
	defer closeMat(&rgb)
	gocv.CvtColor(src, &rgb, code)
	if rgb.Empty() || !rgb.IsContinuous() {
		return nil, fmt.Errorf("camera: colour conversion gave no picture")
	}
	f := &Frame{Width: rgb.Cols(), Height: rgb.Rows(), Pix: rgb.ToBytes(), Time: time.Now()}
	if len(f.Pix) != 3*f.Width*f.Height {
		return nil, fmt.Errorf("camera: picture has %d bytes, expected %d", len(f.Pix), 3*f.Width*f.Height)
	}
	if err := measureRGBMat(rgb, f); err != nil {
		return nil, err
	}
	return f, nil
}

// Measure fills in f's Brightness, Contrast and Sharpness (for frames that did not come from a
// Camera, such as a picture file handed to "assist ask").
func Measure(f *Frame) error {
	if f == nil || f.Width <= 0 || f.Height <= 0 || len(f.Pix) != 3*f.Width*f.Height {
		return fmt.Errorf("camera: cannot measure a frame of %v with %d bytes", f.Bounds().Size(), len(f.Pix))
	}
	m, err := gocv.NewMatFromBytes(f.Height, f.Width, gocv.MatTypeCV8UC3, f.Pix)
	if err != nil {
		return fmt.Errorf("camera: %w", err)
	}
	liveMats.Add(1)
	defer closeMat(&m)
	return measureRGBMat(m, f)
}

// measureRGBMat computes the luma statistics of a non-empty RGB Mat.
func measureRGBMat(rgb gocv.Mat, f *Frame) error {
	gray := newMat()
	defer closeMat(&gray)
	gocv.CvtColor(rgb, &gray, gocv.ColorRGBToGray)
	if gray.Empty() {
		return fmt.Errorf("camera: grey conversion gave no picture")
	}
	if gray.Cols() > measureWidth {
		h := gray.Rows() * measureWidth / gray.Cols()
		if h < 1 {
			h = 1
		}
		small := newMat()
		defer closeMat(&small)
		gocv.Resize(gray, &small, image.Pt(measureWidth, h), 0, 0, gocv.InterpolationArea)
		if small.Empty() {
			return fmt.Errorf("camera: scaling gave no picture")
		}
		gray, small = small, gray // both still closed by the defers
	}
	mean, std := newMat(), newMat()
	defer closeMat(&mean)
	defer closeMat(&std)
	gocv.MeanStdDev(gray, &mean, &std)
	f.Brightness = mean.GetDoubleAt(0, 0)
	f.Contrast = std.GetDoubleAt(0, 0)

	lap := newMat()
	defer closeMat(&lap)
	gocv.Laplacian(gray, &lap, gocv.MatTypeCV64F, 1, 1, 0, gocv.BorderDefault)
	if lap.Empty() {
		return fmt.Errorf("camera: Laplacian gave no result")
	}
	lmean, lstd := newMat(), newMat()
	defer closeMat(&lmean)
	defer closeMat(&lstd)
	gocv.MeanStdDev(lap, &lmean, &lstd)
	s := lstd.GetDoubleAt(0, 0)
	f.Sharpness = s * s
	return nil
}

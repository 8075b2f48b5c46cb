package ocr

import (
	"encoding/json"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
)

// homography mapping dst rect points -> src quad points (solve 8x8)
func zzHomography(dst, src [4][2]float64) [9]float64 {
	var A [8][9]float64
	for i := 0; i < 4; i++ {
		x, y := dst[i][0], dst[i][1]
		u, v := src[i][0], src[i][1]
		A[2*i] = [9]float64{x, y, 1, 0, 0, 0, -u * x, -u * y, u}
		A[2*i+1] = [9]float64{0, 0, 0, x, y, 1, -v * x, -v * y, v}
	}
	for c := 0; c < 8; c++ {
		p := c
		for r := c + 1; r < 8; r++ {
			if math.Abs(A[r][c]) > math.Abs(A[p][c]) {
				p = r
			}
		}
		A[c], A[p] = A[p], A[c]
		for r := 0; r < 8; r++ {
			if r != c {
				f := A[r][c] / A[c][c]
				for k := c; k < 9; k++ {
					A[r][k] -= f * A[c][k]
				}
			}
		}
	}
	var h [9]float64
	for i := 0; i < 8; i++ {
		h[i] = A[i][8] / A[i][i]
	}
	h[8] = 1
	return h
}

func TestZZRect(t *testing.T) {
	e := engine(t)
	var d struct {
		DataList []struct {
			ImgPath   string `json:"img_path"`
			Instances []struct {
				Poly   []float64 `json:"polygon"`
				Ignore bool      `json:"ignore"`
			} `json:"instances"`
		} `json:"data_list"`
	}
	b, _ := os.ReadFile(shareddata.Path(t, "ocr/icdar2015-toy/textdet_test.json"))
	json.Unmarshal(b, &d)
	polys := map[string][][]float64{}
	for _, x := range d.DataList {
		n := strings.TrimSuffix(filepath.Base(x.ImgPath), ".jpg")
		for _, in := range x.Instances {
			if !in.Ignore {
				polys[n] = append(polys[n], in.Poly)
			}
		}
	}
	photos := map[string]*image.Gray{}
	for _, p := range icdar(t) {
		photos[p.name] = toGray(p.img)
	}
	ok := 0
	for ci, c := range sceneCrops {
		var q []float64
		for _, p := range polys[c.photo] {
			if int(p[0]) >= c.box.Min.X-3 && int(p[0]) <= c.box.Min.X+5 && int(p[1]) >= c.box.Min.Y-10 && int(p[1]) <= c.box.Max.Y {
				q = p
			}
		}
		if q == nil {
			t.Fatalf("no polygon for %d", ci)
		}
		g := photos[c.photo]
		wd := (math.Hypot(q[2]-q[0], q[3]-q[1]) + math.Hypot(q[4]-q[6], q[5]-q[7])) / 2
		ht := (math.Hypot(q[6]-q[0], q[7]-q[1]) + math.Hypot(q[4]-q[2], q[5]-q[3])) / 2
		m := 4.0 // the same margin as the test's crops, in the rectified frame
		W, H := int(math.Round(wd+2*m)), int(math.Round(ht+2*m))
		src := [4][2]float64{{q[0], q[1]}, {q[2], q[3]}, {q[4], q[5]}, {q[6], q[7]}}
		dst := [4][2]float64{{m, m}, {m + wd, m}, {m + wd, m + ht}, {m, m + ht}}
		h := zzHomography(dst, src)
		out := image.NewGray(image.Rect(0, 0, W, H))
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				X, Y := float64(x)+0.5, float64(y)+0.5
				w := h[6]*X + h[7]*Y + h[8]
				u := (h[0]*X+h[1]*Y+h[2])/w - 0.5
				v := (h[3]*X+h[4]*Y+h[5])/w - 0.5
				x0, y0 := int(math.Floor(u)), int(math.Floor(v))
				fx, fy := u-float64(x0), v-float64(y0)
				at := func(a, b int) float64 {
					return float64(g.Pix[clampi(b, 0, g.Rect.Dy()-1)*g.Stride+clampi(a, 0, g.Rect.Dx()-1)])
				}
				val := (at(x0, y0)*(1-fx)+at(x0+1, y0)*fx)*(1-fy) + (at(x0, y0+1)*(1-fx)+at(x0+1, y0+1)*fx)*fy
				out.Pix[y*out.Stride+x] = uint8(val + 0.5)
			}
		}
		pg := readPage(t, e, out)
		r := wordRead(pg.Text(), c.text)
		if r {
			ok++
		}
		ang := math.Atan2(q[3]-q[1], q[2]-q[0]) * 180 / math.Pi
		t.Logf("%-16q top edge %+.1f° rectified %dx%d: %v %q", c.text, ang, W, H, r, pg.Text())
	}
	t.Logf("rectified crops read: %d/%d", ok, len(sceneCrops))
}

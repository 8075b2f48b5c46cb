package onnx

import (
	"fmt"
	"math"
	"testing"
)

// refSrc is the source coordinate of output index o under an ONNX coordinate transformation.
func refSrc(mode string, o, in, out int, scale float64) float64 {
	switch mode {
	case "half_pixel":
		return (float64(o)+0.5)/scale - 0.5
	case "align_corners":
		if out == 1 {
			return 0
		}
		return float64(o) * float64(in-1) / float64(out-1)
	}
	return float64(o) / scale // asymmetric
}

func TestResize(t *testing.T) {
	xs := []int{1, 2, 5, 7}
	x := randT(xs...)
	for _, c := range []struct {
		mode, coord, nearest string
		scales               []float32
		sizes                []int64
	}{
		{"nearest", "asymmetric", "floor", []float32{1, 1, 2, 2}, nil}, // PP-OCR's detector
		{"nearest", "asymmetric", "floor", []float32{1, 1, 8, 8}, nil},
		{"nearest", "half_pixel", "round_prefer_floor", []float32{1, 1, 0.6, 1.5}, nil},
		{"nearest", "align_corners", "ceil", nil, []int64{1, 2, 9, 4}},
		{"linear", "half_pixel", "", []float32{1, 1, 2, 0.5}, nil},
		{"linear", "align_corners", "", nil, []int64{1, 2, 3, 11}},
		{"linear", "asymmetric", "", []float32{1, 1, 1.5, 3}, nil},
	} {
		attrs := []tAttr{aStr("mode", c.mode), aStr("coordinate_transformation_mode", c.coord)}
		if c.nearest != "" {
			attrs = append(attrs, aStr("nearest_mode", c.nearest))
		}
		os := make([]int, 4)
		sc := make([]float64, 4)
		args := []arg{fArg(xs, x), cArg([]int{0}, []float32{})}
		if c.sizes != nil {
			args = append(args, cArg([]int{0}, []float32{}), iArg(c.sizes...))
			for i := range os {
				os[i] = int(c.sizes[i])
				sc[i] = float64(os[i]) / float64(xs[i])
			}
		} else {
			args = append(args, cArg([]int{4}, c.scales))
			for i := range os {
				sc[i] = float64(c.scales[i])
				os[i] = int(math.Floor(float64(xs[i]) * sc[i]))
			}
		}
		want := make([]float64, numel(os))
		for i := range want {
			o := unravel(i, os)
			if c.mode == "nearest" {
				src := make([]int, 4)
				for ax := range src {
					v := refSrc(c.coord, o[ax], xs[ax], os[ax], sc[ax])
					k := 0.0
					switch c.nearest {
					case "floor":
						k = math.Floor(v)
					case "ceil":
						k = math.Ceil(v)
					default:
						k = math.Round(v)
						if v-math.Floor(v) == 0.5 {
							k = math.Floor(v)
						}
					}
					src[ax] = min(max(int(k), 0), xs[ax]-1)
				}
				want[i] = float64(x[bcastIndex(src, xs)])
				continue
			}
			// bilinear on the last two axes (the first two have scale 1)
			vy := math.Min(math.Max(refSrc(c.coord, o[2], xs[2], os[2], sc[2]), 0), float64(xs[2]-1))
			vx := math.Min(math.Max(refSrc(c.coord, o[3], xs[3], os[3], sc[3]), 0), float64(xs[3]-1))
			y0, x0 := int(vy), int(vx)
			y1, x1 := min(y0+1, xs[2]-1), min(x0+1, xs[3]-1)
			fy, fx := vy-float64(y0), vx-float64(x0)
			at := func(y, xx int) float64 { return float64(x[bcastIndex([]int{o[0], o[1], y, xx}, xs)]) }
			want[i] = (1-fy)*((1-fx)*at(y0, x0)+fx*at(y0, x1)) + fy*((1-fx)*at(y1, x0)+fx*at(y1, x1))
		}
		got, err := runOp(11, "Resize", attrs, args...)
		check(t, fmt.Sprintf("Resize %+v", c), got, err, os, want, 1e-5)
	}
}

func TestConvTranspose(t *testing.T) {
	for ci, c := range []struct {
		xs, ws              []int
		group               int
		st, pads, dil, opad []int
	}{
		{[]int{1, 4, 5, 6}, []int{4, 3, 2, 2}, 1, []int{2, 2}, []int{0, 0, 0, 0}, []int{1, 1}, []int{0, 0}}, // PP-OCR's detector
		{[]int{2, 4, 3, 4}, []int{4, 1, 3, 3}, 4, []int{2, 1}, []int{1, 0, 1, 1}, []int{1, 2}, []int{1, 0}},
		{[]int{1, 6, 4, 3}, []int{6, 2, 3, 2}, 3, []int{1, 3}, []int{0, 1, 2, 0}, []int{1, 1}, []int{0, 2}},
	} {
		x, w, b := randT(c.xs...), randT(c.ws...), randT(c.ws[1]*c.group)
		n, ch, h, wd := c.xs[0], c.xs[1], c.xs[2], c.xs[3]
		cg, mg, kh, kw := ch/c.group, c.ws[1], c.ws[2], c.ws[3]
		m := mg * c.group
		oh := (h-1)*c.st[0] - c.pads[0] - c.pads[2] + (kh-1)*c.dil[0] + 1 + c.opad[0]
		ow := (wd-1)*c.st[1] - c.pads[1] - c.pads[3] + (kw-1)*c.dil[1] + 1 + c.opad[1]
		want := make([]float64, n*m*oh*ow)
		for bi := 0; bi < n; bi++ {
			for co := 0; co < m; co++ {
				for i := 0; i < oh*ow; i++ {
					want[(bi*m+co)*oh*ow+i] = float64(b[co])
				}
			}
			for ci := 0; ci < ch; ci++ {
				g := ci / cg
				for iy := 0; iy < h; iy++ {
					for ix := 0; ix < wd; ix++ {
						v := float64(x[((bi*ch+ci)*h+iy)*wd+ix])
						for cm := 0; cm < mg; cm++ {
							for ky := 0; ky < kh; ky++ {
								for kx := 0; kx < kw; kx++ {
									oy := iy*c.st[0] - c.pads[0] + ky*c.dil[0]
									ox := ix*c.st[1] - c.pads[1] + kx*c.dil[1]
									if oy < 0 || ox < 0 || oy >= oh || ox >= ow {
										continue
									}
									co := g*mg + cm
									want[((bi*m+co)*oh+oy)*ow+ox] += v * float64(w[((ci*mg+cm)*kh+ky)*kw+kx])
								}
							}
						}
					}
				}
			}
		}
		attrs := []tAttr{aInts("kernel_shape", int64(kh), int64(kw)), aInt("group", int64(c.group)),
			aInts("strides", int64(c.st[0]), int64(c.st[1])), aInts("dilations", int64(c.dil[0]), int64(c.dil[1])),
			aInts("pads", int64(c.pads[0]), int64(c.pads[1]), int64(c.pads[2]), int64(c.pads[3])),
			aInts("output_padding", int64(c.opad[0]), int64(c.opad[1]))}
		got, err := runOp(11, "ConvTranspose", attrs, fArg(c.xs, x), cArg(c.ws, w), cArg([]int{m}, b))
		check(t, fmt.Sprintf("ConvTranspose case %d", ci), got, err, []int{n, m, oh, ow}, want, 1e-4)
	}
}

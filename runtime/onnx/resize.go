package onnx

import (
	"fmt"
	"math"
)

// Resize (opset 11 and later) and ConvTranspose: what PP-OCR's DBNet detector adds to the
// recognizer's ops.

func compileResize(c *compileCtx) (kernel, error) {
	if c.opset < 11 {
		return nil, fmt.Errorf("Resize before opset 11 is not supported")
	}
	mode, err := c.attrs.str("mode", "nearest")
	if err != nil {
		return nil, err
	}
	coord, err := c.attrs.str("coordinate_transformation_mode", "half_pixel")
	if err != nil {
		return nil, err
	}
	nearest, err := c.attrs.str("nearest_mode", "round_prefer_floor")
	if err != nil {
		return nil, err
	}
	if ex, err := c.attrs.int("exclude_outside", 0); err != nil || ex != 0 {
		return nil, fmt.Errorf("exclude_outside=%d is not supported (%v)", ex, err)
	}
	c.attrs.ignore("cubic_coeff_a", "extrapolation_value") // used only by cubic and tf_crop_and_resize
	switch mode {
	case "nearest", "linear":
	default:
		return nil, fmt.Errorf("Resize mode %q is not supported (nearest, linear are)", mode)
	}
	switch coord {
	case "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn":
	default:
		return nil, fmt.Errorf("coordinate_transformation_mode %q is not supported", coord)
	}
	switch nearest {
	case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
	default:
		return nil, fmt.Errorf("nearest_mode %q is not supported", nearest)
	}
	return func(rc *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		if err := needFloat(x, "X"); err != nil {
			return nil, err
		}
		r := len(x.shape)
		scales := make([]float64, r)
		out := make([]int, r)
		switch {
		case len(in) > 3 && in[3] != nil && in[3].size() > 0:
			sz, err := intList(in[3], "sizes")
			if err != nil {
				return nil, err
			}
			if len(sz) != r {
				return nil, fmt.Errorf("sizes %v for rank %d", sz, r)
			}
			for i, s := range sz {
				if s < 0 || s > maxElems {
					return nil, fmt.Errorf("sizes %v", sz)
				}
				out[i] = int(s)
				scales[i] = float64(s) / float64(max(x.shape[i], 1))
			}
		case len(in) > 2 && in[2] != nil && in[2].size() > 0:
			sc := in[2]
			if !sc.isFloat() || sc.size() != r {
				return nil, fmt.Errorf("scales is %s %v, expected float [%d]", dtypeName(sc.dtype), sc.shape, r)
			}
			for i, s := range sc.f {
				if !(s > 0) || float64(x.shape[i])*float64(s) > maxElems {
					return nil, fmt.Errorf("scale %v", s)
				}
				scales[i] = float64(s)
				out[i] = int(math.Floor(float64(x.shape[i]) * float64(s)))
			}
		default:
			return nil, fmt.Errorf("Resize needs scales or sizes")
		}
		if n := numel(out); n > maxElems || n < 0 {
			return nil, fmt.Errorf("output %v too large", out)
		}
		// source coordinate of each output index, per axis
		srcCoord := func(ax, o int) float64 {
			in, on, s := float64(x.shape[ax]), float64(out[ax]), scales[ax]
			xo := float64(o)
			switch coord {
			case "half_pixel":
				return (xo+0.5)/s - 0.5
			case "pytorch_half_pixel":
				if on > 1 {
					return (xo+0.5)/s - 0.5
				}
				return 0
			case "align_corners":
				if on == 1 {
					return 0
				}
				return xo * (in - 1) / (on - 1)
			case "tf_half_pixel_for_nn":
				return (xo + 0.5) / s
			}
			return xo / s // asymmetric
		}
		res := rc.alloc(out)
		if numel(out) == 0 {
			return []*value{res}, nil
		}
		if mode == "nearest" {
			idx := make([][]int, r) // per axis: source index of each output index
			for ax := 0; ax < r; ax++ {
				idx[ax] = make([]int, out[ax])
				for o := range idx[ax] {
					v := srcCoord(ax, o)
					var k float64
					switch nearest {
					case "floor":
						k = math.Floor(v)
					case "ceil":
						k = math.Ceil(v)
					case "round_prefer_ceil":
						k = math.Floor(v + 0.5)
					default: // round_prefer_floor
						k = math.Ceil(v - 0.5)
					}
					idx[ax][o] = min(max(int(k), 0), x.shape[ax]-1)
				}
			}
			st := rowStrides(x.shape)
			pos := make([]int, r)
			for i := range res.f {
				off := 0
				for ax := 0; ax < r; ax++ {
					off += idx[ax][pos[ax]] * st[ax]
				}
				res.f[i] = x.f[off]
				for ax := r - 1; ax >= 0; ax-- {
					pos[ax]++
					if pos[ax] < out[ax] {
						break
					}
					pos[ax] = 0
				}
			}
			return []*value{res}, nil
		}
		// linear: separable; each axis interpolates between two source indices
		type tap struct {
			i0, i1 int
			w1     float64
		}
		taps := make([][]tap, r)
		for ax := 0; ax < r; ax++ {
			taps[ax] = make([]tap, out[ax])
			for o := range taps[ax] {
				v := srcCoord(ax, o)
				v = min(max(v, 0), float64(x.shape[ax]-1))
				i0 := int(math.Floor(v))
				i1 := min(i0+1, x.shape[ax]-1)
				taps[ax][o] = tap{i0, i1, v - float64(i0)}
			}
		}
		st := rowStrides(x.shape)
		pos := make([]int, r)
		for i := range res.f {
			// sum over the 2^r corners
			s := 0.0
			for corner := 0; corner < 1<<r; corner++ {
				w, off := 1.0, 0
				for ax := 0; ax < r; ax++ {
					t := taps[ax][pos[ax]]
					if corner&(1<<ax) != 0 {
						w *= t.w1
						off += t.i1 * st[ax]
					} else {
						w *= 1 - t.w1
						off += t.i0 * st[ax]
					}
				}
				if w != 0 {
					s += w * float64(x.f[off])
				}
			}
			res.f[i] = float32(s)
			for ax := r - 1; ax >= 0; ax-- {
				pos[ax]++
				if pos[ax] < out[ax] {
					break
				}
				pos[ax] = 0
			}
		}
		return []*value{res}, nil
	}, nil
}

func compileConvTranspose(c *compileCtx) (kernel, error) {
	s, err := readSpatial(c.attrs, true)
	if err != nil {
		return nil, err
	}
	if s.autoPad != "NOTSET" && s.autoPad != "VALID" {
		return nil, fmt.Errorf("ConvTranspose auto_pad %s is not supported", s.autoPad)
	}
	group, err := c.attrs.int("group", 1)
	if err != nil {
		return nil, err
	}
	if group < 1 || group > math.MaxInt32 {
		return nil, fmt.Errorf("group %d, expected >= 1", group)
	}
	op, err := c.attrs.ints("output_padding", nil)
	if err != nil {
		return nil, err
	}
	if op != nil && len(op) != 2 {
		return nil, fmt.Errorf("output_padding %v: only 2-D is supported", op)
	}
	if os, err := c.attrs.ints("output_shape", nil); err != nil || os != nil {
		return nil, fmt.Errorf("output_shape is not supported (%v)", err)
	}
	return func(rc *runCtx, in []*value) ([]*value, error) {
		x, w := in[0], in[1]
		if err := needFloat(x, "X"); err != nil {
			return nil, err
		}
		if err := needFloat(w, "W"); err != nil {
			return nil, err
		}
		if len(x.shape) != 4 || len(w.shape) != 4 {
			return nil, fmt.Errorf("X %v and W %v: only 2-D (4-D tensors) is supported", x.shape, w.shape)
		}
		n, ch, h, wd := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
		g := int(group)
		if w.shape[0] != ch || ch%g != 0 {
			return nil, fmt.Errorf("X %v, W %v and group %d do not match", x.shape, w.shape, group)
		}
		cg, mg, kh, kw := ch/g, w.shape[1], w.shape[2], w.shape[3]
		if s.kernel != nil && (s.kernel[0] != kh || s.kernel[1] != kw) {
			return nil, fmt.Errorf("kernel_shape %v but W %v", s.kernel, w.shape)
		}
		m := mg * g
		sh, sw, dh, dw := 1, 1, 1, 1
		if s.strides != nil {
			sh, sw = s.strides[0], s.strides[1]
		}
		if s.dilations != nil {
			dh, dw = s.dilations[0], s.dilations[1]
		}
		var pt, pl, pb, pr, oph, opw int
		if s.pads != nil {
			pt, pl, pb, pr = s.pads[0], s.pads[1], s.pads[2], s.pads[3]
		}
		if op != nil {
			oph, opw = int(op[0]), int(op[1])
		}
		oh := (h-1)*sh - pt - pb + (kh-1)*dh + 1 + oph
		ow := (wd-1)*sw - pl - pr + (kw-1)*dw + 1 + opw
		if oh <= 0 || ow <= 0 || int64(n)*int64(m)*int64(oh)*int64(ow) > maxElems {
			return nil, fmt.Errorf("output size %dx%d for input %v", oh, ow, x.shape)
		}
		var bias []float32
		if len(in) > 2 && in[2] != nil {
			b := in[2]
			if !b.isFloat() || len(b.shape) != 1 || b.shape[0] != m {
				return nil, fmt.Errorf("B is %s %v, expected float [%d]", dtypeName(b.dtype), b.shape, m)
			}
			bias = b.f
		}
		out := rc.alloc([]int{n, m, oh, ow})
		hw, mkk := h*wd, mg*kh*kw
		xT := make([]float32, hw*cg)
		wT := make([]float32, mkk*cg)
		cols := make([]float32, mkk*hw)
		for b := 0; b < n; b++ {
			for gi := 0; gi < g; gi++ {
				// cols[(co·kh+ky)·kw+kx][pixel] = Σ_ci W[ci][co][ky][kx] · X[ci][pixel]
				transpose2(xT, x.f[(b*ch+gi*cg)*hw:(b*ch+(gi+1)*cg)*hw], cg, hw)
				transpose2(wT, w.f[gi*cg*mkk:(gi+1)*cg*mkk], cg, mkk)
				rc.matmul(cols, wT, xT, mkk, cg, hw)
				for co := 0; co < mg; co++ {
					dst := out.f[(b*m+gi*mg+co)*oh*ow : (b*m+gi*mg+co+1)*oh*ow]
					bv := float32(0)
					if bias != nil {
						bv = bias[gi*mg+co]
					}
					for i := range dst {
						dst[i] = bv
					}
					for ky := 0; ky < kh; ky++ {
						for kx := 0; kx < kw; kx++ {
							src := cols[((co*kh+ky)*kw+kx)*hw:]
							for iy := 0; iy < h; iy++ {
								oy := iy*sh - pt + ky*dh
								if oy < 0 || oy >= oh {
									continue
								}
								drow := dst[oy*ow : (oy+1)*ow]
								srow := src[iy*wd : (iy+1)*wd]
								for ix, v := range srow {
									if ox := ix*sw - pl + kx*dw; ox >= 0 && ox < ow {
										drow[ox] += v
									}
								}
							}
						}
					}
				}
			}
		}
		return []*value{out}, nil
	}, nil
}

// rowStrides gives the element strides of a row-major shape.
func rowStrides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

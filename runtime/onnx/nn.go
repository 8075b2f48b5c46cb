package onnx

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// ---- MatMul and Gemm ----

// transpose2 returns the m×k transpose of a k×m row-major matrix, in 16×16 tiles.
func transpose2(dst, src []float32, k, m int) []float32 {
	if dst == nil {
		dst = make([]float32, k*m)
	}
	const t = 16
	for i0 := 0; i0 < k; i0 += t {
		i1 := min(i0+t, k)
		for j0 := 0; j0 < m; j0 += t {
			j1 := min(j0+t, m)
			for i := i0; i < i1; i++ {
				row := src[i*m+j0 : i*m+j1]
				for j, v := range row {
					dst[(j0+j)*k+i] = v
				}
			}
		}
	}
	return dst
}

// matmul computes dst[n×m] = a[n×k] · bT[m×k]ᵀ.
func (c *runCtx) matmul(dst, a, bT []float32, n, k, m int) {
	if n == 0 || m == 0 {
		return
	}
	if k == 0 {
		clear(dst[:n*m])
		return
	}
	c.pool.MatMulF32(dst[:n*m], a[:n*k], bT[:m*k], n, k, m)
}

func compileMatMul(c *compileCtx) (kernel, error) {
	var bT []float32 // the transpose of a constant 2-D B, made once
	if b := c.consts[1]; b != nil && b.isFloat() && len(b.shape) == 2 {
		bT = transpose2(nil, b.f, b.shape[0], b.shape[1])
	}
	return func(rc *runCtx, in []*value) ([]*value, error) {
		a, b := in[0], in[1]
		if err := needFloat(a, "A"); err != nil {
			return nil, err
		}
		if err := needFloat(b, "B"); err != nil {
			return nil, err
		}
		as, bs := a.shape, b.shape
		if len(as) == 0 || len(bs) == 0 {
			return nil, fmt.Errorf("MatMul of a scalar (%v, %v)", as, bs)
		}
		if len(as) == 1 {
			as = []int{1, as[0]}
		}
		if len(bs) == 1 {
			bs = []int{bs[0], 1}
		}
		n, k := as[len(as)-2], as[len(as)-1]
		k2, m := bs[len(bs)-2], bs[len(bs)-1]
		if k != k2 {
			return nil, fmt.Errorf("shapes %v and %v do not multiply", a.shape, b.shape)
		}
		batch, err := broadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
		if err != nil {
			return nil, err
		}
		shape := append(slices.Clone(batch), n, m)
		out := rc.alloc(shape)
		var bt []float32
		bCached := bT != nil
		if !bCached {
			bt = make([]float32, k*m)
		}
		bcastLoop(batch, as[:len(as)-2], bs[:len(bs)-2], func(o, ia, sa, ib, sb, cnt int) {
			for j := 0; j < cnt; j++ {
				ai, bi := ia+j*sa, ib+j*sb
				if bCached {
					bt = bT
				} else {
					transpose2(bt, b.f[bi*k*m:(bi+1)*k*m], k, m)
				}
				rc.matmul(out.f[(o+j)*n*m:], a.f[ai*n*k:], bt, n, k, m)
			}
		})
		// drop the dimensions added for 1-D operands
		if len(a.shape) == 1 || len(b.shape) == 1 {
			s := slices.Clone(batch)
			if len(a.shape) != 1 {
				s = append(s, n)
			}
			if len(b.shape) != 1 {
				s = append(s, m)
			}
			out.shape = s
		}
		return []*value{out}, nil
	}, nil
}

func compileGemm(c *compileCtx) (kernel, error) {
	alpha, err := c.attrs.float("alpha", 1)
	if err != nil {
		return nil, err
	}
	beta, err := c.attrs.float("beta", 1)
	if err != nil {
		return nil, err
	}
	transA, err := c.attrs.int("transA", 0)
	if err != nil {
		return nil, err
	}
	transB, err := c.attrs.int("transB", 0)
	if err != nil {
		return nil, err
	}
	if c.opset < 7 {
		c.attrs.ignore("broadcast")
	}
	return func(rc *runCtx, in []*value) ([]*value, error) {
		a, b := in[0], in[1]
		if err := needFloat(a, "A"); err != nil {
			return nil, err
		}
		if err := needFloat(b, "B"); err != nil {
			return nil, err
		}
		if len(a.shape) != 2 || len(b.shape) != 2 {
			return nil, fmt.Errorf("Gemm needs 2-D A and B, got %v and %v", a.shape, b.shape)
		}
		n, k := a.shape[0], a.shape[1]
		am := a.f
		if transA != 0 {
			n, k = k, n
			am = transpose2(nil, a.f, k, n)
		}
		var bt []float32
		var m int
		if transB != 0 {
			m = b.shape[0]
			if b.shape[1] != k {
				return nil, fmt.Errorf("shapes %v and %v do not multiply (transA %d, transB %d)", a.shape, b.shape, transA, transB)
			}
			bt = b.f
		} else {
			m = b.shape[1]
			if b.shape[0] != k {
				return nil, fmt.Errorf("shapes %v and %v do not multiply (transA %d, transB %d)", a.shape, b.shape, transA, transB)
			}
			bt = transpose2(nil, b.f, k, m)
		}
		out := newFloat([]int{n, m})
		rc.matmul(out.f, am, bt, n, k, m)
		if alpha != 1 {
			for i := range out.f {
				out.f[i] *= alpha
			}
		}
		if len(in) > 2 && in[2] != nil && beta != 0 {
			cv := in[2]
			if err := needFloat(cv, "C"); err != nil {
				return nil, err
			}
			shape, err := broadcastShapes([]int{n, m}, cv.shape)
			if err != nil || len(shape) != 2 || shape[0] != n || shape[1] != m {
				return nil, fmt.Errorf("C of shape %v does not broadcast to [%d %d]", cv.shape, n, m)
			}
			bc := cv
			if beta != 1 {
				bc = newFloat(cv.shape)
				for i, v := range cv.f {
					bc.f[i] = beta * v
				}
			}
			v, err := binaryEval(opAdd, out, bc)
			if err != nil {
				return nil, err
			}
			out = v
		}
		return []*value{out}, nil
	}, nil
}

// ---- convolution ----

type convGeom struct {
	n, c, h, w     int // input
	m, cg, kh, kw  int // weight
	group          int
	sh, sw, dh, dw int
	pt, pl, pb, pr int
	oh, ow         int
}

type spatialAttrs struct {
	autoPad   string
	kernel    []int
	strides   []int
	dilations []int
	pads      []int
}

func readSpatial(a *attrs, withDilations bool) (*spatialAttrs, error) {
	s := &spatialAttrs{}
	var err error
	if s.autoPad, err = a.str("auto_pad", "NOTSET"); err != nil {
		return nil, err
	}
	switch s.autoPad {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER":
	default:
		return nil, fmt.Errorf("auto_pad %q, expected NOTSET, VALID, SAME_UPPER or SAME_LOWER", s.autoPad)
	}
	get := func(name string) ([]int, error) {
		v, err := a.ints(name, nil)
		if err != nil || v == nil {
			return nil, err
		}
		return toInts(v, name)
	}
	if s.kernel, err = get("kernel_shape"); err != nil {
		return nil, err
	}
	if s.strides, err = get("strides"); err != nil {
		return nil, err
	}
	if withDilations {
		if s.dilations, err = get("dilations"); err != nil {
			return nil, err
		}
	}
	if s.pads, err = get("pads"); err != nil {
		return nil, err
	}
	if s.autoPad != "NOTSET" && s.pads != nil {
		return nil, fmt.Errorf("pads given with auto_pad %s", s.autoPad)
	}
	if s.kernel != nil && len(s.kernel) != 2 || s.strides != nil && len(s.strides) != 2 ||
		s.dilations != nil && len(s.dilations) != 2 || s.pads != nil && len(s.pads) != 4 {
		return nil, fmt.Errorf("only 2-D spatial ops are supported (kernel_shape %v, strides %v, dilations %v, pads %v)",
			s.kernel, s.strides, s.dilations, s.pads)
	}
	for _, v := range [][]int{s.kernel, s.strides, s.dilations} {
		for _, x := range v {
			if x < 1 {
				return nil, fmt.Errorf("kernel_shape %v, strides %v, dilations %v: expected values >= 1", s.kernel, s.strides, s.dilations)
			}
		}
	}
	for _, x := range s.pads {
		if x < 0 {
			return nil, fmt.Errorf("pads %v: expected values >= 0", s.pads)
		}
	}
	return s, nil
}

// geometry fills strides, dilations, pads and the output size for an input of h×w and a kernel
// of kh×kw.
func (s *spatialAttrs) geometry(g *convGeom, ceil bool) error {
	g.sh, g.sw, g.dh, g.dw = 1, 1, 1, 1
	if s.strides != nil {
		g.sh, g.sw = s.strides[0], s.strides[1]
	}
	if s.dilations != nil {
		g.dh, g.dw = s.dilations[0], s.dilations[1]
	}
	if s.pads != nil {
		g.pt, g.pl, g.pb, g.pr = s.pads[0], s.pads[1], s.pads[2], s.pads[3]
	}
	ekh, ekw := (g.kh-1)*g.dh+1, (g.kw-1)*g.dw+1
	switch s.autoPad {
	case "SAME_UPPER", "SAME_LOWER":
		g.oh, g.ow = (g.h+g.sh-1)/g.sh, (g.w+g.sw-1)/g.sw
		ph := max(0, (g.oh-1)*g.sh+ekh-g.h)
		pw := max(0, (g.ow-1)*g.sw+ekw-g.w)
		if s.autoPad == "SAME_UPPER" {
			g.pt, g.pl = ph/2, pw/2
		} else {
			g.pt, g.pl = ph-ph/2, pw-pw/2
		}
		g.pb, g.pr = ph-g.pt, pw-g.pl
		return nil
	}
	out := func(in, pa, pb, ek, st int) int {
		span := in + pa + pb - ek
		if span < 0 {
			return 0
		}
		if !ceil {
			return span/st + 1
		}
		o := (span+st-1)/st + 1
		if (o-1)*st >= in+pa { // the last window must start inside the input or the left pad
			o--
		}
		return o
	}
	g.oh, g.ow = out(g.h, g.pt, g.pb, ekh, g.sh), out(g.w, g.pl, g.pr, ekw, g.sw)
	if g.oh <= 0 || g.ow <= 0 {
		return fmt.Errorf("input %dx%d is smaller than the kernel %dx%d (pads %d,%d,%d,%d)", g.h, g.w, ekh, ekw, g.pt, g.pl, g.pb, g.pr)
	}
	return nil
}

func compileConv(c *compileCtx) (kernel, error) {
	s, err := readSpatial(c.attrs, true)
	if err != nil {
		return nil, err
	}
	group, err := c.attrs.int("group", 1)
	if err != nil {
		return nil, err
	}
	if group < 1 || group > math.MaxInt32 {
		return nil, fmt.Errorf("group %d, expected >= 1", group)
	}
	if w := c.consts[1]; w != nil && len(w.shape) != 4 {
		return nil, fmt.Errorf("weight has shape %v; only 2-D convolution (4-D weight) is supported", w.shape)
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
			return nil, fmt.Errorf("X %v and W %v: only 2-D convolution (4-D tensors) is supported", x.shape, w.shape)
		}
		g := &convGeom{n: x.shape[0], c: x.shape[1], h: x.shape[2], w: x.shape[3],
			m: w.shape[0], cg: w.shape[1], kh: w.shape[2], kw: w.shape[3], group: int(group)}
		if g.cg*g.group != g.c || g.m%g.group != 0 {
			return nil, fmt.Errorf("X %v, W %v and group %d do not match", x.shape, w.shape, group)
		}
		if s.kernel != nil && (s.kernel[0] != g.kh || s.kernel[1] != g.kw) {
			return nil, fmt.Errorf("kernel_shape %v but W %v", s.kernel, w.shape)
		}
		if err := s.geometry(g, false); err != nil {
			return nil, err
		}
		var bias []float32
		if len(in) > 2 && in[2] != nil {
			b := in[2]
			if !b.isFloat() || len(b.shape) != 1 || b.shape[0] != g.m {
				return nil, fmt.Errorf("B is %s %v, expected float [%d]", dtypeName(b.dtype), b.shape, g.m)
			}
			bias = b.f
		}
		out := rc.alloc([]int{g.n, g.m, g.oh, g.ow})
		if g.cg == 1 {
			convDepthwise(rc, g, out.f, x.f, w.f, bias)
		} else {
			convIm2row(rc, g, out.f, x.f, w.f, bias)
		}
		return []*value{out}, nil
	}, nil
}

// convDepthwise handles one input channel per group: the channel is copied into a zero-padded
// plane, and each output row is the sum of kh·kw shifted input rows times a tap (AXPY when the
// horizontal stride is 1).
func convDepthwise(rc *runCtx, g *convGeom, out, x, w, bias []float32) {
	mg := g.m / g.group
	plane := g.oh * g.ow
	hp, wp := g.h+g.pt+g.pb, g.w+g.pl+g.pr
	rc.pool.Run(g.n*g.m, 1, func(lo, hi int) {
		bufp := colPool.Get().(*[]float32)
		defer colPool.Put(bufp)
		if cap(*bufp) < hp*wp {
			*bufp = make([]float32, hp*wp)
		}
		pad := (*bufp)[:hp*wp]
		clear(pad)
		for nm := lo; nm < hi; nm++ {
			n, m := nm/g.m, nm%g.m
			ci := m / mg
			src := x[(n*g.c+ci)*g.h*g.w : (n*g.c+ci+1)*g.h*g.w]
			for y := 0; y < g.h; y++ { // the borders stay zero
				copy(pad[(y+g.pt)*wp+g.pl:], src[y*g.w:(y+1)*g.w])
			}
			dst := out[nm*plane : (nm+1)*plane]
			wk := w[m*g.kh*g.kw : (m+1)*g.kh*g.kw]
			b := float32(0)
			if bias != nil {
				b = bias[m]
			}
			for i := range dst {
				dst[i] = b
			}
			for oy := 0; oy < g.oh; oy++ {
				drow := dst[oy*g.ow : (oy+1)*g.ow]
				for ky := 0; ky < g.kh; ky++ {
					prow := pad[(oy*g.sh+ky*g.dh)*wp : (oy*g.sh+ky*g.dh+1)*wp]
					for kx := 0; kx < g.kw; kx++ {
						wv := wk[ky*g.kw+kx]
						off := kx * g.dw
						if g.sw == 1 {
							cpu.AXPY(drow, wv, prow[off:off+g.ow])
						} else {
							for ox := range drow {
								drow[ox] += wv * prow[off+ox*g.sw]
							}
						}
					}
				}
			}
		}
	})
}

var colPool = sync.Pool{New: func() any { return new([]float32) }}

// tiledColElems: above this many im2row elements (P·K), a convolution runs in tiles of output
// pixels so that the rows stay in cache (the detector's 3×3 convolutions on large maps).
var tiledColElems = 1 << 20

// A tile holds about convTileElems im2row elements, and at least convTileMin pixels.
var convTileElems, convTileMin = 256 << 10, 48

// convIm2row lays out, for each batch item and group, one row of Cg·kh·kw input values per
// output pixel, and multiplies the group's weights [Mg × K] by it with the dense GEMM:
// out[Mg × P] = W · colᵀ. Large ones go tile by tile: tile[T × Mg] = col[T × K] · Wᵀ, then
// the tile is written transposed into the output.
func convIm2row(rc *runCtx, g *convGeom, out, x, w, bias []float32) {
	mg := g.m / g.group
	kk := g.cg * g.kh * g.kw
	p := g.oh * g.ow
	pointwise := g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0
	tile := p
	if !pointwise && p*kk > tiledColElems {
		tile = min(p, max(convTileMin, convTileElems/kk))
	}
	bufp := colPool.Get().(*[]float32)
	defer colPool.Put(bufp)
	need := tile * kk
	if tile < p {
		need += tile * mg
	}
	if cap(*bufp) < need {
		*bufp = make([]float32, need)
	}
	col := (*bufp)[:tile*kk]
	for n := 0; n < g.n; n++ {
		for gi := 0; gi < g.group; gi++ {
			xin := x[(n*g.c+gi*g.cg)*g.h*g.w : (n*g.c+(gi+1)*g.cg)*g.h*g.w]
			dst := out[(n*g.m+gi*mg)*p : (n*g.m+(gi+1)*mg)*p]
			wg := w[gi*mg*kk : (gi+1)*mg*kk]
			if tile == p {
				if pointwise {
					transpose2(col, xin, g.cg, p)
				} else {
					rc.pool.Run(p, 1, func(lo, hi int) { im2row(col, xin, g, kk, 0, lo, hi) })
				}
				rc.matmul(dst, wg, col, mg, kk, p)
				if bias != nil {
					for mi := 0; mi < mg; mi++ {
						b := bias[gi*mg+mi]
						d := dst[mi*p : (mi+1)*p]
						for i := range d {
							d[i] += b
						}
					}
				}
				continue
			}
			tout := (*bufp)[tile*kk : tile*kk+tile*mg]
			for p0 := 0; p0 < p; p0 += tile {
				t := min(tile, p-p0)
				rc.pool.Run(t, 1, func(lo, hi int) { im2row(col, xin, g, kk, p0, p0+lo, p0+hi) })
				rc.matmul(tout, col, wg, t, kk, mg)
				for mi := 0; mi < mg; mi++ {
					b := float32(0)
					if bias != nil {
						b = bias[gi*mg+mi]
					}
					d := dst[mi*p+p0 : mi*p+p0+t]
					for pi := range d {
						d[pi] = tout[pi*mg+mi] + b
					}
				}
			}
		}
	}
}

// im2row fills col's rows for output pixels lo..hi-1 (row pi-base).
func im2row(col, xin []float32, g *convGeom, kk, base, lo, hi int) {
	for pi := lo; pi < hi; pi++ {
		oy, ox := pi/g.ow, pi%g.ow
		row := col[(pi-base)*kk : (pi-base+1)*kk]
		j := 0
		for ci := 0; ci < g.cg; ci++ {
			src := xin[ci*g.h*g.w:]
			for ky := 0; ky < g.kh; ky++ {
				iy := oy*g.sh + ky*g.dh - g.pt
				if iy < 0 || iy >= g.h {
					clear(row[j : j+g.kw])
					j += g.kw
					continue
				}
				srow := src[iy*g.w : (iy+1)*g.w]
				ix := ox*g.sw - g.pl
				if g.dw == 1 && ix >= 0 && ix+g.kw <= g.w { // inside: a plain copy
					r, sr := row[j:j+g.kw], srow[ix:ix+g.kw]
					for t := range r {
						r[t] = sr[t]
					}
					j += g.kw
					continue
				}
				for kx := 0; kx < g.kw; kx++ {
					if uint(ix) < uint(g.w) {
						row[j] = srow[ix]
					} else {
						row[j] = 0
					}
					ix += g.dw
					j++
				}
			}
		}
	}
}

// ---- normalisation and pooling ----

func compileBatchNorm(c *compileCtx) (kernel, error) {
	eps, err := c.attrs.float("epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	c.attrs.ignore("momentum")
	if sp, err := c.attrs.int("spatial", 1); err != nil || sp != 1 {
		return nil, fmt.Errorf("spatial=%d is not supported (%v)", sp, err)
	}
	if tm, err := c.attrs.int("training_mode", 0); err != nil || tm != 0 {
		return nil, fmt.Errorf("training_mode=%d is not supported (%v)", tm, err)
	}
	if c.nOut > 1 {
		return nil, fmt.Errorf("BatchNormalization with %d outputs (training) is not supported", c.nOut)
	}
	return func(rc *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		if err := needFloat(x, "X"); err != nil {
			return nil, err
		}
		if len(x.shape) < 2 {
			return nil, fmt.Errorf("X has shape %v, expected [N, C, ...]", x.shape)
		}
		ch := x.shape[1]
		for i, name := range []string{"scale", "B", "mean", "var"} {
			p := in[i+1]
			if !p.isFloat() || len(p.shape) != 1 || p.shape[0] != ch {
				return nil, fmt.Errorf("%s is %s %v, expected float [%d]", name, dtypeName(p.dtype), p.shape, ch)
			}
		}
		sc, bb, mean, vr := in[1].f, in[2].f, in[3].f, in[4].f
		out := unaryOut(rc, x)
		inner := numel(x.shape[2:])
		for n := 0; n < x.shape[0]; n++ {
			for ci := 0; ci < ch; ci++ {
				a := float32(float64(sc[ci]) / math.Sqrt(float64(vr[ci])+float64(eps)))
				b := bb[ci] - mean[ci]*a
				off := (n*ch + ci) * inner
				s, d := x.f[off:off+inner], out.f[off:off+inner]
				for i, v := range s {
					d[i] = v*a + b
				}
			}
		}
		return []*value{out}, nil
	}, nil
}

func compileGlobalAveragePool(c *compileCtx) (kernel, error) {
	return func(_ *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		if err := needFloat(x, "X"); err != nil {
			return nil, err
		}
		if len(x.shape) < 3 {
			return nil, fmt.Errorf("X has shape %v, expected [N, C, spatial...]", x.shape)
		}
		shape := slices.Clone(x.shape)
		for i := 2; i < len(shape); i++ {
			shape[i] = 1
		}
		out := newFloat(shape)
		inner := numel(x.shape[2:])
		for i := range out.f {
			s := 0.0
			for _, v := range x.f[i*inner : (i+1)*inner] {
				s += float64(v)
			}
			out.f[i] = float32(s / float64(inner))
		}
		return []*value{out}, nil
	}, nil
}

func compilePool(isMax bool) func(c *compileCtx) (kernel, error) {
	return func(c *compileCtx) (kernel, error) {
		s, err := readSpatial(c.attrs, isMax && c.opset >= 10)
		if err != nil {
			return nil, err
		}
		if s.kernel == nil {
			return nil, fmt.Errorf("kernel_shape is required")
		}
		ceil := int64(0)
		if c.opset >= 10 {
			if ceil, err = c.attrs.int("ceil_mode", 0); err != nil {
				return nil, err
			}
		}
		includePad := int64(0)
		if !isMax {
			if includePad, err = c.attrs.int("count_include_pad", 0); err != nil {
				return nil, err
			}
		} else {
			if so, err := c.attrs.int("storage_order", 0); err != nil || so != 0 {
				return nil, fmt.Errorf("storage_order=%d is not supported (%v)", so, err)
			}
			if c.nOut > 1 {
				return nil, fmt.Errorf("MaxPool's Indices output is not supported")
			}
		}
		return func(_ *runCtx, in []*value) ([]*value, error) {
			x := in[0]
			if err := needFloat(x, "X"); err != nil {
				return nil, err
			}
			if len(x.shape) != 4 {
				return nil, fmt.Errorf("X has shape %v; only 2-D pooling (4-D input) is supported", x.shape)
			}
			g := &convGeom{n: x.shape[0], c: x.shape[1], h: x.shape[2], w: x.shape[3], kh: s.kernel[0], kw: s.kernel[1]}
			if err := s.geometry(g, ceil != 0); err != nil {
				return nil, err
			}
			out := newFloat([]int{g.n, g.c, g.oh, g.ow})
			for nc := 0; nc < g.n*g.c; nc++ {
				src := x.f[nc*g.h*g.w : (nc+1)*g.h*g.w]
				dst := out.f[nc*g.oh*g.ow : (nc+1)*g.oh*g.ow]
				for oy := 0; oy < g.oh; oy++ {
					for ox := 0; ox < g.ow; ox++ {
						acc := float32(0)
						if isMax {
							acc = float32(math.Inf(-1))
						}
						cnt, padCnt := 0, 0
						for ky := 0; ky < g.kh; ky++ {
							iy := oy*g.sh + ky*g.dh - g.pt
							if iy >= g.h+g.pb {
								continue
							}
							for kx := 0; kx < g.kw; kx++ {
								ix := ox*g.sw + kx*g.dw - g.pl
								if ix >= g.w+g.pr {
									continue
								}
								padCnt++
								if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
									continue
								}
								v := src[iy*g.w+ix]
								cnt++
								if isMax {
									acc = max(acc, v)
								} else {
									acc += v
								}
							}
						}
						if !isMax {
							d := cnt
							if includePad != 0 {
								d = padCnt
							}
							if d > 0 {
								acc /= float32(d)
							}
						}
						dst[oy*g.ow+ox] = acc
					}
				}
			}
			return []*value{out}, nil
		}, nil
	}
}

package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/rpiq/rpiq/kernels/cpu"
)

type opSpec struct {
	minIn, maxIn, maxOut int
	compile              func(c *compileCtx) (kernel, error)
}

type compileCtx struct {
	attrs  *attrs
	opset  int64
	consts []*value // per input: its value when it is an initializer or a Constant, else nil
	nOut   int
}

var ops map[string]opSpec

func init() {
	ops = map[string]opSpec{
		"Add": {2, 2, 1, binaryOp(opAdd)},
		"Sub": {2, 2, 1, binaryOp(opSub)},
		"Mul": {2, 2, 1, binaryOp(opMul)},
		"Div": {2, 2, 1, binaryOp(opDiv)},
		"Pow": {2, 2, 1, binaryOp(opPow)},

		"Relu":        {1, 1, 1, unaryOp(uRelu)},
		"Sigmoid":     {1, 1, 1, unaryOp(uSigmoid)},
		"Sqrt":        {1, 1, 1, unaryOp(uSqrt)},
		"Exp":         {1, 1, 1, unaryOp(uExp)},
		"Tanh":        {1, 1, 1, unaryOp(uTanh)},
		"Neg":         {1, 1, 1, unaryOp(uNeg)},
		"Abs":         {1, 1, 1, unaryOp(uAbs)},
		"HardSigmoid": {1, 1, 1, compileHardSigmoid},
		"HardSwish":   {1, 1, 1, unaryOp(uHardSwish)},
		"Clip":        {1, 3, 1, compileClip},
		"Identity":    {1, 1, 1, compileIdentity},
		"Dropout":     {1, 3, 2, compileDropout},

		"Cast":      {1, 1, 1, compileCast},
		"Shape":     {1, 1, 1, compileShape},
		"Reshape":   {2, 2, 1, compileReshape},
		"Flatten":   {1, 1, 1, compileFlatten},
		"Squeeze":   {1, 2, 1, compileSqueeze},
		"Unsqueeze": {1, 2, 1, compileUnsqueeze},
		"Concat":    {1, 1 << 16, 1, compileConcat},
		"Slice":     {1, 5, 1, compileSlice},
		"Transpose": {1, 1, 1, compileTranspose},
		"Gather":    {2, 2, 1, compileGather},

		"ReduceMean":         {1, 1, 1, compileReduceMean},
		"Softmax":            {1, 1, 1, compileSoftmax},
		"MatMul":             {2, 2, 1, compileMatMul},
		"Gemm":               {2, 3, 1, compileGemm},
		"Conv":               {2, 3, 1, compileConv},
		"BatchNormalization": {5, 5, 5, compileBatchNorm},
		"GlobalAveragePool":  {1, 1, 1, compileGlobalAveragePool},
		"AveragePool":        {1, 1, 1, compilePool(false)},
		"MaxPool":            {1, 1, 1, compilePool(true)},
		"Resize":             {1, 4, 1, compileResize},
		"ConvTranspose":      {2, 3, 1, compileConvTranspose},
	}
}

func normAxis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

func needFloat(v *value, what string) error {
	if !v.isFloat() {
		return fmt.Errorf("%s is %s, expected float", what, dtypeName(v.dtype))
	}
	return nil
}

// ---- broadcasting elementwise ops ----

const (
	opAdd = iota
	opSub
	opMul
	opDiv
	opPow
)

func binaryOp(op int) func(c *compileCtx) (kernel, error) {
	return func(c *compileCtx) (kernel, error) {
		return func(rc *runCtx, in []*value) ([]*value, error) {
			v, err := binaryEvalInto(rc, op, in[0], in[1], rc.owns(0), rc.owns(1))
			return []*value{v}, err
		}, nil
	}
}

func broadcastShapes(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := 0; i < r; i++ {
		da, db := 1, 1
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// bcastStrides gives the element strides of shape s viewed in an output of rank r (0 where the
// dimension is broadcast).
func bcastStrides(s []int, r int) []int {
	st := make([]int, r)
	acc := 1
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 1 {
			st[i+r-len(s)] = acc
		}
		acc *= s[i]
	}
	return st
}

// bcastLoop calls inner for every contiguous run of the output: o is the output offset, ia and
// ib the input offsets, sa and sb their strides within the run (0 or 1), n its length.
func bcastLoop(out, as, bs []int, inner func(o, ia, sa, ib, sb, n int)) {
	if numel(out) == 0 {
		return
	}
	r := len(out)
	sa, sb := bcastStrides(as, r), bcastStrides(bs, r)
	// drop size-1 dims and merge dims that are contiguous for both inputs
	var d, ca, cb []int
	for i := 0; i < r; i++ {
		if out[i] == 1 {
			continue
		}
		if k := len(d) - 1; k >= 0 && ca[k] == sa[i]*out[i] && cb[k] == sb[i]*out[i] {
			d[k] *= out[i]
			ca[k], cb[k] = sa[i], sb[i]
			continue
		}
		d, ca, cb = append(d, out[i]), append(ca, sa[i]), append(cb, sb[i])
	}
	if len(d) == 0 {
		inner(0, 0, 0, 0, 0, 1)
		return
	}
	k := len(d) - 1
	n, ia1, ib1 := d[k], ca[k], cb[k]
	outer := numel(out) / n
	idx := make([]int, k)
	ia, ib := 0, 0
	for o := 0; o < outer; o++ {
		inner(o*n, ia, ia1, ib, ib1, n)
		for j := k - 1; j >= 0; j-- {
			idx[j]++
			ia += ca[j]
			ib += cb[j]
			if idx[j] < d[j] {
				break
			}
			ia -= ca[j] * d[j]
			ib -= cb[j] * d[j]
			idx[j] = 0
		}
	}
}

func binaryEval(op int, a, b *value) (*value, error) {
	return binaryEvalInto(nil, op, a, b, false, false)
}

// binaryEvalInto may write the result into a's (ownA) or b's (ownB) buffer when it has the
// output's shape.
func binaryEvalInto(rc *runCtx, op int, a, b *value, ownA, ownB bool) (*value, error) {
	if a.dtype != b.dtype {
		return nil, fmt.Errorf("inputs are %s and %s, expected one type", dtypeName(a.dtype), dtypeName(b.dtype))
	}
	shape, err := broadcastShapes(a.shape, b.shape)
	if err != nil {
		return nil, err
	}
	if a.isFloat() {
		var out *value
		switch {
		case ownA && slices.Equal(shape, a.shape):
			out = &value{shape: shape, f: a.f, dtype: dtFloat}
		case ownB && slices.Equal(shape, b.shape):
			out = &value{shape: shape, f: b.f, dtype: dtFloat}
		case rc != nil:
			out = rc.alloc(shape)
		default:
			out = newFloat(shape)
		}
		bcastLoop(shape, a.shape, b.shape, func(o, ia, sa, ib, sb, n int) {
			binF(op, out.f[o:o+n], a.f[ia:], sa, b.f[ib:], sb)
		})
		return out, nil
	}
	out := newInt(shape, a.dtype)
	var ierr error
	bcastLoop(shape, a.shape, b.shape, func(o, ia, sa, ib, sb, n int) {
		for j := 0; j < n; j++ {
			x, y := a.i[ia+j*sa], b.i[ib+j*sb]
			switch op {
			case opAdd:
				x += y
			case opSub:
				x -= y
			case opMul:
				x *= y
			case opDiv:
				if y == 0 {
					ierr = fmt.Errorf("integer division by zero")
					return
				}
				x /= y
			case opPow:
				x = int64(math.Pow(float64(x), float64(y)))
			}
			out.i[o+j] = x
		}
	})
	return out, ierr
}

func powf(x, y float32) float32 {
	switch y {
	case 2:
		return x * x
	case 0.5:
		return float32(math.Sqrt(float64(x)))
	case 1:
		return x
	}
	return float32(math.Pow(float64(x), float64(y)))
}

// binF computes dst[j] = x[j*sx] op y[j*sy] for strides 0 or 1.
func binF(op int, dst, x []float32, sx int, y []float32, sy int) {
	n := len(dst)
	switch {
	case sx == 1 && sy == 1:
		x, y = x[:n], y[:n]
		switch op {
		case opAdd:
			for j := range dst {
				dst[j] = x[j] + y[j]
			}
		case opSub:
			for j := range dst {
				dst[j] = x[j] - y[j]
			}
		case opMul:
			for j := range dst {
				dst[j] = x[j] * y[j]
			}
		case opDiv:
			for j := range dst {
				dst[j] = x[j] / y[j]
			}
		case opPow:
			for j := range dst {
				dst[j] = powf(x[j], y[j])
			}
		}
	case sy == 0 && sx == 1:
		x, s := x[:n], y[0]
		switch op {
		case opAdd:
			for j := range dst {
				dst[j] = x[j] + s
			}
		case opSub:
			for j := range dst {
				dst[j] = x[j] - s
			}
		case opMul:
			for j := range dst {
				dst[j] = x[j] * s
			}
		case opDiv:
			for j := range dst {
				dst[j] = x[j] / s
			}
		case opPow:
			for j := range dst {
				dst[j] = powf(x[j], s)
			}
		}
	case sx == 0 && sy == 1:
		s, y := x[0], y[:n]
		switch op {
		case opAdd:
			for j := range dst {
				dst[j] = s + y[j]
			}
		case opSub:
			for j := range dst {
				dst[j] = s - y[j]
			}
		case opMul:
			for j := range dst {
				dst[j] = s * y[j]
			}
		case opDiv:
			for j := range dst {
				dst[j] = s / y[j]
			}
		case opPow:
			for j := range dst {
				dst[j] = powf(s, y[j])
			}
		}
	default: // both scalars
		var v float32
		a, b := x[0], y[0]
		switch op {
		case opAdd:
			v = a + b
		case opSub:
			v = a - b
		case opMul:
			v = a * b
		case opDiv:
			v = a / b
		case opPow:
			v = powf(a, b)
		}
		for j := range dst {
			dst[j] = v
		}
	}
}

// ---- unary ops ----

const (
	uRelu = iota
	uSigmoid
	uSqrt
	uExp
	uTanh
	uNeg
	uAbs
	uHardSwish
	uHardSigmoid // p1·x + p2, clipped to [0, 1]
	uClip        // clipped to [p1, p2]
)

// unaryF computes d[i] = op(x[i]); d may be x.
func unaryF(op int, d, x []float32, p1, p2 float32) {
	x = x[:len(d)]
	switch op {
	case uRelu:
		for i, v := range x {
			d[i] = max(v, 0)
		}
	case uSigmoid:
		for i, v := range x {
			d[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	case uSqrt:
		for i, v := range x {
			d[i] = float32(math.Sqrt(float64(v)))
		}
	case uExp:
		for i, v := range x {
			d[i] = float32(math.Exp(float64(v)))
		}
	case uTanh:
		for i, v := range x {
			d[i] = float32(math.Tanh(float64(v)))
		}
	case uNeg:
		for i, v := range x {
			d[i] = -v
		}
	case uAbs:
		for i, v := range x {
			d[i] = float32(math.Abs(float64(v)))
		}
	case uHardSwish:
		for i, v := range x {
			d[i] = v * max(0, min(1, v/6+0.5))
		}
	case uHardSigmoid:
		for i, v := range x {
			d[i] = clampF(float32(p1*v)+p2, 0, 1)
		}
	case uClip:
		for i, v := range x {
			d[i] = clampF(v, p1, p2)
		}
	}
}

// clampF limits v to [lo, hi] with two comparisons (Go's float min and max builtins handle NaN
// and signed zeros with extra work: twice the time in hard swish). NaN stays NaN.
func clampF(v, lo, hi float32) float32 {
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}

func unaryOp(op int) func(c *compileCtx) (kernel, error) {
	return func(c *compileCtx) (kernel, error) {
		return func(rc *runCtx, in []*value) ([]*value, error) {
			x := in[0]
			if err := needFloat(x, "input"); err != nil {
				return nil, err
			}
			out := unaryOut(rc, x)
			unaryF(op, out.f, x.f, 0, 0)
			return []*value{out}, nil
		}, nil
	}
}

// unaryOut is the output of an elementwise op on x: x's own buffer when the node owns it.
func unaryOut(rc *runCtx, x *value) *value {
	if rc.owns(0) {
		return &value{shape: x.shape, f: x.f, dtype: dtFloat}
	}
	return rc.alloc(slices.Clone(x.shape))
}

func compileHardSigmoid(c *compileCtx) (kernel, error) {
	alpha, err := c.attrs.float("alpha", 0.2)
	if err != nil {
		return nil, err
	}
	beta, err := c.attrs.float("beta", 0.5)
	if err != nil {
		return nil, err
	}
	return func(rc *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		if err := needFloat(x, "input"); err != nil {
			return nil, err
		}
		out := unaryOut(rc, x)
		unaryF(uHardSigmoid, out.f, x.f, alpha, beta)
		return []*value{out}, nil
	}, nil
}

func scalarFloat(v *value, what string) (float32, error) {
	if v.size() != 1 {
		return 0, fmt.Errorf("%s has shape %v, expected a scalar", what, v.shape)
	}
	if v.isFloat() {
		return v.f[0], nil
	}
	return float32(v.i[0]), nil
}

func compileClip(c *compileCtx) (kernel, error) {
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	if c.opset < 11 {
		if len(c.consts) > 1 {
			return nil, fmt.Errorf("Clip before opset 11 takes 1 input, got %d", len(c.consts))
		}
		var err error
		if lo, err = c.attrs.float("min", lo); err != nil {
			return nil, err
		}
		if hi, err = c.attrs.float("max", hi); err != nil {
			return nil, err
		}
	}
	return func(rc *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		if err := needFloat(x, "input"); err != nil {
			return nil, err
		}
		l, h := lo, hi
		var err error
		if len(in) > 1 && in[1] != nil {
			if l, err = scalarFloat(in[1], "min"); err != nil {
				return nil, err
			}
		}
		if len(in) > 2 && in[2] != nil {
			if h, err = scalarFloat(in[2], "max"); err != nil {
				return nil, err
			}
		}
		out := unaryOut(rc, x)
		unaryF(uClip, out.f, x.f, l, h)
		return []*value{out}, nil
	}, nil
}

func compileIdentity(c *compileCtx) (kernel, error) {
	return func(_ *runCtx, in []*value) ([]*value, error) { return []*value{in[0]}, nil }, nil
}

func compileDropout(c *compileCtx) (kernel, error) {
	c.attrs.ignore("ratio", "seed")
	if c.nOut > 1 {
		return nil, fmt.Errorf("Dropout's mask output is not supported")
	}
	return func(_ *runCtx, in []*value) ([]*value, error) { return []*value{in[0]}, nil }, nil
}

// ---- shape and type ops ----

func compileCast(c *compileCtx) (kernel, error) {
	to, err := c.attrs.int("to", -1)
	if err != nil {
		return nil, err
	}
	switch to {
	case dtFloat, dtInt32, dtInt64, dtBool, dtInt8, dtUint8:
	default:
		return nil, fmt.Errorf("Cast to %s is not supported (float, int32, int64, int8, uint8, bool are)", dtypeName(to))
	}
	return func(_ *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		shape := slices.Clone(x.shape)
		if to == dtFloat {
			if x.isFloat() {
				return []*value{x}, nil
			}
			out := newFloat(shape)
			for i, v := range x.i {
				out.f[i] = float32(v)
			}
			return []*value{out}, nil
		}
		out := newInt(shape, to)
		for i := range out.i {
			var v int64
			if x.isFloat() {
				f := x.f[i]
				if to == dtBool {
					if f != 0 {
						v = 1
					}
				} else if f == f && math.Abs(float64(f)) < 9.2e18 {
					v = int64(f) // truncation toward zero, as C
				}
			} else {
				v = x.i[i]
			}
			switch to {
			case dtInt32:
				v = int64(int32(v))
			case dtInt8:
				v = int64(int8(v))
			case dtUint8:
				v = int64(uint8(v))
			case dtBool:
				if v != 0 {
					v = 1
				}
			}
			out.i[i] = v
		}
		return []*value{out}, nil
	}, nil
}

func compileShape(c *compileCtx) (kernel, error) {
	start, err := c.attrs.int("start", 0)
	if err != nil {
		return nil, err
	}
	end, err := c.attrs.int("end", math.MaxInt32)
	if err != nil {
		return nil, err
	}
	return func(_ *runCtx, in []*value) ([]*value, error) {
		r := int64(len(in[0].shape))
		s, e := clampIndex(start, r), clampIndex(end, r)
		out := newInt([]int{int(max(e-s, 0))}, dtInt64)
		for i := range out.i {
			out.i[i] = int64(in[0].shape[int(s)+i])
		}
		return []*value{out}, nil
	}, nil
}

func clampIndex(i, n int64) int64 {
	if i < 0 {
		i += n
	}
	return min(max(i, 0), n)
}

func intList(v *value, what string) ([]int64, error) {
	if v.isFloat() {
		return nil, fmt.Errorf("%s is float, expected an integer tensor", what)
	}
	if len(v.shape) > 1 {
		return nil, fmt.Errorf("%s has shape %v, expected 1-D", what, v.shape)
	}
	return v.i, nil
}

func reshaped(x *value, shape []int) *value {
	return &value{shape: shape, f: x.f, i: x.i, dtype: x.dtype}
}

func compileReshape(c *compileCtx) (kernel, error) {
	allowZero, err := c.attrs.int("allowzero", 0)
	if err != nil {
		return nil, err
	}
	return func(_ *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		spec, err := intList(in[1], "shape")
		if err != nil {
			return nil, err
		}
		shape := make([]int, len(spec))
		infer, known := -1, 1
		for i, d := range spec {
			switch {
			case d == -1:
				if infer >= 0 {
					return nil, fmt.Errorf("shape %v has more than one -1", spec)
				}
				infer = i
				continue
			case d == 0 && allowZero == 0:
				if i >= len(x.shape) {
					return nil, fmt.Errorf("shape %v copies dimension %d of %v, which does not exist", spec, i, x.shape)
				}
				shape[i] = x.shape[i]
			case d < 0 || d > maxElems:
				return nil, fmt.Errorf("shape %v has dimension %d", spec, d)
			default:
				shape[i] = int(d)
			}
			known *= shape[i]
			if known > maxElems {
				return nil, fmt.Errorf("shape %v too large", spec)
			}
		}
		n := x.size()
		if infer >= 0 {
			if known == 0 || n%known != 0 {
				return nil, fmt.Errorf("cannot reshape %v to %v", x.shape, spec)
			}
			shape[infer] = n / known
		} else if known != n {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", x.shape, n, shape)
		}
		return []*value{reshaped(x, shape)}, nil
	}, nil
}

func compileFlatten(c *compileCtx) (kernel, error) {
	axis, err := c.attrs.int("axis", 1)
	if err != nil {
		return nil, err
	}
	return func(_ *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		r := len(x.shape)
		a := int(axis)
		if axis < 0 {
			a += r
		}
		if a < 0 || a > r {
			return nil, fmt.Errorf("axis %d out of range for rank %d", axis, r)
		}
		return []*value{reshaped(x, []int{numel(x.shape[:a]), numel(x.shape[a:])})}, nil
	}, nil
}

// axesArg gives a list of axes from an attribute (before newOpset) or from input 1.
func axesArg(c *compileCtx, newOpset int64) (attr []int64, fromInput bool, err error) {
	if c.opset < newOpset {
		if len(c.consts) > 1 {
			return nil, false, fmt.Errorf("before opset %d this op takes 1 input, got %d", newOpset, len(c.consts))
		}
		attr, err = c.attrs.ints("axes", nil)
		return attr, false, err
	}
	return nil, true, nil
}

func compileSqueeze(c *compileCtx) (kernel, error) {
	attr, fromInput, err := axesArg(c, 13)
	if err != nil {
		return nil, err
	}
	return func(_ *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		axes := attr
		if fromInput && len(in) > 1 && in[1] != nil {
			if axes, err = intList(in[1], "axes"); err != nil {
				return nil, err
			}
		}
		drop := make([]bool, len(x.shape))
		if axes == nil {
			for i, d := range x.shape {
				drop[i] = d == 1
			}
		}
		for _, a := range axes {
			ax, err := normAxis(a, len(x.shape))
			if err != nil {
				return nil, err
			}
			if x.shape[ax] != 1 {
				return nil, fmt.Errorf("cannot squeeze axis %d of %v", a, x.shape)
			}
			drop[ax] = true
		}
		var shape []int
		for i, d := range x.shape {
			if !drop[i] {
				shape = append(shape, d)
			}
		}
		if shape == nil {
			shape = []int{}
		}
		return []*value{reshaped(x, shape)}, nil
	}, nil
}

func compileUnsqueeze(c *compileCtx) (kernel, error) {
	attr, fromInput, err := axesArg(c, 13)
	if err != nil {
		return nil, err
	}
	if !fromInput && attr == nil {
		return nil, fmt.Errorf("Unsqueeze needs the attribute axes")
	}
	return func(_ *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		axes := attr
		if fromInput {
			if len(in) < 2 || in[1] == nil {
				return nil, fmt.Errorf("Unsqueeze needs the input axes")
			}
			if axes, err = intList(in[1], "axes"); err != nil {
				return nil, err
			}
		}
		r := len(x.shape) + len(axes)
		ins := make([]bool, r)
		for _, a := range axes {
			ax, err := normAxis(a, r)
			if err != nil {
				return nil, err
			}
			if ins[ax] {
				return nil, fmt.Errorf("axis %d repeated", a)
			}
			ins[ax] = true
		}
		shape := make([]int, r)
		j := 0
		for i := range shape {
			if ins[i] {
				shape[i] = 1
			} else {
				shape[i] = x.shape[j]
				j++
			}
		}
		return []*value{reshaped(x, shape)}, nil
	}, nil
}

func compileConcat(c *compileCtx) (kernel, error) {
	if !c.attrs.has("axis") {
		return nil, fmt.Errorf("Concat needs the attribute axis")
	}
	axis, err := c.attrs.int("axis", 0)
	if err != nil {
		return nil, err
	}
	return func(_ *runCtx, in []*value) ([]*value, error) {
		x0 := in[0]
		if x0 == nil {
			return nil, fmt.Errorf("input 0 missing")
		}
		ax, err := normAxis(axis, len(x0.shape))
		if err != nil {
			return nil, err
		}
		shape := slices.Clone(x0.shape)
		shape[ax] = 0
		for i, x := range in {
			if x == nil {
				return nil, fmt.Errorf("input %d missing", i)
			}
			if x.dtype != x0.dtype || len(x.shape) != len(x0.shape) {
				return nil, fmt.Errorf("input %d is %s %v, input 0 %s %v", i, dtypeName(x.dtype), x.shape, dtypeName(x0.dtype), x0.shape)
			}
			for d := range shape {
				if d != ax && x.shape[d] != x0.shape[d] {
					return nil, fmt.Errorf("input %d has shape %v, input 0 %v (axis %d)", i, x.shape, x0.shape, ax)
				}
			}
			shape[ax] += x.shape[ax]
		}
		outer, inner := numel(shape[:ax]), numel(shape[ax+1:])
		var out *value
		if x0.isFloat() {
			out = newFloat(shape)
		} else {
			out = newInt(shape, x0.dtype)
		}
		row := shape[ax] * inner
		off := 0
		for _, x := range in {
			n := x.shape[ax] * inner
			for o := 0; o < outer; o++ {
				if out.f != nil {
					copy(out.f[o*row+off:o*row+off+n], x.f[o*n:(o+1)*n])
				} else {
					copy(out.i[o*row+off:o*row+off+n], x.i[o*n:(o+1)*n])
				}
			}
			off += n
		}
		return []*value{out}, nil
	}, nil
}

func compileSlice(c *compileCtx) (kernel, error) {
	var aStarts, aEnds, aAxes []int64
	old := c.opset < 10
	if old {
		if len(c.consts) > 1 {
			return nil, fmt.Errorf("Slice before opset 10 takes 1 input, got %d", len(c.consts))
		}
		var err error
		if aStarts, err = c.attrs.ints("starts", nil); err != nil {
			return nil, err
		}
		if aEnds, err = c.attrs.ints("ends", nil); err != nil {
			return nil, err
		}
		if aAxes, err = c.attrs.ints("axes", nil); err != nil {
			return nil, err
		}
		if aStarts == nil || aEnds == nil {
			return nil, fmt.Errorf("Slice needs the attributes starts and ends")
		}
	} else if len(c.consts) < 3 {
		return nil, fmt.Errorf("Slice from opset 10 takes inputs data, starts, ends[, axes, steps], got %d", len(c.consts))
	}
	return func(_ *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		starts, ends, axes := aStarts, aEnds, aAxes
		var steps []int64
		var err error
		if !old {
			if starts, err = intList(in[1], "starts"); err != nil {
				return nil, err
			}
			if ends, err = intList(in[2], "ends"); err != nil {
				return nil, err
			}
			if len(in) > 3 && in[3] != nil {
				if axes, err = intList(in[3], "axes"); err != nil {
					return nil, err
				}
			}
			if len(in) > 4 && in[4] != nil {
				if steps, err = intList(in[4], "steps"); err != nil {
					return nil, err
				}
			}
		}
		return sliceEval(x, starts, ends, axes, steps)
	}, nil
}

func sliceEval(x *value, starts, ends, axes, steps []int64) ([]*value, error) {
	r := len(x.shape)
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, fmt.Errorf("starts %v, ends %v, axes %v, steps %v differ in length", starts, ends, axes, steps)
	}
	st := make([]int, r)
	step := make([]int, r)
	shape := slices.Clone(x.shape)
	for i := range step {
		step[i] = 1
	}
	seen := make([]bool, r)
	for i := range starts {
		ax := i
		if axes != nil {
			var err error
			if ax, err = normAxis(axes[i], r); err != nil {
				return nil, err
			}
		} else if i >= r {
			return nil, fmt.Errorf("%d starts for rank %d", len(starts), r)
		}
		if seen[ax] {
			return nil, fmt.Errorf("axis %d repeated", ax)
		}
		seen[ax] = true
		s := int64(1)
		if steps != nil {
			s = steps[i]
		}
		if s == 0 {
			return nil, fmt.Errorf("step 0")
		}
		d := int64(x.shape[ax])
		b, e := starts[i], ends[i]
		if b < 0 {
			b += d
		}
		if e < 0 {
			e += d
		}
		var n int64
		if s > 0 {
			b, e = min(max(b, 0), d), min(max(e, 0), d)
			n = max(0, (e-b+s-1)/s)
		} else {
			b, e = min(max(b, 0), d-1), min(max(e, -1), d-1)
			n = max(0, (b-e-s-1)/(-s))
		}
		st[ax], step[ax], shape[ax] = int(b), int(s), int(n)
	}
	var out *value
	if x.isFloat() {
		out = newFloat(shape)
	} else {
		out = newInt(shape, x.dtype)
	}
	total := numel(shape)
	if total == 0 {
		return []*value{out}, nil
	}
	strides := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		strides[i] = acc
		acc *= x.shape[i]
	}
	idx := make([]int, r)
	base := 0
	for i := 0; i < r; i++ {
		base += st[i] * strides[i]
	}
	inner := 1
	if r > 0 {
		inner = shape[r-1]
	}
	lastStep := 1
	if r > 0 {
		lastStep = step[r-1] * strides[r-1]
	}
	for o := 0; o < total; o += inner {
		src := base
		for i := 0; i < r-1; i++ {
			src += idx[i] * step[i] * strides[i]
		}
		if out.f != nil {
			for j := 0; j < inner; j++ {
				out.f[o+j] = x.f[src+j*lastStep]
			}
		} else {
			for j := 0; j < inner; j++ {
				out.i[o+j] = x.i[src+j*lastStep]
			}
		}
		for i := r - 2; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return []*value{out}, nil
}

func compileTranspose(c *compileCtx) (kernel, error) {
	perm, err := c.attrs.ints("perm", nil)
	if err != nil {
		return nil, err
	}
	return func(_ *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		r := len(x.shape)
		p := make([]int, r)
		if perm == nil {
			for i := range p {
				p[i] = r - 1 - i
			}
		} else {
			if len(perm) != r {
				return nil, fmt.Errorf("perm %v for rank %d", perm, r)
			}
			seen := make([]bool, r)
			for i, a := range perm {
				if a < 0 || a >= int64(r) || seen[a] {
					return nil, fmt.Errorf("perm %v is not a permutation of 0..%d", perm, r-1)
				}
				seen[a] = true
				p[i] = int(a)
			}
		}
		return []*value{transpose(x, p)}, nil
	}, nil
}

func transpose(x *value, p []int) *value {
	r := len(x.shape)
	shape := make([]int, r)
	for i, a := range p {
		shape[i] = x.shape[a]
	}
	var out *value
	if x.isFloat() {
		out = newFloat(shape)
	} else {
		out = newInt(shape, x.dtype)
	}
	total := numel(shape)
	if total == 0 {
		return out
	}
	in := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		in[i] = acc
		acc *= x.shape[i]
	}
	st := make([]int, r) // source stride of each output dim
	for i, a := range p {
		st[i] = in[a]
	}
	if r == 0 {
		copy(out.f, x.f)
		copy(out.i, x.i)
		return out
	}
	idx := make([]int, r)
	inner, sIn := shape[r-1], st[r-1]
	src := 0
	for o := 0; o < total; o += inner {
		if out.f != nil {
			d := out.f[o : o+inner]
			for j := range d {
				d[j] = x.f[src+j*sIn]
			}
		} else {
			d := out.i[o : o+inner]
			for j := range d {
				d[j] = x.i[src+j*sIn]
			}
		}
		for i := r - 2; i >= 0; i-- {
			idx[i]++
			src += st[i]
			if idx[i] < shape[i] {
				break
			}
			src -= st[i] * shape[i]
			idx[i] = 0
		}
	}
	return out
}

func compileGather(c *compileCtx) (kernel, error) {
	axis, err := c.attrs.int("axis", 0)
	if err != nil {
		return nil, err
	}
	return func(_ *runCtx, in []*value) ([]*value, error) {
		x, idx := in[0], in[1]
		if idx.isFloat() {
			return nil, fmt.Errorf("indices are float, expected integers")
		}
		ax, err := normAxis(axis, len(x.shape))
		if err != nil {
			return nil, err
		}
		shape := append(append(slices.Clone(x.shape[:ax]), idx.shape...), x.shape[ax+1:]...)
		var out *value
		if x.isFloat() {
			out = newFloat(shape)
		} else {
			out = newInt(shape, x.dtype)
		}
		outer, inner, d := numel(x.shape[:ax]), numel(x.shape[ax+1:]), x.shape[ax]
		ni := len(idx.i)
		for o := 0; o < outer; o++ {
			for j, k := range idx.i {
				if k < 0 {
					k += int64(d)
				}
				if k < 0 || k >= int64(d) {
					return nil, fmt.Errorf("index %d out of range for dimension %d", idx.i[j], d)
				}
				src := (o*d + int(k)) * inner
				dst := (o*ni + j) * inner
				if out.f != nil {
					copy(out.f[dst:dst+inner], x.f[src:src+inner])
				} else {
					copy(out.i[dst:dst+inner], x.i[src:src+inner])
				}
			}
		}
		return []*value{out}, nil
	}, nil
}

// ---- reductions ----

func compileReduceMean(c *compileCtx) (kernel, error) {
	axes, err := c.attrs.ints("axes", nil)
	if err != nil {
		return nil, err
	}
	keep, err := c.attrs.int("keepdims", 1)
	if err != nil {
		return nil, err
	}
	return func(_ *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		if err := needFloat(x, "input"); err != nil {
			return nil, err
		}
		r := len(x.shape)
		red := make([]bool, r)
		if axes == nil {
			for i := range red {
				red[i] = true
			}
		}
		for _, a := range axes {
			ax, err := normAxis(a, r)
			if err != nil {
				return nil, err
			}
			red[ax] = true
		}
		kshape := slices.Clone(x.shape) // keepdims shape
		for i := range kshape {
			if red[i] {
				kshape[i] = 1
			}
		}
		acc := make([]float64, numel(kshape))
		bcastLoop(x.shape, x.shape, kshape, func(o, ia, sa, ib, sb, n int) {
			if sb == 0 {
				s := 0.0
				for _, v := range x.f[ia : ia+n] {
					s += float64(v)
				}
				acc[ib] += s
				return
			}
			for j, v := range x.f[ia : ia+n] {
				acc[ib+j] += float64(v)
			}
		})
		cnt := x.size() / max(len(acc), 1)
		shape := kshape
		if keep == 0 {
			shape = nil
			for i, d := range x.shape {
				if !red[i] {
					shape = append(shape, d)
				}
			}
			if shape == nil {
				shape = []int{}
			}
		}
		out := newFloat(shape)
		for i, s := range acc {
			out.f[i] = float32(s / float64(cnt))
		}
		return []*value{out}, nil
	}, nil
}

func compileSoftmax(c *compileCtx) (kernel, error) {
	def := int64(1)
	if c.opset >= 13 {
		def = -1
	}
	axis, err := c.attrs.int("axis", def)
	if err != nil {
		return nil, err
	}
	return func(rc *runCtx, in []*value) ([]*value, error) {
		x := in[0]
		if err := needFloat(x, "input"); err != nil {
			return nil, err
		}
		r := len(x.shape)
		ax, err := normAxis(axis, max(r, 1))
		if err != nil {
			return nil, err
		}
		var outer, n, inner int
		if c.opset < 13 { // the input is coerced to 2-D at axis
			outer, n, inner = numel(x.shape[:ax]), numel(x.shape[ax:]), 1
		} else {
			outer, n, inner = numel(x.shape[:ax]), x.shape[ax], numel(x.shape[ax+1:])
		}
		out := unaryOut(rc, x)
		if inner == 1 { // contiguous rows: the AVX2 softmax (exp as math.Exp gives it)
			if len(x.f) > 0 && &out.f[0] != &x.f[0] {
				copy(out.f, x.f)
			}
			rc.pool.Run(outer, 1, func(lo, hi int) {
				for o := lo; o < hi; o++ {
					cpu.Softmax(out.f[o*n : (o+1)*n])
				}
			})
			return []*value{out}, nil
		}
		for o := 0; o < outer; o++ {
			for j := 0; j < inner; j++ {
				base := o*n*inner + j
				m := float32(math.Inf(-1))
				for k := 0; k < n; k++ {
					m = max(m, x.f[base+k*inner])
				}
				s := 0.0
				for k := 0; k < n; k++ {
					e := math.Exp(float64(x.f[base+k*inner] - m))
					out.f[base+k*inner] = float32(e)
					s += e
				}
				inv := 1 / s
				for k := 0; k < n; k++ {
					out.f[base+k*inner] = float32(float64(out.f[base+k*inner]) * inv)
				}
			}
		}
		return []*value{out}, nil
	}, nil
}

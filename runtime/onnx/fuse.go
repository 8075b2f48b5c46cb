package onnx

import (
	"math"
	"slices"
	"strings"
)

// Elementwise fusion. PP-OCR's exported graphs follow every convolution with a chain of
// elementwise nodes on scalar constants: x·a + b, hard swish as (x+3) clipped to [0, 6], times
// x, divided by 6, then ·a + b again — nine passes over the feature map. Parse replaces each
// maximal run of consecutive elementwise nodes, whose other operands are scalar constants and
// whose intermediate values are read only inside the run, by one node that runs the chain as a
// small register program over L1-sized blocks. The arithmetic is the same float32 operations
// in the same order, so results are bit-identical to the unfused nodes.

// ewInfo describes an elementwise node that can join a fused chain.
type ewInfo struct {
	binary bool
	op     int        // opAdd.. for binary nodes, uRelu.. for unary ones
	p1, p2 float32    // unary parameters (HardSigmoid alpha/beta, Clip bounds)
	scalar []*float32 // binary: per input, the scalar constant, or nil for a computed input
}

var ewBinary = map[string]int{"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv, "Pow": opPow}
var ewUnary = map[string]int{"Relu": uRelu, "Sigmoid": uSigmoid, "Sqrt": uSqrt, "Exp": uExp, "Tanh": uTanh,
	"Neg": uNeg, "Abs": uAbs, "HardSwish": uHardSwish, "HardSigmoid": uHardSigmoid, "Clip": uClip}

// elementwiseInfo returns the fusion description of a node, or nil when it cannot be fused.
// It is called after the node's compile function has accepted the attributes.
func elementwiseInfo(op string, a *attrs, opset int64, consts []*value) *ewInfo {
	scalar := func(v *value) *float32 {
		if v == nil || !v.isFloat() || v.size() != 1 || len(v.shape) > 1 {
			return nil
		}
		f := v.f[0]
		return &f
	}
	if code, ok := ewBinary[op]; ok {
		e := &ewInfo{binary: true, op: code, scalar: []*float32{scalar(consts[0]), scalar(consts[1])}}
		for i, c := range consts {
			if c != nil && e.scalar[i] == nil {
				return nil // a non-scalar constant (per-channel): not fused
			}
		}
		if e.scalar[0] != nil && e.scalar[1] != nil {
			return nil
		}
		return e
	}
	code, ok := ewUnary[op]
	if !ok {
		return nil
	}
	e := &ewInfo{op: code}
	switch code {
	case uHardSigmoid:
		e.p1, _ = a.float("alpha", 0.2)
		e.p2, _ = a.float("beta", 0.5)
	case uClip:
		e.p1, e.p2 = float32(math.Inf(-1)), float32(math.Inf(1))
		if opset < 11 {
			e.p1, _ = a.float("min", e.p1)
			e.p2, _ = a.float("max", e.p2)
		} else {
			for i := 1; i < len(consts); i++ {
				if consts[i] == nil {
					if i < len(a.node.inputs) && a.node.inputs[i] != "" {
						return nil // a computed bound
					}
					continue
				}
				s := scalar(consts[i])
				if s == nil {
					return nil
				}
				if i == 1 {
					e.p1 = *s
				} else {
					e.p2 = *s
				}
			}
		}
	}
	return e
}

type ewInstr struct {
	binary bool
	kind   int // 0: unary or binary op; ewAffine, ewHardSwish: compound (see peephole)
	op     int
	p1, p2 float32
	dst    int        // register written (-1: the output)
	src    [2]int     // registers read; -1 for a scalar
	sc     [2]float32 // scalars
}

// ewBlock is the number of elements a fused chain processes at a time (registers stay in L1).
const ewBlock = 512

// fuse rewrites m.nodes; it runs before liveness is computed.
func (m *Model) fuse() {
	consumers := make([]int, m.nslots)
	for _, n := range m.nodes {
		for _, s := range n.in {
			if s >= 0 {
				consumers[s]++
			}
		}
	}
	for _, s := range m.outSlot {
		consumers[s] += 1 << 20 // read outside any chain
	}
	var out []*node
	for i := 0; i < len(m.nodes); {
		n := m.nodes[i]
		x := chainInput(n, m.consts)
		if x < 0 {
			out = append(out, n)
			i++
			continue
		}
		vals := map[int]bool{x: true}
		j := i
		for ; j < len(m.nodes); j++ {
			c := m.nodes[j]
			if c.ew == nil || len(c.out) != 1 || c.out[0] < 0 {
				break
			}
			ok := true
			for k, s := range c.in {
				if s >= 0 && m.consts[s] == nil && !vals[s] || c.ew.binary && s >= 0 && m.consts[s] != nil && c.ew.scalar[k] == nil {
					ok = false
				}
			}
			if !ok {
				break
			}
			vals[c.out[0]] = true
		}
		group := m.nodes[i:j]
		for len(group) > 1 && !closedChain(group, consumers) {
			group = group[:len(group)-1]
		}
		if len(group) < 2 {
			out = append(out, n)
			i++
			continue
		}
		out = append(out, m.fusedNode(x, group))
		i += len(group)
	}
	m.nodes = out
}

// chainInput is the one computed input of an elementwise node that can start a chain, or -1.
func chainInput(n *node, consts []*value) int {
	if n.ew == nil || len(n.out) != 1 || n.out[0] < 0 {
		return -1
	}
	x := -1
	for k, s := range n.in {
		if s < 0 || consts[s] != nil {
			continue
		}
		if x >= 0 || (!n.ew.binary && k > 0) {
			return -1
		}
		x = s
	}
	return x
}

// closedChain reports whether every value a group makes, except the last node's, is read only
// inside the group.
func closedChain(group []*node, consumers []int) bool {
	for gi, g := range group[:len(group)-1] {
		inside := 0
		for _, h := range group[gi+1:] {
			for _, s := range h.in {
				if s == g.out[0] {
					inside++
				}
			}
		}
		if consumers[g.out[0]] != inside {
			return false
		}
	}
	return true
}

func (m *Model) fusedNode(x int, group []*node) *node {
	reg := map[int]int{x: 0}
	var prog []ewInstr
	var names, ops []string
	var constShapes [][]int
	for gi, g := range group {
		in := ewInstr{binary: g.ew.binary, op: g.ew.op, p1: g.ew.p1, p2: g.ew.p2, src: [2]int{-1, -1}}
		nsrc := 1
		if g.ew.binary {
			nsrc = 2
		}
		for k := 0; k < nsrc; k++ {
			s := g.in[k]
			if r, ok := reg[s]; ok && (m.consts[s] == nil) {
				in.src[k] = r
			} else {
				in.sc[k] = *g.ew.scalar[k]
				constShapes = append(constShapes, m.consts[s].shape)
			}
		}
		if gi == len(group)-1 {
			in.dst = -1
		} else {
			in.dst = len(reg)
			reg[g.out[0]] = in.dst
		}
		prog = append(prog, in)
		names = append(names, g.name)
		ops = append(ops, g.op)
	}
	prog = peephole(prog)
	nregs := len(reg)
	sub := slices.Clone(group)
	consts := m.consts
	last := group[len(group)-1]
	fn := &node{name: strings.Join(names, "+"), op: "Fused(" + strings.Join(ops, ",") + ")", in: []int{x}, out: []int{last.out[0]}}
	fn.k = func(rc *runCtx, in []*value) ([]*value, error) {
		xv := in[0]
		shape := xv.shape
		ok := xv.isFloat()
		for _, cs := range constShapes {
			if !ok {
				break
			}
			if len(cs) > len(shape) {
				ok = false
			}
		}
		if !ok { // integer data or a scalar constant that raises the rank: run the nodes one by one
			return runSequence(rc, sub, consts, xv)
		}
		var out *value
		if rc.owns(0) {
			out = &value{shape: shape, f: xv.f, dtype: dtFloat}
		} else {
			out = rc.alloc(slices.Clone(shape))
		}
		total := len(xv.f)
		blocks := (total + ewBlock - 1) / ewBlock
		rc.pool.Run(blocks, 1, func(lo, hi int) {
			regs := make([]float32, nregs*ewBlock)
			for b := lo; b < hi; b++ {
				o := b * ewBlock
				bn := min(ewBlock, total-o)
				r := func(i int) []float32 {
					if i == 0 {
						return xv.f[o : o+bn]
					}
					return regs[i*ewBlock : i*ewBlock+bn]
				}
				for _, p := range prog {
					var d []float32
					if p.dst < 0 {
						d = out.f[o : o+bn]
					} else {
						d = r(p.dst)
					}
					switch p.kind {
					case ewAffine:
						affineF(d, r(p.src[0]), p.p1, p.p2)
						continue
					case ewHardSwish:
						hardSwishF(d, r(p.src[0]), p.sc[0], p.p1, p.p2, p.sc[1])
						continue
					}
					if !p.binary {
						unaryF(p.op, d, r(p.src[0]), p.p1, p.p2)
						continue
					}
					var a, bb []float32
					sa, sb := 1, 1
					if p.src[0] < 0 {
						a, sa = p.sc[:1], 0
					} else {
						a = r(p.src[0])
					}
					if p.src[1] < 0 {
						bb, sb = p.sc[1:2], 0
					} else {
						bb = r(p.src[1])
					}
					binF(p.op, d, a, sa, bb, sb)
				}
			}
		})
		return []*value{out}, nil
	}
	return fn
}

// runSequence runs a fused group's original nodes one after the other (for inputs the fused
// program does not handle).
func runSequence(rc *runCtx, group []*node, consts []*value, x *value) ([]*value, error) {
	vals := map[int]*value{group[0].in[0]: x}
	for _, s := range group[0].in {
		if s >= 0 && consts[s] == nil {
			vals[s] = x
		}
	}
	c := &runCtx{pool: rc.pool}
	var res []*value
	for _, g := range group {
		args := make([]*value, len(g.in))
		for k, s := range g.in {
			switch {
			case s < 0:
			case consts[s] != nil:
				args[k] = consts[s]
			default:
				args[k] = vals[s]
			}
		}
		var err error
		if res, err = g.k(c, args); err != nil {
			return nil, err
		}
		vals[g.out[0]] = res[0]
	}
	return res, nil
}

// Compound instructions: the same float32 operations in the same order as the nodes they
// replace, in one loop instead of two or four.
const (
	ewAffine    = 1 + iota // d = x·p1 + p2: Mul by a scalar, then Add (or Sub) of a scalar
	ewHardSwish            // d = x·clip(x + sc0, p1, p2) / sc1: PaddlePaddle's hard swish
)

func affineF(d, x []float32, a, b float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = float32(v*a) + b // the conversion forbids a fused multiply-add
	}
}

func hardSwishF(d, x []float32, c, lo, hi, div float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = float32(v*clampF(v+c, lo, hi)) / div
	}
}

// peephole merges instruction sequences into compound instructions when the intermediate
// registers are read nowhere else.
func peephole(prog []ewInstr) []ewInstr {
	reads := map[int]int{}
	for _, p := range prog {
		n := 1
		if p.binary {
			n = 2
		}
		for k := 0; k < n; k++ {
			if p.src[k] >= 0 {
				reads[p.src[k]]++
			}
		}
	}
	// scalarOperand returns the register and the scalar of a binary instruction with exactly
	// one scalar operand.
	scalarOperand := func(p ewInstr) (reg int, sc float32, scalarFirst bool, ok bool) {
		if !p.binary || p.kind != 0 {
			return 0, 0, false, false
		}
		switch {
		case p.src[0] < 0 && p.src[1] >= 0:
			return p.src[1], p.sc[0], true, true
		case p.src[1] < 0 && p.src[0] >= 0:
			return p.src[0], p.sc[1], false, true
		}
		return 0, 0, false, false
	}
	private := func(p ewInstr, uses int) bool { return p.dst >= 0 && reads[p.dst] == uses }
	var out []ewInstr
	for i := 0; i < len(prog); i++ {
		p := prog[i]
		// hard swish: t1 = x + c; t2 = clip(t1); t3 = x·t2 (either order); t4 = t3 / d
		if i+3 < len(prog) && p.op == opAdd {
			x, c, _, ok := scalarOperand(p)
			q, r, s := prog[i+1], prog[i+2], prog[i+3]
			if ok && private(p, 1) && !q.binary && q.kind == 0 && q.op == uClip && q.src[0] == p.dst && private(q, 1) &&
				r.binary && r.kind == 0 && r.op == opMul && private(r, 1) &&
				(r.src[0] == x && r.src[1] == q.dst || r.src[1] == x && r.src[0] == q.dst) &&
				s.op == opDiv && s.binary && s.kind == 0 && s.src[0] == r.dst && s.src[1] < 0 {
				out = append(out, ewInstr{kind: ewHardSwish, dst: s.dst, src: [2]int{x, -1}, sc: [2]float32{c, s.sc[1]}, p1: q.p1, p2: q.p2})
				i += 3
				continue
			}
		}
		// affine: t = x·a; y = t + b (or b + t, or t - b)
		if i+1 < len(prog) && p.op == opMul {
			x, a, _, ok := scalarOperand(p)
			q := prog[i+1]
			if ok && private(p, 1) {
				if y, b, scalarFirst, ok2 := scalarOperand(q); ok2 && y == p.dst && (q.op == opAdd || q.op == opSub && !scalarFirst) {
					if q.op == opSub {
						b = -b
					}
					out = append(out, ewInstr{kind: ewAffine, dst: q.dst, src: [2]int{x, -1}, p1: a, p2: b})
					i++
					continue
				}
			}
		}
		out = append(out, p)
	}
	return out
}

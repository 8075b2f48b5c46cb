// Package onnx is a small pure-Go interpreter for ONNX inference graphs of float32 convolutional
// networks, written to run PaddleOCR's PP-OCR text recognizer and angle classifier (see
// docs/DESIGN.md, "ONNX interpreter"). Shapes are computed at run time, so dynamic batch and
// width work; integer tensors (shape arithmetic) are kept as int64.
package onnx

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/rpiq/rpiq/kernels/cpu"
)

// Model is a loaded, validated graph. It is immutable after Load, so Run may be called from
// several goroutines at once.
type Model struct {
	opset   int64
	inputs  []string
	outputs []string
	inSlot  []int
	outSlot []int
	consts  []*value // per slot: initializers and Constant outputs; nil for computed values
	nslots  int
	nodes   []*node
	pool    *cpu.Pool
}

type node struct {
	name, op string
	in, out  []int  // slot indices; -1 for an omitted optional input
	free     []int  // slots whose last use is this node
	recycle  []int  // the freed slots whose buffers no other value shares
	own      uint64 // bit i: the kernel may overwrite input i (see Parse)
	k        kernel
	ew       *ewInfo // non-nil for an elementwise node that can join a fused chain
}

// kernel runs one node: in holds its inputs (nil for omitted optional ones); it returns one
// value per output. It must not modify its inputs.
type kernel func(c *runCtx, in []*value) ([]*value, error)

type runCtx struct {
	pool *cpu.Pool
	own  uint64      // the running node's own mask
	bufs [][]float32 // float buffers of dead values, for alloc
}

// alloc returns a float value of the given shape whose data the kernel must overwrite
// entirely: the smallest free buffer of a dead value that holds it (and is at most 4× too
// large), else a new one.
func (c *runCtx) alloc(shape []int) *value {
	n := numel(shape)
	best := -1
	for i, b := range c.bufs {
		if cap(b) >= n && cap(b) <= 4*n+64 && (best < 0 || cap(b) < cap(c.bufs[best])) {
			best = i
		}
	}
	if best < 0 {
		return newFloat(shape)
	}
	buf := c.bufs[best][:n]
	c.bufs[best] = c.bufs[len(c.bufs)-1]
	c.bufs = c.bufs[:len(c.bufs)-1]
	return &value{shape: shape, f: buf, dtype: dtFloat}
}

// owns reports whether the running kernel may write its result into input i's buffer.
func (c *runCtx) owns(i int) bool { return i < 64 && c.own&(1<<i) != 0 }

// viewOps return a value that shares its input's data (or the input itself).
var viewOps = map[string]bool{"Reshape": true, "Flatten": true, "Squeeze": true, "Unsqueeze": true,
	"Identity": true, "Dropout": true, "Cast": true}

// noFuse turns elementwise fusion off (tests compare both ways).
var noFuse = false

// Load reads and validates an ONNX model file.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Opsets this interpreter implements for the default domain. Ops whose form changed inside
// the range (Slice, Clip, Squeeze, Unsqueeze, Softmax, ...) follow the model's opset.
const (
	minOpset = 7
	maxOpset = 17
)

// Parse decodes and validates a serialized ModelProto: every op must be supported with the
// attributes it has, every input must be produced earlier in the graph.
func Parse(b []byte) (*Model, error) {
	mp, err := decodeModel(b)
	if err != nil {
		return nil, err
	}
	opset, ok := mp.opsets[""]
	if v, ok2 := mp.opsets["ai.onnx"]; ok2 {
		opset, ok = v, true
	}
	if !ok {
		return nil, fmt.Errorf("model imports no opset of the default ONNX domain")
	}
	if opset < minOpset || opset > maxOpset {
		return nil, fmt.Errorf("model opset %d, expected %d..%d", opset, minOpset, maxOpset)
	}
	g := mp.graph
	m := &Model{opset: opset, pool: cpu.Default()}
	slot := map[string]int{}
	define := func(name string, v *value) (int, error) {
		if name == "" {
			return 0, fmt.Errorf("empty value name")
		}
		if _, dup := slot[name]; dup {
			return 0, fmt.Errorf("value %q defined twice", name)
		}
		slot[name] = len(m.consts)
		m.consts = append(m.consts, v)
		return slot[name], nil
	}
	for i, t := range g.inits {
		v, err := t.toValue()
		if err != nil {
			return nil, fmt.Errorf("initializer %d: %w", i, err)
		}
		if _, err := define(t.name, v); err != nil {
			return nil, fmt.Errorf("initializer %d: %w", i, err)
		}
	}
	for _, name := range g.inputs {
		if s, ok := slot[name]; ok {
			if m.consts[s] != nil { // an input that is also an initializer: a default; keep it constant
				continue
			}
		}
		s, err := define(name, nil)
		if err != nil {
			return nil, fmt.Errorf("graph input: %w", err)
		}
		m.inputs = append(m.inputs, name)
		m.inSlot = append(m.inSlot, s)
	}
	for ni, np := range g.nodes {
		where := fmt.Sprintf("node %d %q (%s, opset %d)", ni, np.name, np.opType, opset)
		if np.domain != "" && np.domain != "ai.onnx" {
			return nil, fmt.Errorf("%s: domain %q is not supported (only the default ONNX domain is)", where, np.domain)
		}
		a, err := newAttrs(np)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if np.opType == "Constant" {
			v, err := constantValue(a)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if len(np.outputs) != 1 || len(np.inputs) != 0 {
				return nil, fmt.Errorf("%s: %d inputs and %d outputs, expected 0 and 1", where, len(np.inputs), len(np.outputs))
			}
			if _, err := define(np.outputs[0], v); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			continue
		}
		spec, ok := ops[np.opType]
		if !ok {
			return nil, fmt.Errorf("%s: op %s is not supported (supported: %s)", where, np.opType, supportedOps())
		}
		if len(np.inputs) < spec.minIn || len(np.inputs) > spec.maxIn {
			return nil, fmt.Errorf("%s: %d inputs, expected %d..%d", where, len(np.inputs), spec.minIn, spec.maxIn)
		}
		if len(np.outputs) < 1 || len(np.outputs) > spec.maxOut {
			return nil, fmt.Errorf("%s: %d outputs, expected 1..%d", where, len(np.outputs), spec.maxOut)
		}
		n := &node{name: np.name, op: np.opType}
		var constIn []*value
		for i, name := range np.inputs {
			if name == "" {
				if i < spec.minIn {
					return nil, fmt.Errorf("%s: input %d is required", where, i)
				}
				n.in = append(n.in, -1)
				constIn = append(constIn, nil)
				continue
			}
			s, ok := slot[name]
			if !ok {
				return nil, fmt.Errorf("%s: input %q is not produced by an earlier node, an initializer or a graph input", where, name)
			}
			n.in = append(n.in, s)
			constIn = append(constIn, m.consts[s])
		}
		k, err := spec.compile(&compileCtx{attrs: a, opset: opset, consts: constIn, nOut: len(np.outputs)})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := a.unused(); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		n.k = k
		n.ew = elementwiseInfo(np.opType, a, opset, constIn)
		for i, name := range np.outputs {
			if name == "" {
				if i == 0 {
					return nil, fmt.Errorf("%s: output 0 has no name", where)
				}
				n.out = append(n.out, -1)
				continue
			}
			s, err := define(name, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: output: %w", where, err)
			}
			n.out = append(n.out, s)
		}
		m.nodes = append(m.nodes, n)
	}
	for _, name := range g.outputs {
		s, ok := slot[name]
		if !ok {
			return nil, fmt.Errorf("graph output %q is not produced by any node", name)
		}
		m.outputs = append(m.outputs, name)
		m.outSlot = append(m.outSlot, s)
	}
	if len(m.outputs) == 0 {
		return nil, fmt.Errorf("graph has no outputs")
	}
	m.nslots = len(m.consts)
	if !noFuse {
		m.fuse()
	}
	// free each computed value after its last use
	last := make([]int, m.nslots)
	for i := range last {
		last[i] = -1
	}
	for ni, n := range m.nodes {
		for _, s := range n.in {
			if s >= 0 {
				last[s] = ni
			}
		}
	}
	for _, s := range m.outSlot {
		last[s] = -1
	}
	for s, ni := range last {
		if ni >= 0 && m.consts[s] == nil {
			m.nodes[ni].free = append(m.nodes[ni].free, s)
		}
	}
	// A node may overwrite an input in place when that input is a computed value (not a
	// constant, a graph input or a graph output) read for the last time by this node, once, and
	// its data is not shared with another value: neither made by nor given to a view op.
	shared := make([]bool, m.nslots)
	for _, s := range m.inSlot {
		shared[s] = true
	}
	for _, n := range m.nodes {
		if viewOps[n.op] {
			for _, s := range n.in {
				if s >= 0 {
					shared[s] = true
				}
			}
			for _, s := range n.out {
				if s >= 0 {
					shared[s] = true
				}
			}
		}
	}
	for _, n := range m.nodes {
		for _, s := range n.free {
			if !shared[s] {
				n.recycle = append(n.recycle, s)
			}
		}
	}
	for ni, n := range m.nodes {
		for i, s := range n.in {
			if i >= 64 || s < 0 || m.consts[s] != nil || shared[s] || last[s] != ni {
				continue
			}
			uses := 0
			for _, t := range n.in {
				if t == s {
					uses++
				}
			}
			if uses != 1 {
				continue
			}
			n.own |= 1 << i
		}
	}
	return m, nil
}

// Inputs names the graph inputs that Run needs (initializers excluded).
func (m *Model) Inputs() []string { return slices.Clone(m.inputs) }

// Outputs names the graph outputs that Run returns.
func (m *Model) Outputs() []string { return slices.Clone(m.outputs) }

// Opset is the model's default-domain opset version.
func (m *Model) Opset() int64 { return m.opset }

// Run evaluates the graph. Every input named by Inputs must be given, with len(Data) equal to
// the product of Shape. Integer outputs are returned converted to float32.
func (m *Model) Run(in map[string]Tensor) (out map[string]Tensor, err error) {
	slots := make([]*value, m.nslots)
	copy(slots, m.consts)
	for i, name := range m.inputs {
		t, ok := in[name]
		if !ok {
			return nil, fmt.Errorf("onnx: input %q not given", name)
		}
		n := 1
		for _, d := range t.Shape {
			if d < 0 || (d > 0 && n > maxElems/d) {
				return nil, fmt.Errorf("onnx: input %q: bad shape %v", name, t.Shape)
			}
			n *= d
		}
		if n != len(t.Data) {
			return nil, fmt.Errorf("onnx: input %q: shape %v needs %d values, got %d", name, t.Shape, n, len(t.Data))
		}
		slots[m.inSlot[i]] = &value{shape: slices.Clone(t.Shape), f: t.Data, dtype: dtFloat}
	}
	for name := range in {
		if !slices.Contains(m.inputs, name) {
			return nil, fmt.Errorf("onnx: unknown input %q (inputs: %s)", name, strings.Join(m.inputs, ", "))
		}
	}
	c := &runCtx{pool: m.pool}
	var cur *node
	defer func() {
		if r := recover(); r != nil {
			where := "onnx"
			if cur != nil {
				where = fmt.Sprintf("onnx: node %q (%s)", cur.name, cur.op)
			}
			out, err = nil, fmt.Errorf("%s: internal error: %v", where, r)
		}
	}()
	args := make([]*value, 0, 8)
	for _, n := range m.nodes {
		cur = n
		args = args[:0]
		for _, s := range n.in {
			if s < 0 {
				args = append(args, nil)
			} else {
				args = append(args, slots[s])
			}
		}
		c.own = n.own
		res, err := n.k(c, args)
		if err != nil {
			return nil, fmt.Errorf("onnx: node %q (%s): %w", n.name, n.op, err)
		}
		for i, s := range n.out {
			if s >= 0 && i < len(res) {
				slots[s] = res[i]
			}
		}
		for _, s := range n.recycle {
			if v := slots[s]; v != nil && v.isFloat() && len(v.f) > 0 && !aliases(v, res) {
				c.bufs = append(c.bufs, v.f)
			}
		}
		for _, s := range n.free {
			slots[s] = nil
		}
	}
	out = make(map[string]Tensor, len(m.outputs))
	for i, name := range m.outputs {
		v := slots[m.outSlot[i]]
		if v == nil {
			return nil, fmt.Errorf("onnx: output %q was not computed", name)
		}
		t := Tensor{Shape: slices.Clone(v.shape)}
		if v.isFloat() {
			t.Data = v.f
			if m.consts[m.outSlot[i]] != nil || slices.Contains(m.inSlot, m.outSlot[i]) {
				t.Data = slices.Clone(v.f) // never hand out the model's constants or the caller's input
			}
		} else {
			t.Data = make([]float32, len(v.i))
			for j, x := range v.i {
				t.Data[j] = float32(x)
			}
		}
		out[name] = t
	}
	return out, nil
}

func supportedOps() string {
	names := []string{"Constant"}
	for k := range ops {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// aliases reports whether v's buffer is also one of the results' (an op that wrote in place).
func aliases(v *value, res []*value) bool {
	for _, r := range res {
		if r != nil && len(r.f) > 0 && &r.f[0] == &v.f[0] {
			return true
		}
	}
	return false
}

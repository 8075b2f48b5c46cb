package onnx

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// attrs gives a node's attributes by name, checking their types, and remembers which were read
// so that Parse can refuse attributes it does not understand.
type attrs struct {
	m    map[string]*attrProto
	used map[string]bool
	node *nodeProto
}

func newAttrs(n *nodeProto) (*attrs, error) {
	a := &attrs{m: map[string]*attrProto{}, used: map[string]bool{}, node: n}
	for _, p := range n.attrs {
		if _, dup := a.m[p.name]; dup {
			return nil, fmt.Errorf("attribute %q given twice", p.name)
		}
		a.m[p.name] = p
	}
	return a, nil
}

func (a *attrs) get(name string, typ int64) (*attrProto, error) {
	a.used[name] = true
	p, ok := a.m[name]
	if !ok {
		return nil, nil
	}
	if p.typ != typ {
		return nil, fmt.Errorf("attribute %q has type %d, expected %d", name, p.typ, typ)
	}
	return p, nil
}

func (a *attrs) has(name string) bool { _, ok := a.m[name]; return ok }

func (a *attrs) int(name string, def int64) (int64, error) {
	p, err := a.get(name, attrInt)
	if p == nil || err != nil {
		return def, err
	}
	return p.i, nil
}

func (a *attrs) float(name string, def float32) (float32, error) {
	p, err := a.get(name, attrFloat)
	if p == nil || err != nil {
		return def, err
	}
	return p.f, nil
}

func (a *attrs) str(name, def string) (string, error) {
	p, err := a.get(name, attrString)
	if p == nil || err != nil {
		return def, err
	}
	return string(p.s), nil
}

func (a *attrs) ints(name string, def []int64) ([]int64, error) {
	p, err := a.get(name, attrInts)
	if p == nil || err != nil {
		return def, err
	}
	return p.ints, nil
}

// unused reports attributes no compile function read.
func (a *attrs) unused() error {
	var names []string
	for k := range a.m {
		if !a.used[k] {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return fmt.Errorf("attribute(s) %s not supported for this op", strings.Join(names, ", "))
}

// ignore marks attributes that do not change inference results (BatchNormalization's momentum).
func (a *attrs) ignore(names ...string) {
	for _, n := range names {
		a.used[n] = true
	}
}

// ints32 converts an int attribute list to ints, checking the range.
func toInts(v []int64, name string) ([]int, error) {
	out := make([]int, len(v))
	for i, x := range v {
		if x < -math.MaxInt32 || x > math.MaxInt32 {
			return nil, fmt.Errorf("attribute %s[%d] = %d out of range", name, i, x)
		}
		out[i] = int(x)
	}
	return out, nil
}

func constantValue(a *attrs) (*value, error) {
	if len(a.m) != 1 {
		return nil, fmt.Errorf("Constant needs exactly one attribute, got %d", len(a.m))
	}
	for name, p := range a.m {
		a.used[name] = true
		switch {
		case name == "value" && p.typ == attrTensor && p.t != nil:
			return p.t.toValue()
		case name == "value_float" && p.typ == attrFloat:
			return &value{shape: []int{}, f: []float32{p.f}, dtype: dtFloat}, nil
		case name == "value_floats" && p.typ == attrFloats:
			return &value{shape: []int{len(p.floats)}, f: p.floats, dtype: dtFloat}, nil
		case name == "value_int" && p.typ == attrInt:
			return &value{shape: []int{}, i: []int64{p.i}, dtype: dtInt64}, nil
		case name == "value_ints" && p.typ == attrInts:
			return &value{shape: []int{len(p.ints)}, i: p.ints, dtype: dtInt64}, nil
		}
		return nil, fmt.Errorf("Constant attribute %q of type %d is not supported (value, value_float(s), value_int(s) are)", name, p.typ)
	}
	return nil, nil
}

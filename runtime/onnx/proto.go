package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A minimal protobuf wire-format reader for the parts of onnx.proto this package reads
// (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto). Field
// numbers are those of onnx/onnx.proto (IR version 3 and later). Unknown fields are skipped.

const (
	wireVarint = 0
	wire64     = 1
	wireBytes  = 2
	wire32     = 5
)

var errTruncated = errors.New("truncated protobuf")

type wireReader struct {
	b   []byte
	pos int
}

func (r *wireReader) done() bool { return r.pos >= len(r.b) }

func (r *wireReader) varint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.pos >= len(r.b) {
			return 0, errTruncated
		}
		c := r.b[r.pos]
		r.pos++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("protobuf varint longer than 10 bytes")
}

// next reads a field key: the field number and the wire type.
func (r *wireReader) next() (int, int, error) {
	k, err := r.varint()
	if err != nil {
		return 0, 0, err
	}
	num := k >> 3
	if num == 0 || num > 1<<29 {
		return 0, 0, fmt.Errorf("protobuf field number %d out of range", num)
	}
	return int(num), int(k & 7), nil
}

func (r *wireReader) bytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.pos) {
		return nil, errTruncated
	}
	b := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b, nil
}

func (r *wireReader) fixed32() (uint32, error) {
	if len(r.b)-r.pos < 4 {
		return 0, errTruncated
	}
	v := binary.LittleEndian.Uint32(r.b[r.pos:])
	r.pos += 4
	return v, nil
}

func (r *wireReader) fixed64() (uint64, error) {
	if len(r.b)-r.pos < 8 {
		return 0, errTruncated
	}
	v := binary.LittleEndian.Uint64(r.b[r.pos:])
	r.pos += 8
	return v, nil
}

// skip skips a field of wire type wt.
func (r *wireReader) skip(wt int) error {
	switch wt {
	case wireVarint:
		_, err := r.varint()
		return err
	case wire64:
		_, err := r.fixed64()
		return err
	case wireBytes:
		_, err := r.bytes()
		return err
	case wire32:
		_, err := r.fixed32()
		return err
	}
	return fmt.Errorf("unsupported protobuf wire type %d", wt)
}

// int64s appends a repeated int64 field, packed (wire type 2) or not.
func (r *wireReader) int64s(dst []int64, wt int) ([]int64, error) {
	switch wt {
	case wireVarint:
		v, err := r.varint()
		return append(dst, int64(v)), err
	case wireBytes:
		b, err := r.bytes()
		if err != nil {
			return dst, err
		}
		sub := wireReader{b: b}
		for !sub.done() {
			v, err := sub.varint()
			if err != nil {
				return dst, err
			}
			dst = append(dst, int64(v))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("wire type %d for a repeated integer", wt)
}

// float32s appends a repeated float field, packed or not.
func (r *wireReader) float32s(dst []float32, wt int) ([]float32, error) {
	switch wt {
	case wire32:
		v, err := r.fixed32()
		return append(dst, math.Float32frombits(v)), err
	case wireBytes:
		b, err := r.bytes()
		if err != nil {
			return dst, err
		}
		if len(b)%4 != 0 {
			return dst, errors.New("packed float field length not a multiple of 4")
		}
		for i := 0; i < len(b); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("wire type %d for a repeated float", wt)
}

// float64s appends a repeated double field, packed or not.
func (r *wireReader) float64s(dst []float64, wt int) ([]float64, error) {
	switch wt {
	case wire64:
		v, err := r.fixed64()
		return append(dst, math.Float64frombits(v)), err
	case wireBytes:
		b, err := r.bytes()
		if err != nil {
			return dst, err
		}
		if len(b)%8 != 0 {
			return dst, errors.New("packed double field length not a multiple of 8")
		}
		for i := 0; i < len(b); i += 8 {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(b[i:])))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("wire type %d for a repeated double", wt)
}

func want(wt, expect int, field string) error {
	if wt != expect {
		return fmt.Errorf("%s: wire type %d, expected %d", field, wt, expect)
	}
	return nil
}

// ---- decoded messages ----

type modelProto struct {
	irVersion int64
	opsets    map[string]int64
	graph     *graphProto
}

type graphProto struct {
	name    string
	nodes   []*nodeProto
	inits   []*tensorProto
	inputs  []string
	outputs []string
}

type nodeProto struct {
	inputs, outputs []string
	name, opType    string
	domain          string
	attrs           []*attrProto
}

// attribute types (AttributeProto.AttributeType)
const (
	attrFloat   = 1
	attrInt     = 2
	attrString  = 3
	attrTensor  = 4
	attrGraph   = 5
	attrFloats  = 6
	attrInts    = 7
	attrStrings = 8
)

type attrProto struct {
	name   string
	typ    int64
	f      float32
	i      int64
	s      []byte
	t      *tensorProto
	floats []float32
	ints   []int64
	hasF   bool
	hasI   bool
	hasS   bool
}

// tensor element types (TensorProto.DataType)
const (
	dtFloat  = 1
	dtUint8  = 2
	dtInt8   = 3
	dtInt32  = 6
	dtInt64  = 7
	dtBool   = 9
	dtDouble = 11
)

type tensorProto struct {
	name      string
	dims      []int64
	dataType  int64
	floatData []float32
	int32Data []int64
	int64Data []int64
	dblData   []float64
	raw       []byte
	hasRaw    bool
	external  bool
}

func decodeModel(b []byte) (*modelProto, error) {
	m := &modelProto{opsets: map[string]int64{}}
	r := wireReader{b: b}
	for !r.done() {
		num, wt, err := r.next()
		if err != nil {
			return nil, fmt.Errorf("ModelProto: %w", err)
		}
		switch num {
		case 1: // ir_version
			if err := want(wt, wireVarint, "ModelProto.ir_version"); err != nil {
				return nil, err
			}
			v, err := r.varint()
			if err != nil {
				return nil, fmt.Errorf("ModelProto.ir_version: %w", err)
			}
			m.irVersion = int64(v)
		case 7: // graph
			if err := want(wt, wireBytes, "ModelProto.graph"); err != nil {
				return nil, err
			}
			gb, err := r.bytes()
			if err != nil {
				return nil, fmt.Errorf("ModelProto.graph: %w", err)
			}
			if m.graph, err = decodeGraph(gb); err != nil {
				return nil, err
			}
		case 8: // opset_import
			if err := want(wt, wireBytes, "ModelProto.opset_import"); err != nil {
				return nil, err
			}
			ob, err := r.bytes()
			if err != nil {
				return nil, fmt.Errorf("ModelProto.opset_import: %w", err)
			}
			domain, version, err := decodeOpset(ob)
			if err != nil {
				return nil, err
			}
			m.opsets[domain] = version
		default:
			if err := r.skip(wt); err != nil {
				return nil, fmt.Errorf("ModelProto field %d: %w", num, err)
			}
		}
	}
	if m.graph == nil {
		return nil, errors.New("ModelProto has no graph (field 7)")
	}
	return m, nil
}

func decodeOpset(b []byte) (string, int64, error) {
	r := wireReader{b: b}
	var domain string
	var version int64
	for !r.done() {
		num, wt, err := r.next()
		if err != nil {
			return "", 0, fmt.Errorf("OperatorSetIdProto: %w", err)
		}
		switch {
		case num == 1 && wt == wireBytes:
			s, err := r.bytes()
			if err != nil {
				return "", 0, fmt.Errorf("OperatorSetIdProto.domain: %w", err)
			}
			domain = string(s)
		case num == 2 && wt == wireVarint:
			v, err := r.varint()
			if err != nil {
				return "", 0, fmt.Errorf("OperatorSetIdProto.version: %w", err)
			}
			version = int64(v)
		default:
			if err := r.skip(wt); err != nil {
				return "", 0, fmt.Errorf("OperatorSetIdProto field %d: %w", num, err)
			}
		}
	}
	return domain, version, nil
}

func decodeGraph(b []byte) (*graphProto, error) {
	g := &graphProto{}
	r := wireReader{b: b}
	for !r.done() {
		num, wt, err := r.next()
		if err != nil {
			return nil, fmt.Errorf("GraphProto: %w", err)
		}
		if (num == 1 || num == 2 || num == 5 || num == 11 || num == 12) && wt != wireBytes {
			return nil, fmt.Errorf("GraphProto field %d: wire type %d, expected 2", num, wt)
		}
		switch num {
		case 1:
			nb, err := r.bytes()
			if err != nil {
				return nil, fmt.Errorf("GraphProto.node: %w", err)
			}
			n, err := decodeNode(nb)
			if err != nil {
				return nil, fmt.Errorf("GraphProto.node %d: %w", len(g.nodes), err)
			}
			g.nodes = append(g.nodes, n)
		case 2:
			s, err := r.bytes()
			if err != nil {
				return nil, fmt.Errorf("GraphProto.name: %w", err)
			}
			g.name = string(s)
		case 5:
			tb, err := r.bytes()
			if err != nil {
				return nil, fmt.Errorf("GraphProto.initializer: %w", err)
			}
			t, err := decodeTensor(tb)
			if err != nil {
				return nil, fmt.Errorf("GraphProto.initializer %d: %w", len(g.inits), err)
			}
			g.inits = append(g.inits, t)
		case 11, 12:
			vb, err := r.bytes()
			if err != nil {
				return nil, fmt.Errorf("GraphProto.input/output: %w", err)
			}
			name, err := decodeValueInfoName(vb)
			if err != nil {
				return nil, err
			}
			if num == 11 {
				g.inputs = append(g.inputs, name)
			} else {
				g.outputs = append(g.outputs, name)
			}
		default:
			if err := r.skip(wt); err != nil {
				return nil, fmt.Errorf("GraphProto field %d: %w", num, err)
			}
		}
	}
	return g, nil
}

func decodeValueInfoName(b []byte) (string, error) {
	r := wireReader{b: b}
	name := ""
	for !r.done() {
		num, wt, err := r.next()
		if err != nil {
			return "", fmt.Errorf("ValueInfoProto: %w", err)
		}
		if num == 1 && wt == wireBytes {
			s, err := r.bytes()
			if err != nil {
				return "", fmt.Errorf("ValueInfoProto.name: %w", err)
			}
			name = string(s)
			continue
		}
		if err := r.skip(wt); err != nil {
			return "", fmt.Errorf("ValueInfoProto field %d: %w", num, err)
		}
	}
	return name, nil
}

func decodeNode(b []byte) (*nodeProto, error) {
	n := &nodeProto{}
	r := wireReader{b: b}
	for !r.done() {
		num, wt, err := r.next()
		if err != nil {
			return nil, fmt.Errorf("NodeProto: %w", err)
		}
		if num >= 1 && num <= 7 && num != 6 && wt != wireBytes {
			return nil, fmt.Errorf("NodeProto field %d: wire type %d, expected 2", num, wt)
		}
		switch num {
		case 1, 2, 3, 4, 7:
			s, err := r.bytes()
			if err != nil {
				return nil, fmt.Errorf("NodeProto field %d: %w", num, err)
			}
			switch num {
			case 1:
				n.inputs = append(n.inputs, string(s))
			case 2:
				n.outputs = append(n.outputs, string(s))
			case 3:
				n.name = string(s)
			case 4:
				n.opType = string(s)
			case 7:
				n.domain = string(s)
			}
		case 5:
			ab, err := r.bytes()
			if err != nil {
				return nil, fmt.Errorf("NodeProto.attribute: %w", err)
			}
			a, err := decodeAttr(ab)
			if err != nil {
				return nil, fmt.Errorf("node %q (%s): %w", n.name, n.opType, err)
			}
			n.attrs = append(n.attrs, a)
		default:
			if err := r.skip(wt); err != nil {
				return nil, fmt.Errorf("NodeProto field %d: %w", num, err)
			}
		}
	}
	return n, nil
}

func decodeAttr(b []byte) (*attrProto, error) {
	a := &attrProto{}
	r := wireReader{b: b}
	for !r.done() {
		num, wt, err := r.next()
		if err != nil {
			return nil, fmt.Errorf("AttributeProto: %w", err)
		}
		switch num {
		case 1: // name
			if err := want(wt, wireBytes, "AttributeProto.name"); err != nil {
				return nil, err
			}
			s, err := r.bytes()
			if err != nil {
				return nil, fmt.Errorf("AttributeProto.name: %w", err)
			}
			a.name = string(s)
		case 20: // type
			if err := want(wt, wireVarint, "AttributeProto.type"); err != nil {
				return nil, err
			}
			v, err := r.varint()
			if err != nil {
				return nil, fmt.Errorf("AttributeProto.type: %w", err)
			}
			a.typ = int64(v)
		case 2: // f
			if err := want(wt, wire32, "AttributeProto.f"); err != nil {
				return nil, err
			}
			v, err := r.fixed32()
			if err != nil {
				return nil, fmt.Errorf("AttributeProto.f: %w", err)
			}
			a.f, a.hasF = math.Float32frombits(v), true
		case 3: // i
			if err := want(wt, wireVarint, "AttributeProto.i"); err != nil {
				return nil, err
			}
			v, err := r.varint()
			if err != nil {
				return nil, fmt.Errorf("AttributeProto.i: %w", err)
			}
			a.i, a.hasI = int64(v), true
		case 4: // s
			if err := want(wt, wireBytes, "AttributeProto.s"); err != nil {
				return nil, err
			}
			s, err := r.bytes()
			if err != nil {
				return nil, fmt.Errorf("AttributeProto.s: %w", err)
			}
			a.s, a.hasS = s, true
		case 5: // t
			if err := want(wt, wireBytes, "AttributeProto.t"); err != nil {
				return nil, err
			}
			tb, err := r.bytes()
			if err != nil {
				return nil, fmt.Errorf("AttributeProto.t: %w", err)
			}
			if a.t, err = decodeTensor(tb); err != nil {
				return nil, fmt.Errorf("attribute %q: %w", a.name, err)
			}
		case 7: // floats
			if a.floats, err = r.float32s(a.floats, wt); err != nil {
				return nil, fmt.Errorf("AttributeProto.floats: %w", err)
			}
		case 8: // ints
			if a.ints, err = r.int64s(a.ints, wt); err != nil {
				return nil, fmt.Errorf("AttributeProto.ints: %w", err)
			}
		default:
			if err := r.skip(wt); err != nil {
				return nil, fmt.Errorf("AttributeProto field %d: %w", num, err)
			}
		}
	}
	if a.typ == 0 { // IR version < 3 files leave type out: infer it from what is set
		switch {
		case a.t != nil:
			a.typ = attrTensor
		case a.hasF:
			a.typ = attrFloat
		case a.hasI:
			a.typ = attrInt
		case a.hasS:
			a.typ = attrString
		case a.floats != nil:
			a.typ = attrFloats
		case a.ints != nil:
			a.typ = attrInts
		}
	}
	return a, nil
}

func decodeTensor(b []byte) (*tensorProto, error) {
	t := &tensorProto{}
	r := wireReader{b: b}
	var err error
	for !r.done() {
		num, wt, err2 := r.next()
		if err2 != nil {
			return nil, fmt.Errorf("TensorProto: %w", err2)
		}
		switch num {
		case 1:
			t.dims, err = r.int64s(t.dims, wt)
		case 2:
			if err = want(wt, wireVarint, "TensorProto.data_type"); err == nil {
				var v uint64
				v, err = r.varint()
				t.dataType = int64(v)
			}
		case 4:
			t.floatData, err = r.float32s(t.floatData, wt)
		case 5:
			t.int32Data, err = r.int64s(t.int32Data, wt)
		case 7:
			t.int64Data, err = r.int64s(t.int64Data, wt)
		case 8:
			if err = want(wt, wireBytes, "TensorProto.name"); err == nil {
				var s []byte
				s, err = r.bytes()
				t.name = string(s)
			}
		case 9:
			if err = want(wt, wireBytes, "TensorProto.raw_data"); err == nil {
				t.raw, err = r.bytes()
				t.hasRaw = true
			}
		case 10:
			t.dblData, err = r.float64s(t.dblData, wt)
		case 14: // data_location: 1 = EXTERNAL
			if err = want(wt, wireVarint, "TensorProto.data_location"); err == nil {
				var v uint64
				v, err = r.varint()
				t.external = v == 1
			}
		default:
			err = r.skip(wt)
		}
		if err != nil {
			return nil, fmt.Errorf("TensorProto field %d: %w", num, err)
		}
	}
	return t, nil
}

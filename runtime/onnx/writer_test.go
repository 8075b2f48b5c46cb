package onnx

import (
	"encoding/binary"
	"math"
)

// A tiny protobuf writer for ONNX ModelProtos, so tests can build graphs without model files.
// It writes the same field numbers proto.go reads; the real PP-OCR files (written by
// paddle2onnx through the protobuf library) cross-check both in TestRecognizer.

type pbuf struct{ b []byte }

func (p *pbuf) varint(v uint64) { p.b = binary.AppendUvarint(p.b, v) }
func (p *pbuf) key(num, wt int) { p.varint(uint64(num)<<3 | uint64(wt)) }
func (p *pbuf) bytes(num int, b []byte) {
	p.key(num, wireBytes)
	p.varint(uint64(len(b)))
	p.b = append(p.b, b...)
}
func (p *pbuf) str(num int, s string) { p.bytes(num, []byte(s)) }
func (p *pbuf) int(num int, v int64) {
	p.key(num, wireVarint)
	p.varint(uint64(v))
}
func (p *pbuf) f32(num int, v float32) {
	p.key(num, wire32)
	p.b = binary.LittleEndian.AppendUint32(p.b, math.Float32bits(v))
}

type tTensor struct {
	name  string
	dims  []int
	f     []float32
	i     []int64
	dtype int64 // dtFloat or dtInt64 (default by which slice is set)
	raw   bool  // raw_data instead of float_data / int64_data
}

func (t *tTensor) encode() []byte {
	var p pbuf
	for _, d := range t.dims {
		p.int(1, int64(d))
	}
	dt := t.dtype
	if dt == 0 {
		dt = dtFloat
		if t.f == nil {
			dt = dtInt64
		}
	}
	p.int(2, dt)
	if t.name != "" {
		p.str(8, t.name)
	}
	switch {
	case t.raw && dt == dtFloat:
		var r []byte
		for _, v := range t.f {
			r = binary.LittleEndian.AppendUint32(r, math.Float32bits(v))
		}
		p.bytes(9, r)
	case t.raw:
		var r []byte
		for _, v := range t.i {
			r = binary.LittleEndian.AppendUint64(r, uint64(v))
		}
		p.bytes(9, r)
	case dt == dtFloat: // packed float_data
		var r []byte
		for _, v := range t.f {
			r = binary.LittleEndian.AppendUint32(r, math.Float32bits(v))
		}
		p.bytes(4, r)
	default: // unpacked int64_data
		for _, v := range t.i {
			p.int(7, v)
		}
	}
	return p.b
}

type tAttr struct {
	name   string
	typ    int64
	i      int64
	f      float32
	s      string
	ints   []int64
	floats []float32
	t      *tTensor
}

func aInt(name string, v int64) tAttr       { return tAttr{name: name, typ: attrInt, i: v} }
func aInts(name string, v ...int64) tAttr   { return tAttr{name: name, typ: attrInts, ints: v} }
func aFloat(name string, v float32) tAttr   { return tAttr{name: name, typ: attrFloat, f: v} }
func aStr(name, v string) tAttr             { return tAttr{name: name, typ: attrString, s: v} }
func aTensor(name string, t *tTensor) tAttr { return tAttr{name: name, typ: attrTensor, t: t} }

func (a *tAttr) encode() []byte {
	var p pbuf
	p.str(1, a.name)
	p.int(20, a.typ)
	switch a.typ {
	case attrInt:
		p.int(3, a.i)
	case attrFloat:
		p.f32(2, a.f)
	case attrString:
		p.str(4, a.s)
	case attrTensor:
		p.bytes(5, a.t.encode())
	case attrInts:
		for _, v := range a.ints {
			p.int(8, v)
		}
	case attrFloats:
		for _, v := range a.floats {
			p.f32(7, v)
		}
	}
	return p.b
}

type tNode struct {
	op, name string
	in, out  []string
	attrs    []tAttr
}

type tModel struct {
	opset   int64
	inputs  []string
	outputs []string
	inits   []*tTensor
	nodes   []tNode
}

func (m *tModel) encode() []byte {
	var g pbuf
	for _, n := range m.nodes {
		var p pbuf
		for _, s := range n.in {
			p.str(1, s)
		}
		for _, s := range n.out {
			p.str(2, s)
		}
		p.str(3, n.name)
		p.str(4, n.op)
		for _, a := range n.attrs {
			p.bytes(5, a.encode())
		}
		g.bytes(1, p.b)
	}
	g.str(2, "test")
	for _, t := range m.inits {
		g.bytes(5, t.encode())
	}
	vi := func(name string) []byte {
		var p pbuf
		p.str(1, name)
		return p.b
	}
	for _, s := range m.inputs {
		g.bytes(11, vi(s))
	}
	for _, s := range m.outputs {
		g.bytes(12, vi(s))
	}
	var p pbuf
	p.int(1, 8)
	var os pbuf
	os.str(1, "")
	os.int(2, m.opset)
	p.bytes(8, os.b)
	p.str(2, "rpiq-test")
	p.bytes(7, g.b)
	return p.b
}

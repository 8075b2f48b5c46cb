// Package textrectest writes a tiny text-recognition network for tests that run without the
// real one (CI): an ONNX file of the PP-OCR recogniser's shape ([1, 3, 48, W] in, [1, W/8, C]
// probabilities out) that the project's interpreter runs, and a dictionary for it. It reads a
// code, not print: each 8-column step's darkest level f (over the 48 rows; the three planes'
// mean) is folded to |f − 0.5|, so that white paper (f = 1) and the input's padding (f = 0)
// are both blank, and classified to the nearest of six centres — blank, E, X, I, T and a
// space — so Picture draws a word it reads back exactly, through the whole reading path.
package textrectest

import (
	"encoding/binary"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Keys is the dictionary; class 0 is blank, class i is Keys[i-1], the last class a space.
var Keys = []string{"E", "X", "I", "T"}

// levels are the classes' grey levels in the network's input units (x/127.5 − 1): blank
// (white), E, X, I, T, space; centres are their |f − 0.5| (blank 0.5, E 1.5, X 1.25, I 1, T
// 0.75, space 0).
var levels = []float64{1, -1, -0.75, -0.5, -0.25, 0.5}

// sharp scales the scores: neighbouring centres 0.25 apart differ by 300·0.0625 = 19 at a
// centre, so a level drawn exactly reads with probability 1 in float32.
const sharp = 300

// Grey is the 8-bit grey a character is drawn in ("" for the paper).
func Grey(ch string) uint8 {
	i := 0
	for k, c := range Keys {
		if c == ch {
			i = k + 1
		}
	}
	if ch == " " {
		i = len(levels) - 1
	}
	return uint8(math.Round((levels[i] + 1) * 127.5))
}

// Picture draws text (letters of Keys and spaces) 48 pixels high: each character a block 16
// pixels wide in its grey, blocks 8 pixels apart on white, 16 pixels of white at each end.
func Picture(text string) *image.Gray {
	n := len(text)
	w := 32 + 16*n + 8*max(0, n-1)
	g := image.NewGray(image.Rect(0, 0, w, 48))
	for i := range g.Pix {
		g.Pix[i] = 255
	}
	for i, r := range text {
		v := Grey(string(r))
		x0 := 16 + 24*i
		for y := 0; y < 48; y++ {
			for x := x0; x < x0+16; x++ {
				g.SetGray(x, y, color.Gray{v})
			}
		}
	}
	return g
}

// Write writes the network (rec.onnx) and its dictionary (keys.txt) into dir.
func Write(dir string) (model, dict string, err error) {
	model, dict = filepath.Join(dir, "rec.onnx"), filepath.Join(dir, "keys.txt")
	if err := os.WriteFile(dict, []byte(strings.Join(Keys, "\n")+"\n"), 0o644); err != nil {
		return "", "", err
	}
	return model, dict, os.WriteFile(model, Model(), 0o644)
}

// Model is the ONNX file's bytes: Neg, MaxPool 48×8 (stride 48×8), Neg (each step's darkest
// level f), Add −0.5, Abs, a 1×1 Conv giving each class k(2·m·b − m²) for b = |f − 0.5| (the
// nearest centre m scores highest), Reshape to [1, C, T], Transpose to [1, T, C], Softmax.
func Model() []byte {
	c := len(levels)
	wts := make([]float32, c*3)
	bias := make([]float32, c)
	for k, f := range levels {
		m := math.Abs(f - 0.5)
		for ch := 0; ch < 3; ch++ {
			wts[k*3+ch] = float32(sharp * 2 * m / 3)
		}
		bias[k] = float32(-sharp * m * m)
	}
	var g []byte
	g = appendBytes(g, 1, node("Neg", []string{"x"}, "n1"))
	g = appendBytes(g, 1, node("MaxPool", []string{"n1"}, "p", ints("kernel_shape", 48, 8), ints("strides", 48, 8)))
	g = appendBytes(g, 1, node("Neg", []string{"p"}, "m"))
	g = appendBytes(g, 1, node("Add", []string{"m", "half"}, "a"))
	g = appendBytes(g, 1, node("Abs", []string{"a"}, "f"))
	g = appendBytes(g, 1, node("Conv", []string{"f", "w", "b"}, "s"))
	g = appendBytes(g, 1, node("Reshape", []string{"s", "shape"}, "r"))
	g = appendBytes(g, 1, node("Transpose", []string{"r"}, "t", ints("perm", 0, 2, 1)))
	g = appendBytes(g, 1, node("Softmax", []string{"t"}, "y", intAttr("axis", -1)))
	g = appendBytes(g, 2, []byte("tiny_rec"))
	g = appendBytes(g, 5, floatTensor("w", []int64{int64(c), 3, 1, 1}, wts))
	g = appendBytes(g, 5, floatTensor("b", []int64{int64(c)}, bias))
	g = appendBytes(g, 5, floatTensor("half", nil, []float32{-0.5}))
	g = appendBytes(g, 5, int64Tensor("shape", []int64{1, int64(c), -1}))
	g = appendBytes(g, 11, valueInfo("x", 1, 3, 48, -1))
	g = appendBytes(g, 12, valueInfo("y", 1, -1, int64(c)))
	var m []byte
	m = appendVarint(m, 1, 8) // ir_version
	var op []byte
	op = appendBytes(op, 1, nil)
	op = appendVarint(op, 2, 13)
	m = appendBytes(m, 8, op)
	m = appendBytes(m, 7, g)
	return m
}

func appendTag(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field<<3|wire))
}

func appendVarint(b []byte, field int, v int64) []byte {
	return binary.AppendUvarint(appendTag(b, field, 0), uint64(v))
}

func appendBytes(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(appendTag(b, field, 2), uint64(len(v)))
	return append(b, v...)
}

func node(op string, in []string, out string, attrs ...[]byte) []byte {
	var n []byte
	for _, s := range in {
		n = appendBytes(n, 1, []byte(s))
	}
	n = appendBytes(n, 2, []byte(out))
	n = appendBytes(n, 3, []byte(out))
	n = appendBytes(n, 4, []byte(op))
	for _, a := range attrs {
		n = appendBytes(n, 5, a)
	}
	return n
}

func ints(name string, v ...int64) []byte {
	a := appendBytes(nil, 1, []byte(name))
	for _, x := range v {
		a = appendVarint(a, 8, x)
	}
	return appendVarint(a, 20, 7) // INTS
}

func intAttr(name string, v int64) []byte {
	a := appendBytes(nil, 1, []byte(name))
	a = appendVarint(a, 3, v)
	return appendVarint(a, 20, 2) // INT
}

func floatTensor(name string, dims []int64, v []float32) []byte {
	var t []byte
	for _, d := range dims {
		t = appendVarint(t, 1, d)
	}
	t = appendVarint(t, 2, 1) // FLOAT
	t = appendBytes(t, 8, []byte(name))
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return appendBytes(t, 9, raw)
}

func int64Tensor(name string, v []int64) []byte {
	t := appendVarint(nil, 1, int64(len(v)))
	t = appendVarint(t, 2, 7) // INT64
	t = appendBytes(t, 8, []byte(name))
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return appendBytes(t, 9, raw)
}

// valueInfo is a float tensor's name and shape (−1: a named dynamic dimension).
func valueInfo(name string, dims ...int64) []byte {
	var shape []byte
	for i, d := range dims {
		var dim []byte
		if d < 0 {
			dim = appendBytes(nil, 2, []byte("d"+string(rune('0'+i))))
		} else {
			dim = appendVarint(nil, 1, d)
		}
		shape = appendBytes(shape, 1, dim)
	}
	tt := appendVarint(nil, 1, 1)
	tt = appendBytes(tt, 2, shape)
	typ := appendBytes(nil, 1, tt)
	v := appendBytes(nil, 1, []byte(name))
	return appendBytes(v, 2, typ)
}

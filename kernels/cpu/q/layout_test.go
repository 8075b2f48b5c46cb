package q

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// A matrix rebuilt from its layout (copied into fresh memory, as a file would hold it) computes
// bit-identical outputs: one token and a tile of 5, every variant, in-order, act-order, 3- and
// 8-bit layers and a FromRows head.
func TestFromLayoutIsBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var ms []*Matrix
	for _, c := range []struct {
		in, out, bits, group int
		act                  bool
	}{{256, 37, 4, 32, false}, {200, 20, 4, 128, true}, {144, 17, 3, 48, false}, {384, 33, 8, -1, false}} {
		m, err := randomGPTQ(rng, c.in, c.out, c.bits, c.group, c.act, true, true).repack()
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	dense := make([]float32, 40*64)
	for i := range dense {
		dense[i] = float32(rng.NormFloat64())
	}
	h, err := FromRows(64, 40, 8, -1, func(dst []float32, n int) { copy(dst, dense[n*64:(n+1)*64]) }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms = append(ms, h)
	for _, m := range ms {
		l := m.Layout()
		l.W = append(make([]byte, 0, len(l.W)+64), l.W...) // fresh, possibly unaligned: FromLayout copies then
		l.SM = slices.Clone(l.SM)
		l.Src = slices.Clone(l.Src)
		c, err := FromLayout(l)
		if err != nil {
			t.Fatalf("%d×%d %d-bit: %v", m.Out, m.In, m.Bits, err)
		}
		if uintptr(unsafe.Pointer(&c.w[0]))&63 != 0 {
			t.Fatal("codes not 64-byte aligned")
		}
		x := make([]float32, 5*m.In)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for _, k := range Kernels() {
			if err := Use(k); err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 5} {
				want, got := make([]float32, n*m.Out), make([]float32, n*m.Out)
				m.MatMul(want, x[:n*m.In], n)
				c.MatMul(got, x[:n*m.In], n)
				for i := range want {
					if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
						t.Fatalf("%s %d×%d %d-bit, %d tokens: output %d = %v, repacked %v", k, m.Out, m.In, m.Bits, n, i, got[i], want[i])
					}
				}
			}
		}
		Use(Kernels()[len(Kernels())-1])
	}
}

// Every inconsistent field is an ErrFormat error naming it, never a panic later.
func TestFromLayoutRejectsBadLayouts(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	m, err := randomGPTQ(rng, 200, 20, 4, 40, true, true, false).repack()
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(l *Layout){
		"shape":      func(l *Layout) { l.In = 0 },
		"big shape":  func(l *Layout) { l.Out = 1 << 31 },
		"bits":       func(l *Layout) { l.Bits = 5 },
		"code bits":  func(l *Layout) { l.CodeBits = 8 },
		"group":      func(l *Layout) { l.GroupSize = 0 },
		"block":      func(l *Layout) { l.Blk = 12 },
		"blocks":     func(l *Layout) { l.NB = -1 },
		"many":       func(l *Layout) { l.NB = 1 << 40 },
		"permlen":    func(l *Layout) { l.Src = l.Src[1:] },
		"perm":       func(l *Layout) { l.Src = slices.Clone(l.Src); l.Src[3] = 200 },
		"perm neg":   func(l *Layout) { l.Src = slices.Clone(l.Src); l.Src[3] = -2 },
		"short pad":  func(l *Layout) { l.Src = nil; l.In = 1000 },
		"codes":      func(l *Layout) { l.W = l.W[:len(l.W)-1] },
		"scales":     func(l *Layout) { l.SM = l.SM[:len(l.SM)-48] },
		"more rows":  func(l *Layout) { l.Out = 33 },
		"block size": func(l *Layout) { l.Blk, l.NB = 16, l.NB*l.Blk/16 },
	} {
		l := m.Layout()
		edit(&l)
		if _, err := FromLayout(l); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v, want an ErrFormat error", name, err)
		}
	}
}

package half

import (
	"math"
	"math/rand/v2"
	"testing"
)

// f16Value decodes binary16 from the definition (float64), independent of F16ToF32.
func f16Value(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return s * m * math.Pow(2, -24)
	case 31:
		if m == 0 {
			return s * math.Inf(1)
		}
		return math.NaN()
	}
	return s * (1 + m/1024) * math.Pow(2, float64(e-15))
}

func TestF16AllValues(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		want := f16Value(h)
		got := float64(F16ToF32(h))
		if math.IsNaN(want) {
			if !math.IsNaN(got) {
				t.Fatalf("%#04x: got %v want NaN", h, got)
			}
			continue
		}
		if got != want || math.Signbit(got) != math.Signbit(want) {
			t.Fatalf("%#04x: got %v want %v", h, got, want)
		}
		// every finite half round-trips exactly
		if back := F32ToF16(float32(got)); back != h {
			t.Fatalf("%#04x round trip gave %#04x", h, back)
		}
	}
}

// F32ToF16 must pick the nearest half (ties to even), found here by brute force over all halves
// of the same sign.
func TestF32ToF16Nearest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 500; n++ {
		f := float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(40)-26)))
		got := F32ToF16(f)
		best, bestErr := uint16(0), math.Inf(1)
		for i := 0; i < 0x7c00; i++ {
			h := uint16(i)
			if f < 0 {
				h |= 0x8000
			}
			d := math.Abs(f16Value(h) - float64(f))
			if d < bestErr || (d == bestErr && h&1 == 0) {
				best, bestErr = h, d
			}
		}
		if math.Abs(float64(f)) >= 65520 {
			best = 0x7c00 | uint16(boolBit(f < 0))<<15
		}
		if got != best {
			t.Fatalf("F32ToF16(%v) = %#04x (%v), want %#04x (%v)", f, got, f16Value(got), best, f16Value(best))
		}
	}
}

func boolBit(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 100000; n++ {
		f := math.Float32frombits(r.Uint32())
		if f != f {
			continue
		}
		h := F32ToBF16(f)
		got := BF16ToF32(h)
		// nearest of the two candidates bracketing f
		lo := math.Float32frombits(math.Float32bits(f) &^ 0xffff)
		hiBits := math.Float32bits(f)&^0xffff + 0x10000
		hi := math.Float32frombits(hiBits)
		// above the largest finite value the next step is 2^128 (rounds to Inf), so measure in float64
		loExp := int(math.Float32bits(lo) >> 23 & 0xff)
		hi64 := float64(lo) + math.Copysign(math.Pow(2, float64(loExp-127-7)), float64(f))
		if hiBits>>23&0xff != 0xff {
			hi64 = float64(hi)
		}
		dl, dh := math.Abs(float64(f)-float64(lo)), math.Abs(hi64-float64(f))
		want := lo
		if dh < dl || (dh == dl && (math.Float32bits(lo)>>16)&1 == 1) {
			want = hi
		}
		if got != want && !(math.IsInf(float64(want), 0) && math.IsInf(float64(got), 0)) {
			t.Fatalf("bf16(%v) = %v want %v", f, got, want)
		}
	}
	if v := BF16ToF32(F32ToBF16(float32(math.NaN()))); v == v {
		t.Fatal("NaN lost")
	}
}

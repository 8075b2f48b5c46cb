package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// minMaxVariants runs f once per form of MinMaxColsF32 this build and CPU can run (the Go loop,
// AVX2, AVX-512), with the others hidden.
func minMaxVariants(t testing.TB, f func(name string)) {
	defer func(a, b bool) { hasMinMax512, hasMinMaxAVX2 = a, b }(hasMinMax512, hasMinMaxAVX2)
	has512, has2 := hasMinMax512, hasMinMaxAVX2
	hasMinMax512, hasMinMaxAVX2 = false, false
	f("go")
	if has2 {
		hasMinMaxAVX2 = true
		f("avx2")
	}
	if has512 {
		hasMinMax512 = true
		f("avx512")
	}
}

// MinMaxColsF32 gives the bits of the scalar loop written out here (strict comparisons, so the
// first of equal values stays, +0 against −0 included) on every row count 1..70 and some wide
// ones, columns 1..130, strides beyond the rows, values drawn so that ties and zeros of both
// signs are common; the values also match a float64 min/max, and nothing past len(lo) changes.
func TestMinMaxColsF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	draw := func() float32 {
		switch rng.IntN(4) {
		case 0:
			return []float32{float32(math.Copysign(0, -1)), 0, 1, -1, 2, -2}[rng.IntN(6)]
		case 1:
			return float32(math.Copysign(0, float64(rng.IntN(2))-0.5))
		}
		return float32(rng.NormFloat64())
	}
	shapes := [][2]int{{64, 128}, {1000, 33}, {5632, 7}, {128, 130}, {80, 1}}
	for rows := 1; rows <= 70; rows++ {
		for _, cols := range []int{1, 2, 3, 7, 64, 1 + rng.IntN(130)} {
			shapes = append(shapes, [2]int{rows, cols})
		}
	}
	zeros, ties := 0, 0
	for _, sh := range shapes {
		rows, cols := sh[0], sh[1]
		ldx := rows + []int{0, 1, 5, 16}[rng.IntN(4)]
		x := make([]float32, (cols-1)*ldx+rows)
		for i := range x {
			x[i] = draw()
		}
		lo0, hi0 := make([]float32, rows+3), make([]float32, rows+3)
		for r := range lo0 {
			switch rng.IntN(4) {
			case 0:
				lo0[r], hi0[r] = float32(math.Inf(1)), float32(math.Inf(-1))
			default:
				lo0[r], hi0[r] = draw(), draw()
			}
		}
		wantLo, wantHi := append([]float32(nil), lo0...), append([]float32(nil), hi0...)
		for c := 0; c < cols; c++ {
			for r := 0; r < rows; r++ {
				v := x[c*ldx+r]
				if v == wantLo[r] || v == wantHi[r] {
					ties++
					if v == 0 && math.Signbit(float64(v)) != math.Signbit(float64(wantLo[r])) {
						zeros++
					}
				}
				if v < wantLo[r] {
					wantLo[r] = v
				}
				if v > wantHi[r] {
					wantHi[r] = v
				}
			}
		}
		for r := 0; r < rows; r++ { // the values, in float64
			mn, mx := float64(lo0[r]), float64(hi0[r])
			for c := 0; c < cols; c++ {
				mn, mx = math.Min(mn, float64(x[c*ldx+r])), math.Max(mx, float64(x[c*ldx+r]))
			}
			if float64(wantLo[r]) != mn || float64(wantHi[r]) != mx {
				t.Fatalf("%d×%d row %d: scalar loop %v..%v, float64 %v..%v", rows, cols, r, wantLo[r], wantHi[r], mn, mx)
			}
		}
		minMaxVariants(t, func(name string) {
			lo, hi := append([]float32(nil), lo0...), append([]float32(nil), hi0...)
			MinMaxColsF32(lo[:rows], hi[:rows], x, ldx, cols)
			for r := range lo {
				if math.Float32bits(lo[r]) != math.Float32bits(wantLo[r]) || math.Float32bits(hi[r]) != math.Float32bits(wantHi[r]) {
					t.Fatalf("%s %d×%d ldx %d: row %d = %v..%v, scalar loop %v..%v", name, rows, cols, ldx, r, lo[r], hi[r], wantLo[r], wantHi[r])
				}
			}
		})
	}
	if zeros < 1000 || ties < 10000 {
		t.Fatalf("only %d opposite-sign zeros and %d ties tried", zeros, ties)
	}
}

// The signed-zero rule on its own: a running +0 stays +0 against −0 and a running −0 stays −0
// against +0, in min and in max, in every lane position of the vector forms.
func TestMinMaxColsF32SignedZeros(t *testing.T) {
	neg := float32(math.Copysign(0, -1))
	for _, rows := range []int{1, 8, 15, 16, 17, 64, 67} {
		minMaxVariants(t, func(name string) {
			for _, first := range []float32{0, neg} {
				lo, hi, x := make([]float32, rows), make([]float32, rows), make([]float32, 2*rows)
				for r := range lo {
					lo[r], hi[r], x[r], x[rows+r] = first, first, -first, first
				}
				MinMaxColsF32(lo, hi, x, rows, 2)
				for r := range lo {
					if math.Signbit(float64(lo[r])) != math.Signbit(float64(first)) || math.Signbit(float64(hi[r])) != math.Signbit(float64(first)) || lo[r] != 0 || hi[r] != 0 {
						t.Fatalf("%s rows=%d running %v: row %d gives %v..%v", name, rows, first, r, lo[r], hi[r])
					}
				}
			}
		})
	}
}

func TestMinMaxColsF32Panics(t *testing.T) {
	for _, tc := range []struct {
		name             string
		lo, hi, x        int
		ldx, cols        int
		want             string
		shouldNotPanicOK bool
	}{
		{"hi short", 4, 3, 100, 4, 2, "len(hi)", false},
		{"x short", 4, 4, 4*3 + 3, 4, 4, "len(x)", false},
		{"x shorter than a column", 4, 4, 3, 4, 1, "len(x)", false},
		{"negative cols", 4, 4, 16, 4, -1, "negative", false},
		{"exact", 4, 4, 4*3 + 4, 4, 4, "", true},
		{"no rows", 0, 0, 0, 4, 4, "", true},
	} {
		func() {
			defer func() {
				r := recover()
				if tc.shouldNotPanicOK {
					if r != nil {
						t.Errorf("%s: panicked: %v", tc.name, r)
					}
					return
				}
				if r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Errorf("%s: panic %v, want one naming %q", tc.name, r, tc.want)
				}
			}()
			MinMaxColsF32(make([]float32, tc.lo), make([]float32, tc.hi), make([]float32, tc.x), tc.ldx, tc.cols)
		}()
	}
}

// BenchmarkMinMaxColsF32 is GPTQ's per-row group fit: a 64-row × 128-column tile (ldx 64, in
// L1) and 5632 rows × 128 columns of a transposed matrix (ldx 5632, 2.9 MB), in GB/s of x read,
// for each form the CPU has.
// go test -run X -bench MinMaxColsF32 ./kernels/cpu
func BenchmarkMinMaxColsF32(b *testing.B) {
	for _, sh := range [][2]int{{64, 128}, {5632, 128}} {
		rows, cols := sh[0], sh[1]
		r := rand.New(rand.NewPCG(1, 2))
		x := randF32(r, rows*cols)
		lo, hi := make([]float32, rows), make([]float32, rows)
		minMaxVariants(b, func(name string) {
			b.Run(fmt.Sprintf("%dx%d/%s", rows, cols, name), func(b *testing.B) {
				for b.Loop() {
					MinMaxColsF32(lo, hi, x, rows, cols)
				}
				b.ReportMetric(float64(4*rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		})
	}
}

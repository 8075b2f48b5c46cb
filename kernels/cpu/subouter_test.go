package cpu

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"math"
	"math/rand/v2"
	"testing"
)

// SubOuterF32 against AXPY row by row (bit for bit, both register widths where the CPU has
// them) and against the float64 definition (one rounding of y − a·x per value).
func TestSubOuterF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	defer func(v bool) { hasSubOuter512 = v }(hasSubOuter512)
	avx512 := hasSubOuter512
	for _, wide := range []bool{false, true} {
		hasSubOuter512 = wide && avx512
		for _, rows := range []int{1, 2, 7, 64} {
			for _, n := range []int{1, 15, 16, 17, 32, 48, 64, 100, 128, 208} {
				ldy := n + rng.IntN(9)
				a := make([]float32, rows)
				x := make([]float32, n)
				y0 := make([]float32, rows*ldy)
				for i := range a {
					a[i] = float32(rng.NormFloat64())
				}
				for i := range x {
					x[i] = float32(rng.NormFloat64() * 3)
				}
				for i := range y0 {
					y0[i] = float32(rng.NormFloat64())
				}
				want := append([]float32(nil), y0...)
				for j, v := range a {
					AXPY(want[j*ldy:j*ldy+n], -v, x)
				}
				got := append([]float32(nil), y0...)
				SubOuterF32(got, ldy, a, x)
				for j := 0; j < rows; j++ {
					for p := 0; p < ldy; p++ {
						i := j*ldy + p
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("wide=%v rows=%d n=%d: y[%d][%d] = %v, AXPY gives %v", wide, rows, n, j, p, got[i], want[i])
						}
						if p >= n {
							if got[i] != y0[i] {
								t.Fatalf("wide=%v rows=%d n=%d: y[%d][%d] outside the rows' width changed", wide, rows, n, j, p)
							}
							continue
						}
						ref := float64(y0[i]) - float64(a[j])*float64(x[p])
						// at most two roundings (a product and a sum where no FMA runs)
						bound := 2 * (math.Abs(ref) + math.Abs(float64(a[j])*float64(x[p]))) * 0x1p-24
						if math.Abs(float64(got[i])-ref) > bound {
							t.Fatalf("wide=%v rows=%d n=%d: y[%d][%d] = %v, float64 %v (bound %g)", wide, rows, n, j, p, got[i], ref, bound)
						}
					}
				}
			}
		}
	}
}

// BenchmarkSubOuterF32 is GPTQ's within-block feedback on one tile: 64 rows, each of a 128-column
// block's columns fed to the columns after it, in multiply-adds per second on one core: one
// column at a time (rank1), and sixteen columns' errors at once to the columns past their group
// (rank16, SubOuter16F32, one at a time inside the group; faster only with AVX-512).
// go test -run X -bench SubOuterF32 ./kernels/cpu
func BenchmarkSubOuterF32(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	tile, ub, e := randF32(r, 64*128), randF32(r, 128*128), randF32(r, 16*64)
	for i := range ub {
		ub[i] *= 1e-3
	}
	fmas := 64 * 127 * 128 / 2
	b.Run("rank1", func(b *testing.B) {
		for b.Loop() {
			for i := 0; i < 127; i++ {
				SubOuterF32(tile[(i+1)*64:], 64, ub[i*128+i+1:(i+1)*128], e[:64])
			}
		}
		b.ReportMetric(float64(b.N)*float64(fmas)/b.Elapsed().Seconds()/1e9, "GFMA/s")
	})
	// Each group's U rows packed column by column, once per block as GPTQ packs them for all
	// of the block's tiles.
	aT := make([][]float32, 8)
	for s := 0; s < 112; s += 16 {
		cols := 128 - s - 16
		aT[s/16] = make([]float32, 16*cols)
		for j := 0; j < cols; j++ {
			for i := 0; i < 16; i++ {
				aT[s/16][16*j+i] = ub[(s+i)*128+s+16+j]
			}
		}
	}
	b.Run("rank16", func(b *testing.B) {
		for b.Loop() {
			for s := 0; s < 128; s += 16 {
				for i := s; i < s+15; i++ {
					SubOuterF32(tile[(i+1)*64:(s+16)*64], 64, ub[i*128+i+1:i*128+s+16], e[(i-s)*64:(i-s+1)*64])
				}
				if cols := 128 - s - 16; cols > 0 {
					SubOuter16F32(tile[(s+16)*64:], 64, aT[s/16], e, 64, 64, cols)
				}
			}
		}
		b.ReportMetric(float64(b.N)*float64(fmas)/b.Elapsed().Seconds()/1e9, "GFMA/s")
	})
}

// SubOuter16F32 against sixteen SubOuterF32 calls in order (bit for bit: the same fused
// multiply-adds in the same order, edges included) and against the float64 definition, with
// the AVX-512 kernel and without it (where the machine has it).
func TestSubOuter16F32(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	defer func(v bool) { hasSubOuter512 = v }(hasSubOuter512)
	avx512 := hasSubOuter512
	for _, wide := range []bool{false, true} {
		hasSubOuter512 = wide && avx512
		testSubOuter16F32(t, rng)
	}
}

func testSubOuter16F32(t *testing.T, rng *rand.Rand) {
	for _, cols := range []int{1, 7, 8, 9, 16, 23, 112} {
		for _, n := range []int{1, 15, 16, 17, 64, 100} {
			ldy, ldx := n+rng.IntN(9), n+rng.IntN(5)
			aT := make([]float32, 16*cols)
			x := make([]float32, 16*ldx)
			y0 := make([]float32, cols*ldy)
			for _, v := range [][]float32{aT, x, y0} {
				for i := range v {
					v[i] = float32(rng.NormFloat64())
				}
			}
			got := append([]float32(nil), y0...)
			SubOuter16F32(got, ldy, aT, x, ldx, n, cols)
			want := append([]float32(nil), y0...)
			a := make([]float32, cols)
			for i := 0; i < 16; i++ {
				for j := range a {
					a[j] = aT[16*j+i]
				}
				SubOuterF32(want, ldy, a, x[i*ldx:i*ldx+n])
			}
			for j := 0; j < cols; j++ {
				for p := 0; p < ldy; p++ {
					k := j*ldy + p
					if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
						t.Fatalf("cols=%d n=%d: y[%d][%d] = %v, SubOuterF32 gives %v", cols, n, j, p, got[k], want[k])
					}
					if p >= n {
						if got[k] != y0[k] {
							t.Fatalf("cols=%d n=%d: y[%d][%d] outside the rows' width changed", cols, n, j, p)
						}
						continue
					}
					ref, bound := float64(y0[k]), 0.0
					for i := 0; i < 16; i++ {
						prod := float64(aT[16*j+i]) * float64(x[i*ldx+p])
						ref -= prod
						bound += 2 * (math.Abs(ref) + math.Abs(prod)) * 0x1p-24
					}
					if math.Abs(float64(got[k])-ref) > bound {
						t.Fatalf("cols=%d n=%d: y[%d][%d] = %v, float64 %v (bound %g)", cols, n, j, p, got[k], ref, bound)
					}
				}
			}
		}
	}
}

// SubOuterF64 against Go's own y -= a*x element by element (bit for bit: the product rounded
// first on amd64, fused where the compiler fuses it, as on arm64), every length around the
// 8-value chunks, strides wider than the rows, nothing outside the rows touched.
func TestSubOuterF64(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	for _, rows := range []int{1, 2, 7, 16} {
		for _, n := range []int{1, 5, 7, 8, 9, 15, 16, 17, 31, 64} {
			ldy := n + rng.IntN(9)
			a, x, y0 := make([]float64, rows), make([]float64, n), make([]float64, rows*ldy)
			for _, v := range [][]float64{a, x, y0} {
				for i := range v {
					v[i] = rng.NormFloat64()
				}
			}
			got := append([]float64(nil), y0...)
			SubOuterF64(got, ldy, a, x)
			for j := 0; j < rows; j++ {
				for p := 0; p < ldy; p++ {
					i := j*ldy + p
					want := y0[i]
					if p < n {
						want -= a[j] * x[p]
					}
					if math.Float64bits(got[i]) != math.Float64bits(want) {
						t.Fatalf("rows=%d n=%d: y[%d][%d] = %v, want %v", rows, n, j, p, got[i], want)
					}
				}
			}
		}
	}
}

// AddRowsF64 against gonum's Dgemm for one row of C += A·B (bit for bit: the same products in
// the same order, zero coefficients skipped as gonum skips them, signed zeros included), every
// length around the 8-value chunks.
func TestAddRowsF64(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	for _, k := range []int{1, 3, 32} {
		for _, n := range []int{1, 5, 8, 9, 16, 31, 32, 33} {
			ldx := n + rng.IntN(4)
			a, x, y0 := make([]float64, k), make([]float64, k*ldx), make([]float64, n+3)
			for _, v := range [][]float64{a, x, y0} {
				for i := range v {
					v[i] = rng.NormFloat64()
				}
			}
			a[0], y0[0] = 0, math.Copysign(0, -1) // a skipped coefficient; y[0] meets only ±0 products
			for l := range a {
				x[l*ldx] = 0
			}
			got := append([]float64(nil), y0...)
			AddRowsF64(got[:n], a, x, ldx)
			want := append([]float64(nil), y0...)
			blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
				blas64.General{Rows: 1, Cols: k, Stride: k, Data: a},
				blas64.General{Rows: k, Cols: n, Stride: ldx, Data: x},
				1, blas64.General{Rows: 1, Cols: n, Stride: n, Data: want[:n]})
			for p := range got {
				if math.Float64bits(got[p]) != math.Float64bits(want[p]) {
					t.Fatalf("k=%d n=%d: y[%d] = %v, gonum %v", k, n, p, got[p], want[p])
				}
			}
		}
	}
}

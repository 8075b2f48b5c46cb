package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// GridErrF32 against the float64 definition written out here (round half to even, clamp to
// the grid, the error divided by d, half its square added to the loss): the same codes and
// the same bits, with either vector width, on lengths that leave tails, with weights on the
// grid's half-way points (the ties) and beyond both ends of it; entries past n untouched.
func TestGridErrF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	defer func(v bool) { hasGridErr512 = v }(hasGridErr512)
	has512, ties := hasGridErr512, 0
	for _, maxq := range []float64{3, 7, 15, 255} {
		for _, n := range []int{0, 1, 3, 4, 7, 8, 9, 31, 64, 67} {
			w := make([]float32, n+2)
			scale, zero := make([]float64, n+2), make([]float64, n+2)
			for k := range w {
				scale[k] = math.Exp(rng.NormFloat64()) * 0.01
				zero[k] = float64(rng.IntN(int(maxq) + 1))
				switch rng.IntN(3) {
				case 0: // a tie: a power-of-two scale and a weight exactly half-way between two points
					scale[k] = math.Ldexp(1, -3-rng.IntN(10))
					w[k] = float32(scale[k] * (float64(rng.IntN(int(maxq)+5)-2) - zero[k] + 0.5))
					ties++
				case 1: // far outside the grid
					w[k] = float32(rng.NormFloat64() * scale[k] * 4 * maxq)
				default:
					w[k] = float32(rng.NormFloat64() * scale[k] * maxq / 2)
				}
			}
			d := math.Exp(rng.NormFloat64())
			loss0 := make([]float64, n+2)
			for k := range loss0 {
				loss0[k] = rng.Float64()
			}
			wantC, wantE, wantL := make([]uint8, n+2), make([]float32, n+2), append([]float64(nil), loss0...)
			for k := 0; k < n; k++ {
				x := float64(w[k])
				q := math.RoundToEven(x/scale[k]) + zero[k]
				q = math.Min(math.Max(q, 0), maxq)
				wantC[k] = uint8(q)
				ek := (x - scale[k]*(q-zero[k])) / d
				wantE[k] = float32(ek)
				wantL[k] += ek * ek / 2
			}
			for _, wide := range []bool{false, true} {
				hasGridErr512 = wide && has512
				codes, e, loss := make([]uint8, n+2), make([]float32, n+2), append([]float64(nil), loss0...)
				GridErrF32(codes, e, loss, w[:n], scale, zero, maxq, d)
				for k := range codes {
					if codes[k] != wantC[k] || math.Float32bits(e[k]) != math.Float32bits(wantE[k]) || math.Float64bits(loss[k]) != math.Float64bits(wantL[k]) {
						t.Fatalf("maxq=%v n=%d wide=%v k=%d: code %d e %v loss %v, want %d %v %v", maxq, n, wide, k, codes[k], e[k], loss[k], wantC[k], wantE[k], wantL[k])
					}
				}
			}
		}
	}
	if ties < 100 {
		t.Fatalf("only %d ties tried", ties)
	}
}

// GridF64 against its definition written out here, on GridErrF32's kinds of values (ties,
// values beyond the grid): the same codes, grid points and errors, bit for bit, with and
// without the vector form, on lengths that leave tails; entries past n untouched.
func TestGridF64(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	defer func(v bool) { hasGridErr512 = v }(hasGridErr512)
	has512 := hasGridErr512
	for _, maxq := range []float64{3, 7, 15, 255} {
		for _, n := range []int{0, 1, 3, 7, 8, 9, 16, 31, 64, 67} {
			x := make([]float64, n+2)
			scale, zero := make([]float64, n+2), make([]float64, n+2)
			for k := range x {
				scale[k] = math.Exp(rng.NormFloat64()) * 0.01
				zero[k] = float64(rng.IntN(int(maxq) + 1))
				switch rng.IntN(3) {
				case 0:
					scale[k] = math.Ldexp(1, -3-rng.IntN(10))
					x[k] = scale[k] * (float64(rng.IntN(int(maxq)+5)-2) - zero[k] + 0.5)
				case 1:
					x[k] = rng.NormFloat64() * scale[k] * 4 * maxq
				default:
					x[k] = rng.NormFloat64() * scale[k] * maxq / 2
				}
			}
			d := math.Exp(rng.NormFloat64())
			wantC, wantV, wantE := make([]uint8, n+2), make([]float64, n+2), make([]float64, n+2)
			for k := 0; k < n; k++ {
				q := math.Min(math.Max(math.RoundToEven(x[k]/scale[k])+zero[k], 0), maxq)
				wantC[k] = uint8(q)
				wantV[k] = float64(scale[k] * (q - zero[k]))
				wantE[k] = (x[k] - wantV[k]) / d
			}
			for _, wide := range []bool{false, true} {
				hasGridErr512 = wide && has512
				codes, v, e := make([]uint8, n+2), make([]float64, n+2), make([]float64, n+2)
				GridF64(codes, v, e, x[:n], scale, zero, maxq, d)
				for k := range codes {
					if codes[k] != wantC[k] || math.Float64bits(v[k]) != math.Float64bits(wantV[k]) || math.Float64bits(e[k]) != math.Float64bits(wantE[k]) {
						t.Fatalf("maxq=%v n=%d wide=%v k=%d: code %d v %v e %v, want %d %v %v", maxq, n, wide, k, codes[k], v[k], e[k], wantC[k], wantV[k], wantE[k])
					}
				}
			}
		}
	}
}

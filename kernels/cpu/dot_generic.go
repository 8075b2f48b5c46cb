package cpu

import (
	"math"

	"github.com/rpiq/rpiq/kernels/half"
)

// The pure-Go twins of the assembly loops: always compiled, used for tails, on other
// architectures and under the noasm tag, and as the oracle in tests. Four accumulators let the
// CPU overlap the additions.

func dotF32Go(x, w []float32) float32 {
	w = w[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * w[i]
		s1 += x[i+1] * w[i+1]
		s2 += x[i+2] * w[i+2]
		s3 += x[i+3] * w[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * w[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func bf16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

func dotBF16Go(x []float32, w []uint16) float32 {
	w = w[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * bf16(w[i])
		s1 += x[i+1] * bf16(w[i+1])
		s2 += x[i+2] * bf16(w[i+2])
		s3 += x[i+3] * bf16(w[i+3])
	}
	for ; i < len(x); i++ {
		s0 += x[i] * bf16(w[i])
	}
	return (s0 + s1) + (s2 + s3)
}

func dotF16Go(x []float32, w []uint16) float32 {
	w = w[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * half.F16ToF32(w[i])
		s1 += x[i+1] * half.F16ToF32(w[i+1])
		s2 += x[i+2] * half.F16ToF32(w[i+2])
		s3 += x[i+3] * half.F16ToF32(w[i+3])
	}
	for ; i < len(x); i++ {
		s0 += x[i] * half.F16ToF32(w[i])
	}
	return (s0 + s1) + (s2 + s3)
}

func dot2x4F32Go(x0, x1, w []float32, ldw int, out *[8]float32) {
	n := len(x0)
	for j := 0; j < 4; j++ {
		row := w[j*ldw : j*ldw+n]
		out[j] = dotF32Go(x0, row)
		out[4+j] = dotF32Go(x1[:n], row)
	}
}

func gemm6x16Go(a []float32, lda int, b []float32, k int, c []float32, ldc int, sub bool) {
	var acc [6][16]float32
	for t := 0; t < k; t++ {
		bt := b[t*16 : t*16+16 : t*16+16]
		for r := 0; r < 6; r++ {
			av := a[r*lda+t]
			row := &acc[r]
			for j := range row {
				row[j] += av * bt[j]
			}
		}
	}
	for r := 0; r < 6; r++ {
		if !sub {
			copy(c[r*ldc:r*ldc+16], acc[r][:])
			continue
		}
		for j, v := range acc[r] {
			c[r*ldc+j] -= v
		}
	}
}

func dot1x4F32Go(x, w []float32, ldw int, out *[4]float32) {
	for j := 0; j < 4; j++ {
		out[j] = dotF32Go(x, w[j*ldw:j*ldw+len(x)])
	}
}

// gridCode is clamp(roundEven(x/scale) + zero, 0, maxq).
func gridCode(x, scale, zero, maxq float64) float64 {
	q := math.RoundToEven(x/scale) + zero
	if q < 0 {
		q = 0
	}
	if q > maxq {
		q = maxq
	}
	return q
}

func gridF64Go(codes []uint8, v, e, x, scale, zero []float64, maxq, d float64) {
	for k, xk := range x {
		q := gridCode(xk, scale[k], zero[k], maxq)
		codes[k] = uint8(q)
		vk := float64(scale[k] * (q - zero[k])) // rounded: never fused into the subtraction
		v[k] = vk
		e[k] = (xk - vk) / d
	}
}

func gridErrGo(codes []uint8, e []float32, loss []float64, w []float32, scale, zero []float64, maxq, d float64) {
	for k, v := range w {
		x := float64(v)
		q := gridCode(x, scale[k], zero[k], maxq)
		codes[k] = uint8(q)
		ek := (x - scale[k]*(q-zero[k])) / d
		loss[k] += ek * ek / 2
		e[k] = float32(ek)
	}
}

func transposeGo(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	for r := 0; r < rows; r++ {
		for c, v := range src[r*lds : r*lds+cols] {
			dst[c*ldd+r] = v
		}
	}
}

func transposeF64ToF32Go(dst []float32, ldd int, src []float64, lds, rows, cols int) bool {
	var bad float32 // x − x: +0 for finite x, NaN otherwise
	for r := 0; r < rows; r++ {
		for c, v := range src[r*lds : r*lds+cols] {
			x := float32(v)
			dst[c*ldd+r] = x
			bad += x - x
		}
	}
	return bad == 0
}

func subOuterF64Go(y []float64, ldy int, a, x []float64) {
	for j, v := range a {
		row := y[j*ldy : j*ldy+len(x)]
		for p, e := range x {
			row[p] -= v * e // stage 2's projection as it was written (fused where Go fuses it: arm64)
		}
	}
}

func addRowsF64Go(y, a, x []float64, ldx int) {
	for l, v := range a {
		if v == 0 {
			continue
		}
		for p, e := range x[l*ldx : l*ldx+len(y)] {
			y[p] += v * e // gonum's Go AxpyUnitary, the same expression: the same bits on any platform
		}
	}
}

// subOuter16Rest is SubOuter16F32 on the columns c0..cols, all rows: SubOuterF32 for each of the
// sixteen in order, its a_i gathered from aT a chunk of columns at a time.
func subOuter16Rest(y []float32, ldy int, aT []float32, x []float32, ldx, n, c0, cols int) {
	var a [64]float32
	for i := 0; i < 16; i++ {
		xi := x[i*ldx : i*ldx+n]
		for j0 := c0; j0 < cols; j0 += len(a) {
			j1 := min(j0+len(a), cols)
			for j := j0; j < j1; j++ {
				a[j-j0] = aT[16*j+i]
			}
			SubOuterF32(y[j0*ldy:], ldy, a[:j1-j0], xi)
		}
	}
}

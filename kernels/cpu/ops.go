package cpu

import "math"

// Element-wise and row-wise float32 kernels. They are cheap next to the matrix products, so they
// stay plain Go, written to be read.

// RMSNorm sets dst = x / sqrt(mean(x²) + eps) · w, for one row (len(w) == len(x)).
func RMSNorm(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	inv := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	w = w[:len(x)]
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = v * inv * w[i]
	}
}

// LayerNorm sets dst = (x - mean) / sqrt(var + eps) · w + b, for one row.
func LayerNorm(dst, x, w, b []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := sum / float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
	w, b, dst = w[:len(x)], b[:len(x)], dst[:len(x)]
	for i, v := range x {
		dst[i] = float32((float64(v)-mean)*inv)*w[i] + b[i]
	}
}

// Softmax replaces x by exp(x - max) / Σ.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	mx := maxF32(x)
	var sum float32
	if math.IsInf(float64(mx), 0) || mx != mx {
		sum = expShiftSumGo(x, mx) // ±Inf or NaN: math.Exp's special cases, one by one
	} else {
		sum = expShiftSum(x, mx) // AVX2 lanes, each value what math.Exp gives
	}
	ScaleF32(x, 1/sum)
}

// maxF32Go is the largest value of x (NaN if x holds one).
func maxF32Go(x []float32) float32 {
	mx := x[0]
	for _, v := range x[1:] {
		mx = max(mx, v)
	}
	return mx
}

// expShiftSumGo sets x[i] = float32(math.Exp(float64(x[i]-mx))) and returns their sum.
func expShiftSumGo(x []float32, mx float32) float32 {
	var sum float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - mx)))
		x[i] = e
		sum += e
	}
	return sum
}

// SiLU is x·sigmoid(x).
func SiLU(x float32) float32 { return x / (1 + float32(math.Exp(float64(-x)))) }

// swigluGo sets dst[i] = silu(gate[i]) · up[i] (the scalar SwiGLU).
func swigluGo(dst, gate, up []float32) {
	gate, up = gate[:len(dst)], up[:len(dst)]
	for i := range dst {
		dst[i] = SiLU(gate[i]) * up[i]
	}
}

// ReLU replaces negative values by zero.
func ReLU(x []float32) {
	for i, v := range x {
		if v < 0 {
			x[i] = 0
		}
	}
}

// GELU applies the exact (erf) GELU, HF's "gelu".
func GELU(x []float32) {
	for i, v := range x {
		x[i] = float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2)))
	}
}

// Add sets dst = a + b.
func Add(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// RoPE rotates one head (len(x) == 2·len(invFreq)) in place for position pos, the Hugging Face
// "rotate half" way: element i pairs with element i+d/2, angle pos·invFreq[i].
func RoPE(x []float32, pos int, invFreq []float32) {
	var buf [2 * 256]float32
	h := len(invFreq)
	cs := buf[:]
	if 2*h > len(buf) {
		cs = make([]float32, 2*h)
	}
	RoPEAngles(cs[:h], cs[h:2*h], pos, invFreq)
	RoPEWith(x, cs[:h], cs[h:2*h])
}

// RoPEAngles fills cos and sin of pos·invFreq[i]: once per position, for every head (RoPEWith).
func RoPEAngles(cos, sin []float32, pos int, invFreq []float32) {
	cos, sin = cos[:len(invFreq)], sin[:len(invFreq)]
	for i, f := range invFreq {
		s, c := math.Sincos(float64(pos) * float64(f))
		cos[i], sin[i] = float32(c), float32(s)
	}
}

// RoPEWith is RoPE with the angles' cos and sin given (RoPEAngles).
func RoPEWith(x, cos, sin []float32) {
	h := len(cos)
	x1, x2, sin := x[:h], x[h:2*h], sin[:h]
	for i, c := range cos {
		s := sin[i]
		a, b := x1[i], x2[i]
		x1[i] = a*c - b*s
		x2[i] = b*c + a*s
	}
}

func axpyGo(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

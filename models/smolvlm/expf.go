package smolvlm

import "math"

const (
	log2e = 1.44269504088896341
	ln2hi = 0.693359375
	ln2lo = -2.12194440e-4
)

// expf is e^x for x ≤ 0 (the tanh GELU's e^(−2|y|)) in float32: Cephes' expf polynomial after
// reduction by ln 2, relative error below 3e-7, several times faster than math.Exp; below −87 it
// is 0.
func expf(x float32) float32 {
	if x < -87 {
		return 0
	}
	n := -int32(-x*log2e + 0.5) // round to nearest (x ≤ 0) without math.Floor's call
	r := x - float32(n)*ln2hi - float32(n)*ln2lo
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	return (p*r*r + r + 1) * math.Float32frombits(uint32(n+127)<<23)
}

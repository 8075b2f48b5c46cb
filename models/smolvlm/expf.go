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
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2hi - n*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

//go:build amd64 && !noasm

package cpu

//go:noescape
func fmaLoopAVX2(n int)

//go:noescape
func fmaLoopAVX512(n int)

var hasFMALoop = hasAVX2FMA

// fmaLoop runs n iterations of the widest FMA loop this CPU has and returns the flops done.
func fmaLoop(n int) float64 {
	if hasAVX512 {
		fmaLoopAVX512(n)
		return float64(n) * 384
	}
	fmaLoopAVX2(n)
	return float64(n) * 192
}

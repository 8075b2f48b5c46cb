//go:build !unix

package cogvlm2

func cpuSeconds() float64 { return 0 }

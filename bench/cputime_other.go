//go:build !unix

package bench

func processCPU() float64 { return 0 }

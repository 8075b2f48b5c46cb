//go:build !unix

package smolvlm

func processCPU() float64 { return 0 }

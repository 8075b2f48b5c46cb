//go:build !unix

package llama

func processCPU() float64 { return 0 }

//go:build !amd64 || noasm

package cpu

var hasFMALoop = false

func fmaLoop(int) float64 { return 0 }

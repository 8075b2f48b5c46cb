//go:build unix

package bench

import "syscall"

// processCPU is the CPU time (user + system) this process has used, in seconds. On a shared
// machine it tells how long the work would take if it had the CPUs to itself.
func processCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

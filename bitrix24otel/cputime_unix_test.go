//go:build unix

package bitrix24otel_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the process has used so far: all its
// goroutines, the span processor's and the garbage collector's included.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

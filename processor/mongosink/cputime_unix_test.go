//go:build unix

package mongosink

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the test process has used so far (user and
// system, every goroutine: the in-process broker and registry included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package runcmd

import (
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/processor/spec"
)

// MemoryLimitOff is the --memory-limit value that leaves Go's memory limit
// as it is: GOMEMLIMIT's, or none.
const MemoryLimitOff = "off"

// Where a daemon's memory limit came from, as logged.
const (
	limitFromEnv     = "GOMEMLIMIT"
	limitFromFlag    = "--memory-limit"
	limitFromDefault = "pipelines"   // daemon.MemoryLimit
	limitFromProgram = "program"     // set before the daemon started
	limitFromNone    = "off"         // --memory-limit off
	noLimit          = math.MaxInt64 // the runtime's default: no limit
)

// memoryChoice is the soft memory limit a daemon runs under.
type memoryChoice struct {
	limit int64  // bytes; noLimit for none
	from  string // limitFrom...
	set   bool   // RunDaemon sets limit (else the runtime's stays)
	// ignored is the --memory-limit value GOMEMLIMIT overrode, if any.
	ignored string
}

// chooseMemoryLimit decides a daemon's soft memory limit, first match:
// GOMEMLIMIT in the process's environment (Go's own rule: the runtime
// read it at start; any --memory-limit is ignored); --memory-limit off
// (the runtime's limit stays); --memory-limit SIZE; a limit the program
// already set (current is not the runtime's default: an embedding program
// or a test); the pipelines' limit, derived.
func chooseMemoryLimit(flag string, lookupEnv func(string) (string, bool), current, derived int64) (memoryChoice, error) {
	flag = strings.TrimSpace(flag)
	size, err := parseMemoryLimit(flag)
	if err != nil {
		return memoryChoice{}, err
	}
	if v, ok := lookupEnv("GOMEMLIMIT"); ok && v != "" {
		return memoryChoice{limit: current, from: limitFromEnv, ignored: flag}, nil
	}
	switch {
	case flag == MemoryLimitOff:
		return memoryChoice{limit: current, from: limitFromNone}, nil
	case size > 0:
		return memoryChoice{limit: size, from: limitFromFlag, set: true}, nil
	case current != noLimit:
		return memoryChoice{limit: current, from: limitFromProgram}, nil
	}
	return memoryChoice{limit: derived, from: limitFromDefault, set: true}, nil
}

// parseMemoryLimit reads a --memory-limit value: a size in bytes, or 0
// for empty and MemoryLimitOff; anything else is a usage error.
func parseMemoryLimit(flag string) (int64, error) {
	flag = strings.TrimSpace(flag)
	if flag == "" || flag == MemoryLimitOff {
		return 0, nil
	}
	n, err := spec.ParseByteSize(flag)
	if err != nil || n <= 0 {
		return 0, cli.Usagef("--memory-limit %q: want a size such as 256MiB, or %s", flag, MemoryLimitOff)
	}
	return int64(n), nil
}

// applyMemoryLimit sets the chosen limit, logs it, and returns the
// function that puts the previous limit back.
func applyMemoryLimit(c memoryChoice, log *slog.Logger) (restore func()) {
	restore = func() {}
	if c.set {
		prev := debug.SetMemoryLimit(c.limit)
		restore = func() { debug.SetMemoryLimit(prev) }
	}
	if c.ignored != "" {
		log.Warn("--memory-limit is ignored: GOMEMLIMIT is set", "memory_limit", c.ignored)
	}
	limit := "none"
	if c.limit != noLimit {
		limit = fmt.Sprintf("%.1fMiB", float64(c.limit)/(1<<20))
	}
	log.Info("memory limit", "limit", limit, "bytes", c.limit, "from", c.from)
	return restore
}

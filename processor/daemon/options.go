package daemon

import (
	"log/slog"
	"time"

	"github.com/schemaflow/schemaflow/processor/config"
)

// DefaultShutdownTimeout bounds a graceful stop when Options sets none.
const DefaultShutdownTimeout = 30 * time.Second

// EnsureDefaults fills in the default of every field left unset; New
// calls it. StuckAfter stays 0 when unset: each pipeline then uses its
// own (a sink's write timeout).
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
}

// Validate reports every problem of the Options at once, as
// config.Problems.
func (o *Options) Validate() error {
	var ps config.Problems
	if o.ShutdownTimeout < 0 {
		ps.Add("ShutdownTimeout", "must not be negative")
	}
	if o.StuckAfter < 0 {
		ps.Add("StuckAfter", "must not be negative")
	}
	return ps.Err()
}

// Package graceful gives pipelines a context for finishing work in hand
// after they are told to stop.
package graceful

import (
	"context"
	"sync"
	"time"

	"github.com/schemaflow/schemaflow/processor/config"
)

// DefaultDrain is how long work in hand may take after a stop when a
// pipeline's drain timeout is not set.
const DefaultDrain = 10 * time.Second

// Config is how a stop is drained.
type Config struct {
	// Drain is how long work in hand may take after a stop. Default
	// DefaultDrain.
	Drain time.Duration
}

// EnsureDefaults fills in the default of every field left unset.
func (c *Config) EnsureDefaults() {
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
}

// Validate reports every problem at once, as config.Problems.
func (c *Config) Validate() error {
	var ps config.Problems
	if c.Drain < 0 {
		ps.Add("Drain", "must not be negative")
	}
	return ps.Err()
}

// Context returns a context that is not cancelled with parent but ends
// drain after parent is done (DefaultDrain if drain is 0 or negative), or
// when cancel is called. Work begun before a stop — records in flight, a
// batch being written — finishes under it, so offsets and resume tokens
// get saved.
func Context(parent context.Context, drain time.Duration) (ctx context.Context, cancel context.CancelFunc) {
	cfg := Config{Drain: max(drain, 0)}
	cfg.EnsureDefaults()
	ctx, cancelCtx := context.WithCancel(context.WithoutCancel(parent))
	var mu sync.Mutex
	var timer *time.Timer
	stopAfter := context.AfterFunc(parent, func() {
		mu.Lock()
		timer = time.AfterFunc(cfg.Drain, cancelCtx)
		mu.Unlock()
	})
	return ctx, func() {
		stopAfter()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancelCtx()
	}
}

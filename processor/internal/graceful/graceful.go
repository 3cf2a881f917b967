// Package graceful gives pipelines a context for finishing work in hand
// after they are told to stop.
package graceful

import (
	"context"
	"sync"
	"time"
)

// DefaultDrain is how long work in hand may take after a stop when a
// pipeline's drain timeout is not set.
const DefaultDrain = 10 * time.Second

// Context returns a context that is not cancelled with parent but ends
// drain after parent is done (DefaultDrain if drain is 0), or when cancel
// is called. Work begun before a stop — records in flight, a batch being
// written — finishes under it, so offsets and resume tokens get saved.
func Context(parent context.Context, drain time.Duration) (ctx context.Context, cancel context.CancelFunc) {
	if drain <= 0 {
		drain = DefaultDrain
	}
	ctx, cancelCtx := context.WithCancel(context.WithoutCancel(parent))
	var mu sync.Mutex
	var timer *time.Timer
	stopAfter := context.AfterFunc(parent, func() {
		mu.Lock()
		timer = time.AfterFunc(drain, cancelCtx)
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

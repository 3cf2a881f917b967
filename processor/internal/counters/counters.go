// Package counters holds counters keyed by a label, such as dead letters
// by error class, for pipelines' statistics.
package counters

import "sync"

// ByLabel counts by label. The zero value is ready; it is safe for
// concurrent use.
type ByLabel struct {
	mu sync.Mutex
	m  map[string]int64
}

// Add adds n to label's count.
func (c *ByLabel) Add(label string, n int64) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[label] += n
	c.mu.Unlock()
}

// Snapshot returns a copy of the counts; nil when there are none.
func (c *ByLabel) Snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

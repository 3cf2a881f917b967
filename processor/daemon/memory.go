package daemon

import "github.com/schemaflow/schemaflow/processor/config"

// MemoryOverhead is what a daemon's Go memory holds beside its pipelines'
// in-flight bytes, in MemoryLimit: the runtime and goroutine stacks, the
// Kafka and MongoDB clients' connection buffers, schema and encoder
// caches, metrics, and the documents a sink decodes from the batch in
// hand. A daemon with 10 pipelines at the soak's rate has 11–18 MB of
// heap in use.
const MemoryOverhead = 32 << 20

// MemoryLimit is the soft limit on the Go runtime's memory
// (runtime/debug.SetMemoryLimit) that the daemon's pipelines call for:
// MemoryOverhead plus every pipeline's max_inflight_bytes
// (config.DefaultMaxInflightBytes when its spec sets none). Under it the
// garbage collector runs before the heap doubles its live data, which is
// what sets a busy daemon's RSS otherwise; it is soft: a daemon that
// needs more gets it, at the cost of more collections.
func (d *Daemon) MemoryLimit() int64 {
	n := int64(MemoryOverhead)
	for _, p := range d.pipelines {
		b := int64(p.spec.MaxInflightBytes)
		if b <= 0 {
			b = config.DefaultMaxInflightBytes
		}
		n += b
	}
	return n
}

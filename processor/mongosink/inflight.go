package mongosink

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The bytes a pipeline holds count against Config.MaxInflightBytes: the
// records of the batch in hand — decoded, made into write models, written
// and committed — from the poll that takes them to the commit that
// releases them, and the headers of a dead letter while it is produced
// (its key and value are the record's own bytes, not copied). Records a
// poll returned past the bound are not taken into the batch: they stay
// where the Kafka client fetched them, whose buffer the bound caps too,
// until the next batch takes them.

// maxDeadLetterReserve caps the room a batch leaves for its dead letters'
// headers under tolerance all.
const maxDeadLetterReserve = 64 << 10

// recordBytes is what a record counts against MaxInflightBytes.
func recordBytes(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// gauge is a current value with its peak.
type gauge struct{ now, peak atomic.Int64 }

func (g *gauge) add(n int64) { g.raise(g.now.Add(n)) }

func (g *gauge) set(v int64) {
	g.now.Store(v)
	g.raise(v)
}

func (g *gauge) raise(v int64) {
	for {
		p := g.peak.Load()
		if v <= p || g.peak.CompareAndSwap(p, v) {
			return
		}
	}
}

// batchBudget is the bytes a batch may take: MaxInflightBytes, less the
// room kept for dead-letter headers under tolerance all (a quarter of the
// bound, at most 64 KiB).
func (p *Pipeline) batchBudget() int64 {
	b := p.cfg.MaxInflightBytes
	if p.cfg.Tolerance == ToleranceAll {
		b -= min(b/4, maxDeadLetterReserve)
	}
	return b
}

// fetchLimits bound the Kafka client's fetch buffer by MaxInflightBytes
// too: a fetch answer holds at most that many bytes (franz-go's default
// is 50 MiB), a partition's share at most 1 MiB, as by default.
func (p *Pipeline) fetchLimits() []kgo.Opt {
	total := min(p.cfg.MaxInflightBytes, 50<<20)
	return []kgo.Opt{kgo.FetchMaxBytes(int32(total)), kgo.FetchMaxPartitionBytes(int32(min(total, 1<<20)))}
}

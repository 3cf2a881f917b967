package mongosink

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/processor/kafkaopt/fetchbound"
)

// The bytes a pipeline holds count against Config.MaxInflightBytes, in
// two halves. The batch in hand takes one: its records — decoded, made
// into write models, written and committed — from the poll that takes
// them to the commit that releases them, and the headers of a dead letter
// while it is produced (its key and value are the record's own bytes, not
// copied). The Kafka client's fetch buffer takes the other: a
// fetchbound.Bound sets the fetch limits so that a fetch, decompressed,
// holds at most that half (beyond it only the one batch per partition a
// broker always sends). Records a poll returned past the batch's half are
// not taken into the batch: they stay where the client fetched them until
// the next batch takes them.

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

// batchBudget is the bytes a batch may take: half of MaxInflightBytes,
// less the room kept for dead-letter headers under tolerance all (a
// quarter of that half, at most 64 KiB).
func (p *Pipeline) batchBudget() int64 {
	b := p.cfg.MaxInflightBytes / 2
	if p.cfg.Tolerance == ToleranceAll {
		b -= min(b/4, maxDeadLetterReserve)
	}
	return b
}

// fetchBudget is the bytes the Kafka client's fetch buffer may hold,
// decompressed: the other half of MaxInflightBytes.
func (p *Pipeline) fetchBudget() int64 {
	return p.cfg.MaxInflightBytes - p.cfg.MaxInflightBytes/2
}

// fetchLimits are the Kafka client options that keep its fetch buffer
// within fetchBudget; Run attaches the client it makes to p.fetch.
func (p *Pipeline) fetchLimits() []kgo.Opt {
	p.fetch = fetchbound.New(p.fetchBudget())
	return p.fetch.Options()
}

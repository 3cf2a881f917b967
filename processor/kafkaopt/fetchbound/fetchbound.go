// Package fetchbound keeps what a Kafka consumer's client buffers from its
// fetches within a byte budget, by the memory fetched bytes are seen to
// take once decompressed (see Bound). The sink's max_inflight_bytes uses
// it for its fetch buffer.
package fetchbound

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The bounds a Bound sets its limits within.
const (
	// InitialFetchRatio is the memory a fetched byte is assumed to take
	// before the first batch is read: a compressed byte of similar
	// documents decompresses to ten or twenty, so the first fetch is kept
	// small.
	InitialFetchRatio = 32
	// MinFetchBytes is the smallest FetchMaxBytes a Bound asks for.
	MinFetchBytes = 1 << 10
	// MaxFetchBytes is the largest FetchMaxBytes a Bound asks for:
	// franz-go's default.
	MaxFetchBytes = 50 << 20
	// MaxFetchPartitionBytes is the largest FetchMaxPartitionBytes a
	// Bound asks for: franz-go's (and Kafka's) default, 1 MiB.
	MaxFetchPartitionBytes = 1 << 20
)

// recordOverhead is what the client allocates for each fetched record
// beside its bytes: the Record and the pointer to it.
const recordOverhead = int(unsafe.Sizeof(kgo.Record{})) + int(unsafe.Sizeof((*kgo.Record)(nil)))

// Bound keeps what a consumer's Kafka client buffers from its
// fetches — the records decompressed, and the client's Record for each —
// within a byte budget.
//
// Kafka's fetch limits (FetchMaxBytes per fetch, FetchMaxPartitionBytes
// per partition) count bytes as they travel, compressed; a batch of
// similar documents decompresses to several times its size. The client
// decompresses a whole fetch when it arrives and keeps its records until
// every one is polled — PollRecords with a limit leaves the rest buffered
// — and fetches from that broker again only then: at most one fetch per
// broker is buffered.
//
// Bound is the client's HookFetchBatchRead. From every batch read it
// learns the memory a fetched byte becomes (decompressed bytes plus
// records' overhead, over bytes fetched): the first batch's ratio replaces
// InitialFetchRatio, a higher one is taken at once and a lower one moves
// the ratio an eighth of the way to it. It sets the limits
// so that one fetch from each broker seen holds at most the budget's share
// (budget / brokers): FetchMaxBytes is that share over the ratio (between
// MinFetchBytes and MaxFetchBytes), FetchMaxPartitionBytes the same, at
// most MaxFetchPartitionBytes. Before the first batch the ratio is
// InitialFetchRatio and one broker is assumed. A fetch already asked for
// when records start compressing better than the ratio held can pass the
// budget by that much, once.
//
// A broker answers with at least one whole batch per partition however
// small the limits, so the buffer can pass the budget by one producer
// batch (decompressed) per partition when a batch is larger than its
// share: producers' batches are at most 1 MB by default.
type Bound struct {
	budget int64
	cl     atomic.Pointer[kgo.Client]

	mu       sync.Mutex
	ratio    float64
	measured bool // a batch was read: ratio is no longer InitialFetchRatio
	brokers  map[int32]struct{}
	max      int32 // FetchMaxBytes set
	part     int32 // FetchMaxPartitionBytes set
}

// New returns a bound of budget bytes (at least MinFetchBytes).
func New(budget int64) *Bound {
	f := &Bound{budget: max(budget, MinFetchBytes), ratio: InitialFetchRatio, brokers: map[int32]struct{}{}}
	f.max, f.part = f.limits()
	return f
}

// Options are the client options that apply the bound: the initial fetch
// limits and the hook. Attach the client made with them.
func (f *Bound) Options() []kgo.Opt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []kgo.Opt{kgo.FetchMaxBytes(f.max), kgo.FetchMaxPartitionBytes(f.part), kgo.WithHooks(f)}
}

// Attach gives the bound the client its Options configured, whose limits
// it updates from then on (and at once, when batches were read before).
func (f *Bound) Attach(cl *kgo.Client) {
	f.cl.Store(cl)
	f.mu.Lock()
	defer f.mu.Unlock()
	cl.UpdateFetchMaxBytes(f.max, f.part)
}

// Limits returns the FetchMaxBytes and FetchMaxPartitionBytes in effect.
func (f *Bound) Limits() (maxBytes, partitionBytes int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.max, f.part
}

// Ratio returns the memory a fetched byte is taken to become.
func (f *Bound) Ratio() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ratio
}

// OnFetchBatchRead implements kgo.HookFetchBatchRead.
func (f *Bound) OnFetchBatchRead(meta kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	if m.CompressedBytes <= 0 {
		return
	}
	seen := float64(m.UncompressedBytes+m.NumRecords*recordOverhead) / float64(m.CompressedBytes)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.brokers[meta.NodeID] = struct{}{}
	if !f.measured || seen > f.ratio {
		f.ratio, f.measured = seen, true
	} else {
		f.ratio += (seen - f.ratio) / 8
	}
	f.ratio = max(f.ratio, 1)
	maxBytes, part := f.limits()
	if maxBytes != f.max {
		f.max, f.part = maxBytes, part
		if cl := f.cl.Load(); cl != nil {
			cl.UpdateFetchMaxBytes(f.max, f.part)
		}
	}
}

// limits computes the fetch limits from the ratio and brokers; f.mu held.
func (f *Bound) limits() (maxBytes, partitionBytes int32) {
	share := f.budget / int64(max(1, len(f.brokers)))
	n := int64(float64(share) / f.ratio)
	n = min(max(n, MinFetchBytes), MaxFetchBytes)
	return int32(n), int32(min(n, MaxFetchPartitionBytes))
}

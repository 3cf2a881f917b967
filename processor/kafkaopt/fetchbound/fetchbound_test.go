package fetchbound

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The limits follow the ratio seen and the brokers read: the budget's
// share per broker over the memory a fetched byte becomes, within
// MinFetchBytes..MaxFetchBytes, the partition's limit at most 1 MiB. The
// ratio rises to a batch's at once and falls an eighth of the way.
func TestBoundLimits(t *testing.T) {
	batch := func(node int32, uncompressed, compressed, records int) func(*Bound) {
		return func(b *Bound) {
			b.OnFetchBatchRead(kgo.BrokerMetadata{NodeID: node}, "t", 0,
				kgo.FetchBatchMetrics{UncompressedBytes: uncompressed, CompressedBytes: compressed, NumRecords: records})
		}
	}
	// 1000 records of 1000 bytes compressed tenfold.
	tenfold := float64(1000*1000+1000*recordOverhead) / 100_000
	for _, tc := range []struct {
		name      string
		budget    int64
		batches   []func(*Bound)
		ratio     float64
		max, part int32
	}{
		{"before any batch", 8 << 20, nil, InitialFetchRatio, 256 << 10, 256 << 10},
		{"a small budget", 256 << 10, nil, InitialFetchRatio, 8 << 10, 8 << 10},
		{"the floor", 1024, nil, InitialFetchRatio, MinFetchBytes, MinFetchBytes},
		{"a budget below the floor", 10, nil, InitialFetchRatio, MinFetchBytes, MinFetchBytes},
		{"the ceiling", 4 << 30, []func(*Bound){batch(1, 1000, 1000, 0)}, 1, MaxFetchBytes, MaxFetchPartitionBytes},
		{"compressed tenfold", 8 << 20, []func(*Bound){batch(1, 1000*1000, 100_000, 1000)}, tenfold,
			int32(float64(8<<20) / tenfold), int32(float64(8<<20) / tenfold)},
		{"uncompressed", 8 << 20, []func(*Bound){batch(1, 1000*1000, 1000*1000, 1000)}, tenfold / 10, int32(float64(8<<20) / (tenfold / 10)), MaxFetchPartitionBytes},
		{"two brokers share the budget", 8 << 20, []func(*Bound){batch(1, 1000*1000, 100_000, 1000), batch(2, 1000*1000, 100_000, 1000)}, tenfold,
			int32(float64(4<<20) / tenfold), int32(float64(4<<20) / tenfold)},
		{"falls an eighth of the way", 8 << 20, []func(*Bound){batch(1, 1000*1000, 100_000, 1000), batch(1, 1000*1000, 1000*1000, 1000)},
			tenfold + (tenfold/10-tenfold)/8, int32(float64(8<<20) / (tenfold + (tenfold/10-tenfold)/8)), 0},
		{"no compressed bytes: ignored", 8 << 20, []func(*Bound){batch(1, 1000, 0, 1)}, InitialFetchRatio, 256 << 10, 256 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.budget)
			for _, f := range tc.batches {
				f(b)
			}
			maxBytes, part := b.Limits()
			want := tc.part
			if want == 0 {
				want = min(tc.max, MaxFetchPartitionBytes)
			}
			if r := b.Ratio(); r < tc.ratio-1e-9 || r > tc.ratio+1e-9 {
				t.Errorf("ratio %.4f, want %.4f", r, tc.ratio)
			}
			if maxBytes != tc.max || part != want {
				t.Errorf("limits %d, %d; want %d, %d", maxBytes, part, tc.max, want)
			}
		})
	}
}

// buffered counts what a client holds of its fetches: records buffered
// and not yet polled, their key and value bytes and the client's overhead
// per record, and the most held at once.
type buffered struct{ now, peak atomic.Int64 }

func recordMemory(r *kgo.Record) int64 { return int64(len(r.Key) + len(r.Value) + recordOverhead) }

func (b *buffered) OnFetchRecordBuffered(r *kgo.Record) {
	v := b.now.Add(recordMemory(r))
	for p := b.peak.Load(); v > p && !b.peak.CompareAndSwap(p, v); p = b.peak.Load() {
	}
}

func (b *buffered) OnFetchRecordUnbuffered(r *kgo.Record, _ bool) { b.now.Add(-recordMemory(r)) }

// A backlog of very compressible records, produced in large snappy
// batches and consumed a few records per poll (the rest of a fetch stays
// buffered): with franz-go's limits the client holds several MiB
// decompressed; with a Bound the records it holds stay within the budget
// plus one producer batch (the batch a broker always sends), and every
// record is read.
func TestBoundHoldsTheBufferWithinTheBudget(t *testing.T) {
	t.Parallel()
	const (
		records   = 20_000
		valueSize = 1000
		batchMax  = 256 << 10 // the producer's batches, uncompressed
		budget    = 512 << 10
	)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "backlog"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	pr, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...), kgo.ProducerBatchMaxBytes(batchMax),
		kgo.ProducerBatchCompression(kgo.SnappyCompression()), kgo.ProducerLinger(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("order paid, leave at the door; "), valueSize/31+1)[:valueSize]
	recs := make([]*kgo.Record, records)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "backlog", Key: []byte(fmt.Sprintf("%06d", i)), Value: value}
	}
	if err := pr.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pr.Close()

	consume := func(t *testing.T, bound *Bound) (peak int64) {
		var held buffered
		opts := []kgo.Opt{kgo.SeedBrokers(kafka.ListenAddrs()...), kgo.ConsumeTopics("backlog"), kgo.WithHooks(&held)}
		if bound != nil {
			opts = append(opts, bound.Options()...)
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if bound != nil {
			bound.Attach(cl)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for n := 0; n < records; {
			fs := cl.PollRecords(ctx, 50)
			if err := ctx.Err(); err != nil {
				t.Fatalf("%d of %d records read: %v", n, records, err)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
			n += fs.NumRecords()
		}
		return held.peak.Load()
	}
	unbounded := consume(t, nil)
	bound := New(budget)
	peak := consume(t, bound)
	// A producer batch decompressed, with the client's records.
	batch := int64(batchMax + batchMax/valueSize*recordOverhead)
	t.Logf("held at most %d KiB with franz-go's limits, %d KiB with a bound of %d KiB (ratio %.1f, limits %v)",
		unbounded>>10, peak>>10, budget>>10, bound.Ratio(), fmt.Sprint(bound.Limits()))
	if peak > budget+batch {
		t.Errorf("a bound of %d bytes: the client held %d bytes of records, want at most the budget and one batch (%d)", budget, peak, budget+batch)
	}
	if unbounded < 4*(budget+batch) {
		t.Errorf("franz-go's limits: the client held %d bytes at most; the backlog does not test the bound", unbounded)
	}
	if r := bound.Ratio(); r < 4 {
		t.Errorf("ratio %.1f: snappy compresses these records more than fourfold", r)
	}
}

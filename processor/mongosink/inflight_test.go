package mongosink

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// watched writes through inner and notes, at every bulk write, the bytes
// the pipeline holds in flight and the models written.
type watched struct {
	inner Collection
	p     **Pipeline

	mu      sync.Mutex
	held    []int64
	batches []int
}

func (w *watched) BulkWrite(ctx context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	w.mu.Lock()
	w.held = append(w.held, (*w.p).Stats().InflightBytes)
	w.batches = append(w.batches, len(models))
	w.mu.Unlock()
	return w.inner.BulkWrite(ctx, models, opts...)
}

// Many records into a target that takes its time (lungo, written
// through): the bytes the pipeline holds never pass max_inflight_bytes —
// not at any bulk write, not at their peak — while the bound is
// approached, and every record is written. Under tolerance all, dead
// letters' headers count too and the bound still holds.
func TestMaxInflightBytes(t *testing.T) {
	t.Parallel()
	pad := strings.Repeat("x", 1000)
	for _, tt := range []struct {
		name      string
		bound     int64
		poison    int // records every this many are undecodable (0: none)
		tolerance Tolerance
	}{
		{"8 KiB", 8 << 10, 0, ToleranceNone},
		{"64 KiB", 64 << 10, 0, ToleranceNone},
		{"32 KiB with dead letters", 32 << 10, 7, ToleranceAll},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "orders", "dlq")
			const n = 300
			recs := make([]*kgo.Record, n)
			dead := 0
			for i := range recs {
				v := []byte(fmt.Sprintf(`{"_id": %d, "pad": %q}`, i, pad))
				if tt.poison > 0 && i%tt.poison == 0 {
					v = append(e.order(t, int64(i), pad, 1)[:5], 0xff) // a frame that does not decode
					dead++
				}
				recs[i] = &kgo.Record{Topic: "orders", Value: v}
			}
			e.produce(t, recs...)
			var p *Pipeline
			w := &watched{inner: e.target("shop", "orders"), p: &p}
			cfg := e.config(t)
			cfg.Target = func(string, string) Collection { return w }
			cfg.MaxBatch, cfg.FixedBatch, cfg.MaxInflightBytes = 1000, true, tt.bound
			cfg.Tolerance, cfg.DeadLetterTopic = tt.tolerance, "dlq"
			if tt.tolerance != ToleranceAll {
				cfg.DeadLetterTopic = ""
			}
			var err error
			if p, err = New(cfg); err != nil {
				t.Fatal(err)
			}
			stop := testenv.Start(p.Run)
			testenv.WaitFor(t, "every record", func() bool { s := p.Stats(); return s.Written+s.DeadLetter == n })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			s := p.Stats()
			if s.DeadLetter != int64(dead) {
				t.Errorf("dead letters %d, want %d", s.DeadLetter, dead)
			}
			if s.PeakInflightBytes > tt.bound || s.PeakInflightBytes < tt.bound/2 {
				t.Errorf("peak in flight %d bytes, want at most the bound %d and at least half of it", s.PeakInflightBytes, tt.bound)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			for i, h := range w.held {
				if h > tt.bound || h <= 0 {
					t.Errorf("bulk write %d (%d models): %d bytes in flight, want 1..%d", i, w.batches[i], h, tt.bound)
				}
			}
			// About 1 KiB a record: no batch holds more records than fit.
			for i, b := range w.batches {
				if int64(b)*1000 > tt.bound {
					t.Errorf("bulk write %d holds %d records of 1 KiB under a bound of %d bytes", i, b, tt.bound)
				}
			}
			if got := e.count(t, "orders"); got != n-dead {
				t.Errorf("%d documents written, want %d", got, n-dead)
			}
		})
	}
}

// A record larger than the bound is a batch alone: it is written, not
// stuck, and the records around it are written in batches of their own.
func TestMaxInflightBytesLargeRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders")
	big := strings.Repeat("y", 20<<10)
	var recs []*kgo.Record
	for i := range 30 {
		pad := "small"
		if i == 15 {
			pad = big
		}
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: 0, Value: []byte(fmt.Sprintf(`{"_id": %d, "pad": %q}`, i, pad))})
	}
	e.produce(t, recs...)
	var p *Pipeline
	w := &watched{inner: e.target("shop", "orders"), p: &p}
	cfg := e.config(t)
	cfg.Target = func(string, string) Collection { return w }
	cfg.MaxInflightBytes = 4 << 10
	var err error
	if p, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	stop := testenv.Start(p.Run)
	testenv.WaitFor(t, "every record", func() bool { return p.Stats().Written == 30 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	alone := false
	for i, h := range w.held {
		if h > 4<<10 {
			alone = alone || (w.batches[i] == 1 && h >= 20<<10)
			if w.batches[i] != 1 {
				t.Errorf("bulk write %d: %d records and %d bytes in flight over a 4 KiB bound", i, w.batches[i], h)
			}
		}
	}
	if !alone {
		t.Errorf("the 20 KiB record was not written alone: in flight %v, batches %v", w.held, w.batches)
	}
	if got := e.count(t, "orders"); got != 30 {
		t.Errorf("%d documents, want 30", got)
	}
}

// The batch size adapts to how long writes take: it starts at
// InitialAdaptiveBatch, grows by half after each full batch written in
// under a quarter of BatchLatency up to MaxBatch, and halves after a
// batch that took longer, down to MinAdaptiveBatch.
func TestAdaptiveBatchSize(t *testing.T) {
	t.Parallel()
	latency := 100 * time.Millisecond
	type step struct {
		records int
		took    time.Duration
		want    int
	}
	for _, tt := range []struct {
		name     string
		maxBatch int
		steps    []step
	}{
		{"grows when fast and full", 1000, []step{{100, time.Millisecond, 150}, {150, time.Millisecond, 225}, {225, 0, 337}, {337, 0, 505}, {505, 0, 757}, {757, 0, 1000}, {1000, 0, 1000}}},
		{"stays when fast but not full", 1000, []step{{40, time.Millisecond, 100}, {99, 0, 100}}},
		{"stays between a quarter of the bound and the bound", 1000, []step{{100, 50 * time.Millisecond, 100}, {100, latency, 100}}},
		{"halves when slow, to the floor", 1000, []step{{100, 2 * latency, 50}, {50, time.Second, 25}, {25, time.Second, 12}, {12, time.Second, 10}, {10, time.Second, 10}}},
		{"recovers after a slow batch", 1000, []step{{100, time.Second, 50}, {50, time.Millisecond, 75}}},
		{"a small MaxBatch is the start and the ceiling", 20, []step{{20, 0, 20}, {20, time.Second, 10}, {10, time.Second, 10}, {10, 0, 15}, {15, 0, 20}}},
		{"MaxBatch below the floor", 4, []step{{4, time.Second, 4}, {4, 0, 4}}},
	} {
		p := &Pipeline{cfg: Config{MaxBatch: tt.maxBatch, BatchLatency: latency}}
		for i, s := range tt.steps {
			limit := p.batchLimit()
			p.adapt(s.records, limit, s.took)
			if got := p.batchLimit(); got != s.want || p.Stats().BatchSize != s.want {
				t.Errorf("%s: step %d (%d of %d records in %s): next size %d (stats %d), want %d", tt.name, i, s.records, limit, s.took, got, p.Stats().BatchSize, s.want)
			}
		}
	}
	fixed := &Pipeline{cfg: Config{MaxBatch: 500, BatchLatency: latency, FixedBatch: true}}
	fixed.adapt(500, 500, time.Hour)
	if got := fixed.batchLimit(); got != 500 {
		t.Errorf("fixed batch: size %d after a slow write, want 500", got)
	}
}

// End to end: writes that always take longer than the (tiny) latency bound
// shrink the batches to the floor, and a target that answers at once lets
// them grow to MaxBatch.
func TestAdaptiveBatchEndToEnd(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		latency time.Duration
		target  func(e *env) Collection
		records int // enough to reach the size wanted: 100+50+25+12, or 100+150+225+337, and more
		want    int
	}{
		{"slow target", time.Nanosecond, func(e *env) Collection { return e.target("shop", "orders") }, 300, MinAdaptiveBatch},
		{"fast target", time.Hour, func(*env) Collection { return discard{} }, 1500, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "orders")
			recs := make([]*kgo.Record, tt.records)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: "orders", Value: []byte(fmt.Sprintf(`{"_id": %d}`, i))}
			}
			e.produce(t, recs...)
			cfg := e.config(t)
			target := tt.target(e)
			cfg.Target = func(string, string) Collection { return target }
			cfg.MaxBatch, cfg.BatchLatency, cfg.MaxWait = 400, tt.latency, time.Second
			p, stop := start(t, cfg)
			testenv.WaitFor(t, "the batch size", func() bool { return p.Stats().BatchSize == tt.want })
			testenv.WaitFor(t, "every record", func() bool { return p.Stats().Written == int64(tt.records) })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// count is the documents of a collection of the env's database.
func (e *env) count(t *testing.T, coll string) int {
	t.Helper()
	n, err := e.mongo.Database(e.db()).Collection(coll).CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

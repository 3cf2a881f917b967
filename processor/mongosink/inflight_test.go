package mongosink

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

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
// through): the bytes a batch holds never pass its half of
// max_inflight_bytes — not at any bulk write, not at their peak — while
// that half is approached, and every record is written. Under tolerance
// all, dead letters' headers count too and the bound still holds.
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
			half := tt.bound / 2
			if s.PeakInflightBytes > half || s.PeakInflightBytes < half/2 {
				t.Errorf("peak in flight %d bytes, want at most the batch's half of the bound (%d) and at least half of that", s.PeakInflightBytes, half)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			for i, h := range w.held {
				if h > half || h <= 0 {
					t.Errorf("bulk write %d (%d models): %d bytes in flight, want 1..%d", i, w.batches[i], h, half)
				}
			}
			// About 1 KiB a record: no batch holds more records than fit.
			for i, b := range w.batches {
				if int64(b)*1000 > half {
					t.Errorf("bulk write %d holds %d records of 1 KiB under a batch budget of %d bytes", i, b, half)
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

// fetchHeld counts what the Kafka client holds of its fetches: records
// buffered and not yet polled, their bytes and the client's Record for
// each, and the most held at once.
type fetchHeld struct{ now, peak atomic.Int64 }

func fetchedMemory(r *kgo.Record) int64 {
	return int64(len(r.Key)+len(r.Value)) + int64(unsafe.Sizeof(kgo.Record{})+unsafe.Sizeof(r))
}

func (h *fetchHeld) OnFetchRecordBuffered(r *kgo.Record) {
	v := h.now.Add(fetchedMemory(r))
	for p := h.peak.Load(); v > p && !h.peak.CompareAndSwap(p, v); p = h.peak.Load() {
	}
}

func (h *fetchHeld) OnFetchRecordUnbuffered(r *kgo.Record, _ bool) { h.now.Add(-fetchedMemory(r)) }

// A backlog of snappy-compressed records (compressing many times over)
// read by a sink: what the Kafka client holds decompressed stays within
// the fetch's half of max_inflight_bytes and one producer batch, and every
// record is written.
func TestMaxInflightBytesFetchBuffer(t *testing.T) {
	t.Parallel()
	const (
		n        = 1500
		bound    = 256 << 10
		batchMax = 64 << 10
	)
	e := newEnv(t, "orders")
	pr, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ProducerBatchMaxBytes(batchMax), kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("leave at the door, ring twice. ", 30)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "orders", Value: []byte(fmt.Sprintf(`{"_id": %d, "note": %q}`, i, pad))}
	}
	if err := pr.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	var held fetchHeld
	cfg := e.config(t)
	cfg.Target = func(string, string) Collection { return discard{} }
	cfg.MaxInflightBytes = bound
	cfg.KafkaOptions = append(cfg.KafkaOptions, kgo.WithHooks(&held))
	p, stop := start(t, cfg)
	testenv.WaitFor(t, "every record", func() bool { return p.Stats().Written == n })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	batch := int64(batchMax) + int64(batchMax/len(pad))*int64(unsafe.Sizeof(kgo.Record{})+8)
	if peak, want := held.peak.Load(), p.fetchBudget()+batch; peak > want {
		t.Errorf("the Kafka client held %d bytes of fetched records, want at most the fetch budget %d and one batch: %d", peak, p.fetchBudget(), want)
	}
	if r := p.fetch.Ratio(); r < 4 {
		t.Errorf("the fetch bound's ratio is %.1f: snappy compresses these records more than fourfold", r)
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

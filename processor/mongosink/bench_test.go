package mongosink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/internal/ferret"
	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/processor/kafkaopt/fetchbound"
	"github.com/schemaflow/schemaflow/processor/sink"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

// The sink benchmarks set the pipeline against a limit measured in the
// same run on the same records, at the same batch size: a raw franz-go
// group consumer reading the topic (polling and committing batches), or
// raw ordered bulk writes of the same decoded documents. Joining the group
// and the first batch are outside the timer on both sides. Each reports
// docs/s, the limit's docs/s, and the pipeline's rate as a percentage of
// the limit ("%limit").

// benchBatch is the batch size of both sides of the sink benchmarks.
const benchBatch = 500

// benchDoc is a 1 KB-ish order.
func benchDoc(id int64) bson.D {
	items := bson.A{}
	for i := range 8 {
		items = append(items, bson.D{{Key: "sku", Value: fmt.Sprintf("SKU-%06d", i)}, {Key: "qty", Value: int64(i + 1)}, {Key: "price", Value: 9.99 * float64(i+1)}})
	}
	return bson.D{{Key: "_id", Value: id}, {Key: "status", Value: "paid"}, {Key: "version", Value: int64(1)},
		{Key: "customer", Value: bson.D{{Key: "name", Value: "Ada Lovelace"}, {Key: "email", Value: "ada@example.com"}, {Key: "city", Value: "London"}}},
		{Key: "items", Value: items}, {Key: "note", Value: "leave at the door, ring twice, the dog is friendly"}}
}

const benchSchema = `{"type": "record", "name": "Order", "fields": [
	{"name": "_id", "type": "long"}, {"name": "status", "type": "string"}, {"name": "version", "type": "long"},
	{"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
		{"name": "name", "type": "string"}, {"name": "email", "type": "string"}, {"name": "city", "type": "string"}]}},
	{"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
		{"name": "sku", "type": "string"}, {"name": "qty", "type": "long"}, {"name": "price", "type": "double"}]}}},
	{"name": "note", "type": "string"}
]}`

// benchTopic produces n Avro-encoded orders to topic and returns their
// frames, in order, with the serde that wrote them.
func benchTopic(b *testing.B, e *env, topic string, n int) ([][]byte, *serde.Serde) {
	b.Helper()
	id, err := e.reg.Register(context.Background(), "bench-value", registry.RegisterRequest{Schema: benchSchema}, false)
	if err != nil {
		b.Fatal(err)
	}
	sd, err := serde.New([]byte(benchSchema), serde.Options{Format: schemas.Avro, ID: uint32(id)})
	if err != nil {
		b.Fatal(err)
	}
	frames := make([][]byte, n)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		raw, _ := bson.Marshal(benchDoc(int64(i)))
		if frames[i], err = sd.Encode(nil, raw); err != nil {
			b.Fatal(err)
		}
		recs[i] = &kgo.Record{Topic: topic, Value: frames[i]}
	}
	for i := 0; i < n; i += 5000 {
		e.produce(b, recs[i:min(i+5000, n)]...)
	}
	return frames, sd
}

// benchRecords is how many records a benchmark run moves: b.N timed, and
// one batch before the timer starts.
func benchRecords(b *testing.B, batch int) int { return b.N + batch }

// runSink runs a pipeline until n records are written and returns the
// records written after its first batch, and the time they took. The
// benchmark timer is reset when the first batch is committed (the group
// joined), and stopped at the end.
func runSink(b *testing.B, cfg Config, n int) (records int, took time.Duration) {
	b.Helper()
	var p *Pipeline
	return runSinkWith(b, cfg, n, &p)
}

// runSinkWith is runSink, leaving the pipeline in *pp.
func runSinkWith(b *testing.B, cfg Config, n int, pp **Pipeline) (records int, took time.Duration) {
	b.Helper()
	batches := make(chan int, 1<<16)
	cfg.OnBatch = func(records int, _ time.Duration) { batches <- records }
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	*pp = p
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	written, first := 0, 0
	var start time.Time
	for written < n {
		select {
		case k := <-batches:
			written += k
			if first == 0 {
				first, start = written, time.Now()
				b.ResetTimer()
			}
		case err := <-done:
			b.Fatalf("pipeline stopped after %d of %d records: %v", written, n, err)
		}
	}
	took = time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return written - first, took
}

// rawConsume reads n records of topic as a consumer group member, in polls
// of at most batch records each committed as the pipeline commits, and
// returns the records read after the first poll and the time they took.
// With fetch, its client's fetch buffer is bounded as the pipeline's is
// (the same fetchbound budget), so both sides read with the same memory:
// franz-go's defaults would let the limit buffer 50 MB per fetch while
// the pipeline holds half its max_inflight_bytes.
func rawConsume(b *testing.B, e *env, topic, group string, n, batch int, fetch *fetchbound.Bound) (records int, took time.Duration) {
	b.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(e.brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted())}
	if fetch != nil {
		opts = append(opts, fetch.Options()...)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if fetch != nil {
		fetch.Attach(cl)
	}
	ctx := context.Background()
	read, first := 0, 0
	var start time.Time
	for read < n {
		recs := cl.PollRecords(ctx, batch).Records()
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			b.Fatal(err)
		}
		cl.AllowRebalance()
		read += len(recs)
		if first == 0 && read > 0 {
			first, start = read, time.Now()
		}
	}
	return read - first, time.Since(start)
}

// rawBulk writes the decoded documents of frames as ordered bulk writes of
// batch models each (the pipeline's write strategy: replace upserts by
// _id, or inserts) and returns the documents written after the first
// batch and the time they took.
func rawBulk(b *testing.B, coll Collection, sd *serde.Serde, frames [][]byte, batch int, write sink.WriteStrategy) (records int, took time.Duration) {
	b.Helper()
	models := make([]mongo.WriteModel, len(frames))
	for i, f := range frames {
		doc, _, err := sd.Decode(f)
		if err != nil {
			b.Fatal(err)
		}
		if write == sink.WriteInsert {
			models[i] = mongo.NewInsertOneModel().SetDocument(doc)
			continue
		}
		models[i] = mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: doc.Lookup("_id")}}).SetReplacement(doc).SetUpsert(true)
	}
	var start time.Time
	first := 0
	for i := 0; i < len(models); i += batch {
		if i == batch {
			first, start = i, time.Now()
		}
		if _, err := coll.BulkWrite(context.Background(), models[i:min(i+batch, len(models))], options.BulkWrite().SetOrdered(true)); err != nil {
			b.Fatal(err)
		}
	}
	if first == 0 {
		return 0, 0
	}
	return len(models) - first, time.Since(start)
}

// report reports the pipeline's docs/s, the limit's, and their ratio.
func report(b *testing.B, n int, took time.Duration, limitN int, limitTook time.Duration) {
	b.Helper()
	if took <= 0 || limitTook <= 0 || n == 0 || limitN == 0 {
		return // too few records for a timed part
	}
	rate, limit := float64(n)/took.Seconds(), float64(limitN)/limitTook.Seconds()
	b.ReportMetric(rate, "docs/s")
	b.ReportMetric(limit, "limit-docs/s")
	b.ReportMetric(100*rate/limit, "%limit")
}

// BenchmarkSinkDiscard is sink (a): the pipeline consuming, decoding and
// making write models for a target that discards them, against a raw
// franz-go consumer group member reading the same topic, at the same batch
// size and with the same fetch-buffer bound. It also reports
// the process's CPU time per record on each side ("cpu-ns/doc",
// "limit-cpu-ns/doc", broker and registry included, group joins too):
// on a machine shared with other work the rates swing with the load, the
// CPU each side spends per record much less.
func BenchmarkSinkDiscard(b *testing.B) {
	e := newKafkaRegistry(b, "orders")
	e.target = func(string, string) Collection { return discard{} }
	b.ReportAllocs()
	n := benchRecords(b, benchBatch)
	benchTopic(b, e, "orders", n)
	b.StopTimer()
	cfg := e.config(b)
	cfg.MaxBatch, cfg.FixedBatch = benchBatch, true
	if cfg.MaxInflightBytes == 0 {
		cfg.MaxInflightBytes = config.DefaultMaxInflightBytes
	}
	cpu0 := cpuTime()
	limitN, limitTook := rawConsume(b, e, "orders", "raw", n, benchBatch, fetchbound.New(cfg.MaxInflightBytes-cfg.MaxInflightBytes/2))
	cpu1 := cpuTime()
	b.StartTimer()
	got, took := runSink(b, cfg, n)
	cpu2 := cpuTime()
	report(b, got, took, limitN, limitTook)
	if cpu2 > 0 {
		b.ReportMetric(float64((cpu2-cpu1).Nanoseconds())/float64(n), "cpu-ns/doc")
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(n), "limit-cpu-ns/doc")
	}
}

// benchTarget is sink (b): the pipeline writing to a database against raw
// ordered bulk writes of the same decoded documents, at batch size batch,
// with the write strategy given (replace upserts or inserts).
//
// The limit writes to an engine of its own, fresh as the pipeline's:
// lungo's writes cost more as its store (and oplog) grows, so sharing one
// would favour whichever runs first.
func benchTarget(b *testing.B, e *env, limit Collection, batch int, write sink.WriteStrategy) {
	b.ReportAllocs()
	n := benchRecords(b, batch)
	frames, sd := benchTopic(b, e, "orders", n)
	b.StopTimer()
	limitN, limitTook := rawBulk(b, limit, sd, frames, batch, write)
	cfg := e.config(b)
	cfg.MaxBatch, cfg.FixedBatch, cfg.Sink.Write, cfg.Sink.ID = batch, true, write, sink.IDValue
	b.StartTimer()
	got, took := runSink(b, cfg, n)
	report(b, got, took, limitN, limitTook)
}

func BenchmarkSinkLungo(b *testing.B) {
	for _, w := range []sink.WriteStrategy{sink.WriteReplace, sink.WriteInsert} {
		b.Run(string(w), func(b *testing.B) {
			benchTarget(b, newEnv(b, "orders"), testenv.Lungo(b).Database("raw").Collection("orders"), benchBatch, w)
		})
	}
}

func BenchmarkSinkFerretDB(b *testing.B) {
	for _, w := range []sink.WriteStrategy{sink.WriteReplace, sink.WriteInsert} {
		b.Run(string(w), func(b *testing.B) {
			benchTarget(b, newFerretEnv(b, "orders"), ferret.Client(b).Database("raw").Collection("orders"), benchBatch, w)
		})
	}
}

// discard accepts every write: what the pipeline costs without a database.
type discard struct{}

func (discard) BulkWrite(context.Context, []mongo.WriteModel, ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	return &mongo.BulkWriteResult{}, nil
}

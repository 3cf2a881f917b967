package mongosource

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

// events is a change stream over pre-built insert events, so the benchmark
// measures the source (encoding, producing, saving tokens), not an engine.
type events struct {
	list  [][]byte
	i     int
	start chan struct{} // closed when the events may flow; nil: at once
}

func (s *events) Next(ctx context.Context) bool {
	if s.start != nil {
		select {
		case <-s.start:
		case <-ctx.Done():
			return false
		}
	}
	if s.i < len(s.list) {
		s.i++
		return true
	}
	<-ctx.Done()
	return false
}
func (s *events) TryNext(context.Context) bool {
	if s.start != nil {
		select {
		case <-s.start:
		default:
			return false
		}
	}
	if s.i < len(s.list) {
		s.i++
		return true
	}
	return false
}
func (s *events) Decode(out any) error { *out.(*bson.Raw) = s.list[s.i-1]; return nil }
func (s *events) ResumeToken() bson.Raw {
	b, _ := bson.Marshal(bson.D{{Key: "_data", Value: s.i}})
	return b
}
func (s *events) Err() error                  { return nil }
func (s *events) Close(context.Context) error { return nil }

// benchDoc is a 1 KB order (about 1,010 bytes of BSON).
func benchDoc(id int) bson.D {
	items := bson.A{}
	for i := range 14 {
		items = append(items, bson.D{{Key: "sku", Value: fmt.Sprintf("SKU-%06d", i)}, {Key: "qty", Value: int64(i + 1)}, {Key: "price", Value: 9.99 * float64(i+1)}})
	}
	return bson.D{{Key: "_id", Value: int64(id)}, {Key: "status", Value: "paid"},
		{Key: "customer", Value: bson.D{{Key: "name", Value: "Ada Lovelace"}, {Key: "email", Value: "ada@example.com"}, {Key: "city", Value: "London"}}},
		{Key: "items", Value: items}, {Key: "note", Value: "leave at the door, ring twice, the dog is friendly"}, {Key: "channel", Value: "web-checkout-v2"}}
}

func BenchmarkSourceEndToEnd(b *testing.B) {
	e := newEnvB(b)
	list := make([][]byte, b.N)
	for i := range list {
		ev, err := bson.Marshal(bson.D{{Key: "_id", Value: bson.D{{Key: "_data", Value: i}}}, {Key: "operationType", Value: "insert"},
			{Key: "ns", Value: bson.D{{Key: "db", Value: "shop"}, {Key: "coll", Value: "orders"}}},
			{Key: "documentKey", Value: bson.D{{Key: "_id", Value: int64(i)}}}, {Key: "fullDocument", Value: benchDoc(i)}})
		if err != nil {
			b.Fatal(err)
		}
		list[i] = ev
	}
	// The events flow once the stream is open, so the timer measures the
	// stream, not the start (reading saved tokens, connecting).
	start := make(chan struct{})
	s, err := New(Config{
		Name: "bench",
		Watch: func(context.Context, any, *options.ChangeStreamOptions) (ChangeStream, error) {
			return &events{list: list, start: start}, nil
		},
		Brokers: e.brokers, Topics: TopicNames{Topic: "orders"}, OffsetsTopic: "offsets",
		Registry: e.reg, Logger: e.quiet,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for !s.Watching() {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	close(start)
	for s.Stats().Events < int64(b.N) {
		time.Sleep(200 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkProduceLimit is the ceiling: kfake accepting, from franz-go
// alone and in the source's batch size, the records the source makes of
// the same 1 KB documents (their keys and Avro values, encoded up front).
func BenchmarkProduceLimit(b *testing.B) {
	e := newEnvB(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	recs := encodedRecords(b, b.N)
	// Connected and warm, as the source is when its timer starts.
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "orders", Value: recs[0].Value}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < len(recs); i += 500 {
		if err := cl.ProduceSync(context.Background(), recs[i:min(i+500, len(recs))]...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkCopyVsLimit copies a collection of 1 KB orders on lungo and
// kfake, and measures in the same run the two limits of a copy: a raw
// find of the whole collection (decoding each document), and producing
// the same encoded records to kfake. copy/limit is the copy's rate over
// the slower of the two.
func BenchmarkCopyVsLimit(b *testing.B) {
	for _, p := range []int{1, 4} {
		b.Run(fmt.Sprintf("parallelism=%d", p), func(b *testing.B) { benchCopy(b, p) })
	}
}

func benchCopy(b *testing.B, parallelism int) {
	const docs = 3000
	e := newEnvB(b)
	for i := 0; i < docs; i += 500 {
		batch := make([]any, 0, 500)
		for j := i; j < min(i+500, docs); j++ {
			batch = append(batch, benchDoc(j))
		}
		if _, err := e.src.InsertMany(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	recs := encodedRecords(b, docs)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "orders", Value: recs[0].Value}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var find, produce, copying time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		cur, err := e.src.Find(context.Background(), bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for cur.Next(context.Background()) {
			var doc bson.Raw
			if err := cur.Decode(&doc); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != docs {
			b.Fatalf("find read %d documents, want %d", n, docs)
		}
		find += time.Since(start)

		start = time.Now()
		for j := 0; j < len(recs); j += 500 {
			if err := cl.ProduceSync(context.Background(), recs[j:min(j+500, len(recs))]...).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
		produce += time.Since(start)

		s, err := New(e.sourceConfig(e.positioned, func(c *Config) {
			c.Name = fmt.Sprintf("bench-%d", i)
			c.OffsetsTopic, c.OffsetsFile = "", fmt.Sprintf("%s/%d", dir, i)
			c.Envelope, c.MaxBatch = false, 500
			c.CopyExisting = e.copyOf("orders", parallelism)
		}))
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		for cs := s.CopyStats(); len(cs) == 0 || !cs[0].Done || s.Stats().Copied < docs; cs = s.CopyStats() {
			time.Sleep(200 * time.Microsecond)
		}
		copying += time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	total := float64(docs * b.N)
	rate := func(d time.Duration) float64 { return total / d.Seconds() }
	b.ReportMetric(rate(copying), "copy_docs/s")
	b.ReportMetric(rate(find), "find_docs/s")
	b.ReportMetric(rate(produce), "produce_records/s")
	b.ReportMetric(100*rate(copying)/min(rate(find), rate(produce)), "copy/limit_%")
}

// encodedRecords are the keys and Avro values of benchDoc 0 to n-1, for
// topic orders.
func encodedRecords(b *testing.B, n int) []*kgo.Record {
	encoder := func(doc bson.Raw, key bool) *serde.Serde {
		in := infer.New()
		if err := in.Add(doc); err != nil {
			b.Fatal(err)
		}
		text, err := in.Avro(infer.Options{Name: "Order"})
		if key {
			text, err = in.AvroKey(infer.Options{Name: "Order"})
		}
		if err != nil {
			b.Fatal(err)
		}
		s, err := serde.New(text, serde.Options{Format: schemas.Avro, ID: 1})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	first, _ := bson.Marshal(benchDoc(0))
	values := encoder(first, false)
	keys := encoder(first, true)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		doc, _ := bson.Marshal(benchDoc(i))
		key, _ := bson.Marshal(bson.D{{Key: "_id", Value: int64(i)}})
		k, err := keys.Encode(nil, key)
		if err != nil {
			b.Fatal(err)
		}
		v, err := values.Encode(nil, doc)
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = &kgo.Record{Topic: "orders", Key: k, Value: v}
	}
	return recs
}

// BenchmarkChangeStreamVsLimit is the source end to end through a real
// change stream: 1 KB orders written to lungo's memory store, streamed by
// the source from the first write's operation time (StartAt), encoded
// and produced to kfake until every record is acknowledged and its token
// saved. The limit, measured in the same run, is lungo's raw change
// stream reading the same writes (Next and Decode to bson.Raw). The
// writes are made before either read, so neither measures them.
// source/limit is the source's rate over the raw read's.
func BenchmarkChangeStreamVsLimit(b *testing.B) {
	const docs = 2000
	e := newKafkaRegistry(b)
	// lungo's memory store, with an oplog that holds every write of an
	// iteration (its default keeps 1,000 entries).
	client, engine, err := lungo.Open(context.Background(), lungo.Options{Store: lungo.NewMemoryStore(), MinOplogSize: 2 * docs, MaxOplogSize: 4 * docs})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(engine.Close)
	e.srcDB, e.src = client, client.Database("shop").Collection("orders")
	ctx := context.Background()
	// lungo starts a stream at an operation time only after an earlier
	// entry: one write before the measured ones.
	if _, err := e.src.InsertOne(ctx, bson.D{{Key: "_id", Value: int64(-1)}}); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var raw, source time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		// A stream opened before the writes; it starts at the oplog's end.
		stream, err := e.src.Watch(ctx, []bson.D{})
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < docs; j += 500 {
			batch := make([]any, 0, 500)
			for k := j; k < min(j+500, docs); k++ {
				batch = append(batch, benchDoc(i*docs+k))
			}
			if _, err := e.src.InsertMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()

		start := time.Now()
		var first primitive.Timestamp
		for n := 0; n < docs; n++ {
			if !stream.Next(ctx) {
				b.Fatalf("raw stream ended after %d events: %v", n, stream.Err())
			}
			var ev bson.Raw
			if err := stream.Decode(&ev); err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				first.T, first.I = ev.Lookup("clusterTime").Timestamp()
			}
		}
		raw += time.Since(start)
		if err := stream.Close(ctx); err != nil {
			b.Fatal(err)
		}

		s, err := New(e.sourceConfig(func(c *Config) {
			c.Name = fmt.Sprintf("bench-stream-%d", i)
			c.OffsetsTopic, c.OffsetsFile = "", fmt.Sprintf("%s/%d", dir, i)
			c.Envelope, c.MaxBatch, c.StartAt = false, 500, &first
		}))
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(runCtx) }()
		for s.Stats().Events < docs {
			select {
			case err := <-done:
				b.Fatalf("the source stopped after %d events: %v", s.Stats().Events, err)
			case <-time.After(200 * time.Microsecond):
			}
		}
		source += time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if n := s.Stats().Events; n != docs {
			b.Fatalf("the source published %d events, want %d", n, docs)
		}
	}
	b.StopTimer()
	total := float64(docs * b.N)
	rate := func(d time.Duration) float64 { return total / d.Seconds() }
	b.ReportMetric(rate(source), "source_docs/s")
	b.ReportMetric(rate(raw), "stream_read_docs/s")
	b.ReportMetric(100*rate(source)/rate(raw), "source/limit_%")
}

package mongosource

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/internal/mongocopy"
	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/processor/mongosink"
)

// copyOf copies shop.COLL (every collection of shop when coll is empty)
// of the env's engine with the given parallelism, and makes the source's
// stream report its position before its first event, as the daemon does
// for lungo.
func (e *env) copyOf(coll string, parallelism int) *Copy {
	db := e.srcDB.Database("shop")
	return &Copy{Database: "shop", Collection: coll, Parallelism: parallelism,
		Collections: func(ctx context.Context) ([]string, error) { return mongocopy.Collections(ctx, db) },
		Find: func(ctx context.Context, c string, filter bson.D) (Cursor, error) {
			return mongocopy.Find(ctx, db.Collection(c), filter)
		},
		Count: func(ctx context.Context, c string) (int64, error) {
			return db.Collection(c).EstimatedDocumentCount(ctx)
		},
		Splits: func(ctx context.Context, c string, n int) ([]bson.RawValue, error) {
			return mongocopy.Splits(ctx, db.Collection(c), n, false)
		},
	}
}

// positioned watches shop.orders through mongocopy.Watch.
func (e *env) positioned(c *Config) {
	c.Watch = func(ctx context.Context, pipeline any, opts *options.ChangeStreamOptions) (ChangeStream, error) {
		return mongocopy.Watch(ctx, e.srcDB, func(ctx context.Context, opts *options.ChangeStreamOptions) (lungo.IChangeStream, error) {
			return e.src.Watch(ctx, pipeline, opts)
		}, opts)
	}
}

// A copy killed at random points, ten times in a row, resumes each time
// with what is left: the topic replays into a collection equal to the
// original, and holds fewer than 1.2 records per document.
func TestCopyKilledResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const docs = 2000
	var batch []any
	for i := range docs {
		// Mixed _id types: the ranges cover every type bracket.
		var id any = i
		switch i % 10 {
		case 7:
			id = fmt.Sprintf("s%05d", i)
		case 9:
			id = primitive.NewObjectID()
		}
		batch = append(batch, bson.D{{Key: "_id", Value: id}, {Key: "n", Value: i}, {Key: "pad", Value: strings.Repeat("x", i%50)}})
	}
	if _, err := e.src.InsertMany(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 15))
	t.Logf("seed %d", seed)
	cfg := func(c *Config) {
		e.positioned(c)
		c.CopyExisting = e.copyOf("orders", 4)
		// Up to 2 batches per reader await their save: a kill copies at
		// most 4×2×4 documents again.
		c.MaxBatch = 4
		c.DrainTimeout = time.Nanosecond // a stop is a kill: nothing in flight is drained
	}
	acked := int64(0)
	for kill := range 10 {
		src, stop := e.source(t, cfg)
		testenv.WaitFor(t, "the copy to start", func() bool { return len(src.CopyStats()) == 1 })
		base := src.CopyStats()[0].Copied
		if base < acked {
			t.Fatalf("kill %d: the copy resumed at %d acknowledged documents, below the %d saved before", kill, base, acked)
		}
		if kill > 0 && base == 0 {
			t.Fatalf("kill %d: the copy started over", kill)
		}
		at := int64(10 + rng.IntN(140))
		testenv.WaitFor(t, "copy progress", func() bool { return src.Stats().Copied >= at || src.CopyStats()[0].Done })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if src.CopyStats()[0].Done {
			t.Fatalf("kill %d: the copy finished before it was killed", kill)
		}
		acked = src.CopyStats()[0].Copied
		t.Logf("kill %d after %d copied in this run: %d acknowledged of %d", kill, src.Stats().Copied, acked, docs)
	}
	src, stop := e.source(t, cfg)
	testenv.WaitFor(t, "the copy to finish and its position saved", func() bool {
		cs := src.CopyStats()
		return len(cs) == 1 && cs[0].Done && src.Stats().Batches > 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	produced := topicRecords(t, e.brokers, "orders")
	t.Logf("%d documents, %d records on the topic (%.3f×)", docs, produced, float64(produced)/docs)
	if produced < docs || produced >= docs*12/10 {
		t.Fatalf("%d records for %d documents: want at least one each and under 1.2×", produced, docs)
	}
	// Large batches: each write to the in-memory engine copies the collection.
	snk, stopSink := e.sink(t, func(c *mongosink.Config) { c.MaxWait = 200 * time.Millisecond })
	sinkStart := time.Now()
	testenv.WaitFor(t, "the sink to read the topic", func() bool { return snk.Stats().Written >= produced })
	t.Logf("the sink wrote %d records in %s", produced, time.Since(sinkStart))
	if err := stopSink(); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, e.dst.Database(e.copyDB()).Collection("orders")), dump(t, e.src); got != want {
		n, _ := e.dst.Database(e.copyDB()).Collection("orders").CountDocuments(context.Background(), bson.D{})
		t.Fatalf("the replica (%d documents) differs from the original:\n%.2000s\nwant\n%.2000s", n, got, want)
	}
	// Restarted after the copy, the source streams: nothing is copied.
	again, stopAgain := e.source(t, cfg)
	testenv.WaitFor(t, "the stream", again.Watching)
	e.insert(t, bson.D{{Key: "_id", Value: -1}})
	testenv.WaitFor(t, "the new insert", func() bool { return again.Stats().Events == 1 })
	if err := stopAgain(); err != nil {
		t.Fatal(err)
	}
	if n := again.Stats().Copied; n != 0 {
		t.Fatalf("%d documents copied after the copy finished", n)
	}
}

// topicRecords counts the records produced to a topic.
func topicRecords(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := endOffsets(context.Background(), cl, topic)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	for _, e := range ends {
		n += e
	}
	return n
}

// Saved offsets: a bare resume token (written by earlier versions, and
// once no copy is in progress) reads as the token; a copy's progress reads
// back as it was written.
func TestOffsetsFormat(t *testing.T) {
	token, _ := bson.Marshal(bson.D{{Key: "_data", Value: "8263F0"}})
	got, err := parseOffsets(token)
	if err != nil || !bytes.Equal(got.token, token) || got.copy != nil {
		t.Fatalf("bare token: %+v, %v", got, err)
	}
	oid := primitive.NewObjectID()
	p := &copyProgress{colls: []*collProgress{
		{name: "orders", planned: true, ranges: []*copyRange{
			{hi: val(t, 100), after: val(t, 42), copied: 43},
			{lo: val(t, 100), hi: val(t, "m"), done: true, copied: 7},
			{lo: val(t, "m"), after: val(t, oid)},
		}},
		{name: "users"},
	}}
	for _, tok := range []bson.Raw{token, nil} {
		b, err := marshalOffsets(tok, p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseOffsets(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.token, tok) {
			t.Fatalf("token %v, want %v", back.token, tok)
		}
		again, err := marshalOffsets(back.token, back.copy)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip:\n%s\n%s", bson.Raw(again), bson.Raw(b))
		}
		if c := back.copy.colls[0]; c.copied() != 50 || c.done() || !back.copy.colls[0].ranges[1].done || back.copy.colls[1].planned {
			t.Fatalf("progress read back wrong: %s", b)
		}
	}
	for _, bad := range []bson.D{
		{{Key: offsetsVersionKey, Value: 3}},
		{{Key: offsetsVersionKey, Value: 2}, {Key: "copy", Value: bson.D{{Key: "collections", Value: bson.A{1}}}}},
		{{Key: offsetsVersionKey, Value: 2}, {Key: "copy", Value: bson.D{{Key: "collections", Value: bson.A{bson.D{}}}}}},
	} {
		b, _ := bson.Marshal(bad)
		if _, err := parseOffsets(b); err == nil || !strings.Contains(err.Error(), "saved offsets") {
			t.Errorf("%s: err %v, want one naming the saved offsets", bson.Raw(b), err)
		}
	}
}

func val(t *testing.T, v any) bson.RawValue {
	t.Helper()
	typ, data, err := bson.MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: typ, Value: data}
}

// Range filters select exactly the _ids of their range, across BSON type
// brackets, on lungo's matcher.
func TestRangeFilter(t *testing.T) {
	t.Parallel()
	coll := testenv.Lungo(t).Database("d").Collection("c")
	oid := primitive.NewObjectID()
	ids := []any{nil, int32(-5), 1, 2.5, int64(3), 10, "a", "m", "z", bson.D{{Key: "k", Value: 1}}, primitive.Binary{Data: []byte{1}},
		oid, false, true, primitive.NewDateTimeFromTime(time.Unix(5, 0)), primitive.Timestamp{T: 1}}
	for _, id := range ids {
		if _, err := coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: id}}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		r    copyRange
		want []int // indexes into ids
	}{
		{"open", copyRange{}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
		{"below 3", copyRange{hi: val(t, 3)}, []int{0, 1, 2, 3}},
		{"from 3", copyRange{lo: val(t, 3)}, []int{4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
		{"numbers", copyRange{lo: val(t, 2), hi: val(t, 10)}, []int{3, 4}},
		{"after", copyRange{lo: val(t, 2), hi: val(t, 10), after: val(t, 2.5)}, []int{4}},
		{"10 to m", copyRange{lo: val(t, 10), hi: val(t, "m")}, []int{5, 6}},
		{"m to oid", copyRange{lo: val(t, "m"), hi: val(t, oid)}, []int{7, 8, 9, 10}},
		{"after oid", copyRange{lo: val(t, "m"), after: val(t, oid)}, []int{12, 13, 14, 15}},
	}
	for _, tt := range tests {
		cur, err := mongocopy.Find(context.Background(), coll, rangeFilter(&tt.r))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var docs []bson.D
		if err := cur.All(context.Background(), &docs); err != nil {
			t.Fatal(err)
		}
		var want []bson.D
		for _, i := range tt.want {
			want = append(want, bson.D{{Key: "_id", Value: ids[i]}})
		}
		gb, _ := bson.MarshalExtJSON(bson.D{{Key: "d", Value: docs}}, true, false)
		wb, _ := bson.MarshalExtJSON(bson.D{{Key: "d", Value: want}}, true, false)
		if string(gb) != string(wb) {
			t.Errorf("%s: filter %v\n got %s\nwant %s", tt.name, rangeFilter(&tt.r), gb, wb)
		}
	}
}

// A database-wide copy copies every collection of the database, each in
// its own ranges, then streams the database.
func TestCopyDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	db := e.srcDB.Database("shop")
	sizes := map[string]int{"orders": 120, "users": 45, "empty": 0}
	for name, n := range sizes {
		if n == 0 {
			exec(t, func(ctx context.Context) error { return db.CreateCollection(ctx, name) })
			continue
		}
		var docs []any
		for i := range n {
			docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "in", Value: name}})
		}
		if _, err := db.Collection(name).InsertMany(context.Background(), docs); err != nil {
			t.Fatal(err)
		}
	}
	src, stop := e.source(t, func(c *Config) {
		c.Watch = func(ctx context.Context, pipeline any, opts *options.ChangeStreamOptions) (ChangeStream, error) {
			return mongocopy.Watch(ctx, e.srcDB, func(ctx context.Context, opts *options.ChangeStreamOptions) (lungo.IChangeStream, error) {
				return db.Watch(ctx, pipeline, opts)
			}, opts)
		}
		c.CopyExisting = e.copyOf("", 3)
	})
	testenv.WaitFor(t, "the copy of every collection", func() bool {
		cs := src.CopyStats()
		return len(cs) == 3 && cs[0].Done && cs[1].Done && cs[2].Done && src.Stats().Batches > 0
	})
	copied := map[string]int64{}
	for _, c := range src.CopyStats() {
		copied[c.Namespace] = c.Copied
	}
	if copied["shop.orders"] != 120 || copied["shop.users"] != 45 || copied["shop.empty"] != 0 {
		t.Fatalf("copied %v, want orders 120, users 45, empty 0", copied)
	}
	if _, err := db.Collection("users").InsertOne(context.Background(), bson.D{{Key: "_id", Value: "new"}}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the streamed insert", func() bool { return src.Stats().Events == 166 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := topicRecords(t, e.brokers, "orders"); n != 166 {
		t.Fatalf("%d records, want 165 copied and 1 streamed", n)
	}
}

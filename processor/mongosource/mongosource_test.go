package mongosource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/internal/graceful"
	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/processor/mongosink"
	"github.com/schemaflow/schemaflow/processor/sink"
	"github.com/schemaflow/schemaflow/processor/subject"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
)

type env struct {
	brokers []string
	reg     *registry.Client
	src     lungo.ICollection
	srcDB   lungo.IClient // the client of src
	dst     lungo.IClient
	quiet   *slog.Logger
	// copyName is the sink's database; default "copy".
	copyName string
}

func (e *env) copyDB() string {
	if e.copyName == "" {
		return "copy"
	}
	return e.copyName
}

func newEnv(t *testing.T) *env { return newEnvB(t) }

func newEnvB(t testing.TB) *env {
	t.Helper()
	e := newKafkaRegistry(t)
	e.srcDB = testenv.Lungo(t)
	e.src, e.dst = e.srcDB.Database("shop").Collection("orders"), testenv.Lungo(t)
	return e
}

// newKafkaRegistry is an env without MongoDB.
func newKafkaRegistry(t testing.TB) *env {
	t.Helper()
	brokers := testenv.Kafka(t, kfake.SeedTopics(3, "orders"), kfake.SeedTopics(1, "offsets", "dlq"))
	reg, _ := testenv.Registry(t, registry.ClientOptions{})
	return &env{brokers: brokers, reg: reg, quiet: testenv.Quiet()}
}

func (e *env) source(t *testing.T, edit ...func(*Config)) (*Source, func() error) {
	t.Helper()
	s, err := New(e.sourceConfig(edit...))
	if err != nil {
		t.Fatal(err)
	}
	return s, testenv.Start(s.Run)
}

func (e *env) sourceConfig(edit ...func(*Config)) Config {
	cfg := Config{
		Name: "orders-source",
		Watch: func(ctx context.Context, pipeline any, opts *options.ChangeStreamOptions) (ChangeStream, error) {
			return e.src.Watch(ctx, pipeline, opts)
		},
		Brokers: e.brokers, Topics: TopicNames{Topic: "orders"}, OffsetsTopic: "offsets",
		Registry: e.reg, Envelope: true, MaxBatch: 4, Logger: e.quiet,
	}
	for _, f := range edit {
		f(&cfg)
	}
	return cfg
}

func (e *env) sink(t *testing.T, edit ...func(*mongosink.Config)) (*mongosink.Pipeline, func() error) {
	t.Helper()
	cfg := mongosink.Config{
		Brokers: e.brokers, Group: "replica", Topics: []string{"orders"},
		Decoder:  decode.New(decode.Options{Registry: e.reg, PlainJSON: true}),
		Target:   func(db, coll string) mongosink.Collection { return e.dst.Database(db).Collection(coll) },
		Database: e.copyDB(), Collection: "orders", Handler: sink.HandlerMongoDB,
		MaxWait: 5 * time.Millisecond, Logger: e.quiet,
	}
	for _, f := range edit {
		f(&cfg)
	}
	p, err := mongosink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, testenv.Start(p.Run)
}

// insert inserts a document into the source collection.
func (e *env) insert(t *testing.T, doc bson.D) {
	t.Helper()
	if _, err := e.src.InsertOne(context.Background(), doc); err != nil {
		t.Fatal(err)
	}
}

func dump(t *testing.T, coll lungo.ICollection) string { return testenv.Dump(t, coll) }

func exec(t *testing.T, f func(context.Context) error) {
	t.Helper()
	if err := f(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// MongoDB → change stream → evolving Avro subject → Kafka → sink →
// another MongoDB: the copy equals the original, across a restart of the
// source that resumes from its saved token.
func TestReplicate(t *testing.T) {
	t.Parallel()
	replicate(t, newEnv(t))
}

// Against a real MongoDB replica set, when SCHEMAFLOW_TEST_MONGODB_URI
// names one: the replication scenario in databases of its own, dropped
// afterwards.
func TestRealMongoDB(t *testing.T) {
	uri := os.Getenv("SCHEMAFLOW_TEST_MONGODB_URI")
	if uri == "" {
		t.Skip("SCHEMAFLOW_TEST_MONGODB_URI is not set")
	}
	t.Parallel()
	client, err := lungo.Connect(context.Background(), options.Client().ApplyURI(uri).SetTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	suffix := fmt.Sprint(time.Now().UnixNano())
	e := newKafkaRegistry(t)
	e.src = client.Database("schemaflow_src_" + suffix).Collection("orders")
	e.dst, e.copyName = client, "schemaflow_copy_"+suffix
	t.Cleanup(func() {
		_ = client.Database("schemaflow_src_" + suffix).Drop(context.Background())
		_ = client.Database(e.copyName).Drop(context.Background())
	})
	replicate(t, e)
}

func replicate(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	src, stopSource := e.source(t)
	testenv.WaitFor(t, "the stream to open", src.Watching)

	e.insert(t, bson.D{{Key: "_id", Value: 1}, {Key: "status", Value: "new"}, {Key: "tags", Value: bson.A{"a", "b"}}})
	e.insert(t, bson.D{{Key: "_id", Value: 2}, {Key: "status", Value: "new"}, {Key: "total", Value: 5.5}})
	exec(t, func(ctx context.Context) error {
		_, err := e.src.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "paid"}}}, {Key: "$unset", Value: bson.D{{Key: "tags", Value: ""}}}})
		return err
	})
	exec(t, func(ctx context.Context) error {
		_, err := e.src.ReplaceOne(ctx, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "_id", Value: 2}, {Key: "status", Value: "void"}, {Key: "address", Value: bson.D{{Key: "city", Value: "Oslo"}}}})
		return err
	})
	e.insert(t, bson.D{{Key: "_id", Value: 3}, {Key: "status", Value: "new"}})
	exec(t, func(ctx context.Context) error {
		_, err := e.src.DeleteOne(ctx, bson.D{{Key: "_id", Value: 3}})
		return err
	})
	testenv.WaitFor(t, "six events", func() bool { return src.Stats().Events == 6 })
	if err := stopSource(); err != nil {
		t.Fatal(err)
	}

	snk, stopSink := e.sink(t)
	copyColl := e.dst.Database(e.copyDB()).Collection("orders")
	testenv.WaitFor(t, "the copy", func() bool { return snk.Stats().Written == 6 })
	if got, want := dump(t, copyColl), dump(t, e.src); got != want {
		t.Fatalf("copy differs:\n got %s\nwant %s", got, want)
	}

	// Changes made while the source is down are picked up from the token.
	e.insert(t, bson.D{{Key: "_id", Value: 4}, {Key: "status", Value: "late"}, {Key: "qty", Value: int64(3)}})
	src2, stopSource2 := e.source(t)
	testenv.WaitFor(t, "the resumed event", func() bool { return src2.Stats().Events >= 1 })
	// A marker written after: a replay of saved events would come before
	// it in the stream, so once it is counted the count is final.
	e.insert(t, bson.D{{Key: "_id", Value: 5}, {Key: "status", Value: "marker"}})
	testenv.WaitFor(t, "the marker", func() bool { return src2.Stats().Events >= 2 })
	testenv.WaitFor(t, "the copy to catch up", func() bool { return dump(t, copyColl) == dump(t, e.src) })
	if n := src2.Stats().Events; n != 2 {
		t.Fatalf("the resumed source produced %d events, want 2: the late insert and the marker (no replay of saved events)", n)
	}
	if err := stopSource2(); err != nil {
		t.Fatal(err)
	}
	if err := stopSink(); err != nil {
		t.Fatal(err)
	}
	versions, err := e.reg.Versions(ctx, "orders-value", false)
	if err != nil || len(versions) < 2 {
		t.Fatalf("versions %v (%v): the event schema should have evolved", versions, err)
	}
	t.Logf("orders-value has %d versions", len(versions))
}

// Publishing full documents only: values are the documents, deletes are
// tombstones, and a plain sink (replace upserts, delete on tombstone)
// keeps the copy equal.
func TestFullDocumentOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src, stop := e.source(t, func(c *Config) { c.Envelope = false })
	testenv.WaitFor(t, "the stream to open", src.Watching)
	for _, f := range []func(context.Context) error{
		func(ctx context.Context) error {
			_, err := e.src.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "x"}})
			return err
		},
		func(ctx context.Context) error {
			_, err := e.src.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}, {Key: "b", Value: int64(2)}})
			return err
		},
		func(ctx context.Context) error {
			_, err := e.src.ReplaceOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "y"}, {Key: "c", Value: true}})
			return err
		},
		func(ctx context.Context) error {
			_, err := e.src.DeleteOne(ctx, bson.D{{Key: "_id", Value: 2}})
			return err
		},
	} {
		exec(t, f)
	}
	testenv.WaitFor(t, "four events", func() bool { return src.Stats().Events == 4 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	snk, stopSink := e.sink(t, func(c *mongosink.Config) {
		c.Handler = ""
		c.Sink = sink.Options{ID: sink.IDKey, DeleteOnTombstone: true}
	})
	testenv.WaitFor(t, "the copy", func() bool { return snk.Stats().Written == 4 })
	if err := stopSink(); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, e.dst.Database(e.copyDB()).Collection("orders")), dump(t, e.src); got != want {
		t.Fatalf("copy differs:\n got %s\nwant %s", got, want)
	}
}

// Events that cannot be published go to the dead-letter topic with
// headers naming the error, namespace and key, and the source goes on: a
// document the FORWARD level cannot take, and one too large for Kafka.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if err := e.reg.SetConfig(ctx, "orders-value", "FORWARD"); err != nil {
		t.Fatal(err)
	}
	src, stop := e.source(t, func(c *Config) {
		c.Envelope = false
		c.Tolerance, c.DeadLetterTopic = "all", "dlq"
		c.KafkaOptions = []kgo.Opt{kgo.ProducerBatchMaxBytes(4096)}
	})
	testenv.WaitFor(t, "the stream to open", src.Watching)
	for _, doc := range []bson.D{
		{{Key: "_id", Value: 1}, {Key: "n", Value: int32(1)}},
		{{Key: "_id", Value: 2}, {Key: "n", Value: "two"}},
		{{Key: "_id", Value: 3}, {Key: "n", Value: int32(3)}, {Key: "big", Value: strings.Repeat("x", 8000)}},
		{{Key: "_id", Value: 4}, {Key: "n", Value: int32(4)}},
	} {
		exec(t, func(ctx context.Context) error { _, err := e.src.InsertOne(ctx, doc); return err })
	}
	testenv.WaitFor(t, "four events published or dead-lettered", func() bool { s := src.Stats(); return s.Events+s.Dead >= 4 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := src.Stats(); s.Dead != 2 {
		t.Fatalf("stats %+v, want 2 dead letters", s)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics("dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var got []string
	for len(got) < 2 {
		f := cl.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("dead letters: %v", got)
		}
		f.EachRecord(func(r *kgo.Record) {
			h := map[string]string{}
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			got = append(got, h[HeaderClass]+" "+h[HeaderSource]+" "+h[HeaderKey])
			if h[HeaderMessage] == "" {
				t.Errorf("no message header: %v", h)
			}
		})
	}
	want := `schema-evolution shop.orders {"_id":2},record-too-large shop.orders {"_id":3}`
	if strings.Join(got, ",") != want {
		t.Fatalf("dead letters\n got %s\nwant %s", strings.Join(got, ","), want)
	}
}

// A saved resume point the oplog no longer holds stops the source by
// default; with the latest policy it goes on from now.
func TestLostResumePoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src, stop := e.source(t)
	testenv.WaitFor(t, "the stream to open", src.Watching)
	e.insert(t, bson.D{{Key: "_id", Value: 1}})
	testenv.WaitFor(t, "a saved token", func() bool { return src.Stats().Batches > 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	lost := func(c *Config) {
		watch := c.Watch
		c.Watch = func(ctx context.Context, pipeline any, opts *options.ChangeStreamOptions) (ChangeStream, error) {
			if opts.ResumeAfter != nil {
				return nil, mongo.CommandError{Code: 286, Name: "ChangeStreamHistoryLost", Message: "resume point no longer in the oplog"}
			}
			return watch(ctx, pipeline, opts)
		}
	}

	failing, err := New(e.sourceConfig(lost))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = failing.Run(ctx)
	if !errors.Is(err, ErrResumeLost) || !strings.Contains(err.Error(), "no longer in the oplog") || !strings.Contains(err.Error(), "latest") {
		t.Fatalf("err = %v, want the lost resume point explained", err)
	}

	latest, stopLatest := e.source(t, lost, func(c *Config) { c.OnLostResume = LostResumeLatest })
	testenv.WaitFor(t, "the stream to open", latest.Watching)
	e.insert(t, bson.D{{Key: "_id", Value: 2}})
	testenv.WaitFor(t, "the new event", func() bool { return latest.Stats().Events == 1 })
	if err := stopLatest(); err != nil {
		t.Fatal(err)
	}

	// copy_existing starts over: the saved token is ignored, the
	// collection is copied again, and the stream goes on from before it.
	copyAgain, stopCopy := e.source(t, lost, func(c *Config) {
		c.OnLostResume = LostResumeCopy
		c.CopyExisting = e.copyOf("orders", 1)
	})
	testenv.WaitFor(t, "the copy", func() bool { return copyAgain.Stats().Copied == 2 })
	e.insert(t, bson.D{{Key: "_id", Value: 3}})
	testenv.WaitFor(t, "the event after the copy", func() bool { return copyAgain.Stats().Events == 3 })
	if err := stopCopy(); err != nil {
		t.Fatal(err)
	}
}

// Dropping the watched collection invalidates the stream: the source stops
// with an explanation, or, under the latest policy, goes on watching the
// namespace, so a recreated collection streams again.
func TestInvalidate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	failing, err := New(e.sourceConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- failing.Run(context.Background()) }()
	testenv.WaitFor(t, "the stream to open", failing.Watching)
	e.insert(t, bson.D{{Key: "_id", Value: 1}})
	exec(t, e.src.Drop)
	select {
	case err := <-done:
		if !errors.Is(err, ErrResumeLost) || !strings.Contains(err.Error(), "invalidated") || !strings.Contains(err.Error(), "copy_existing") {
			t.Fatalf("err = %v, want the invalidation explained", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the source went on after its collection was dropped")
	}
	if n := failing.Stats().Events; n != 1 {
		t.Fatalf("%d events before the drop, want 1", n)
	}

	latest, stop := e.source(t, func(c *Config) { c.OnLostResume = LostResumeLatest })
	testenv.WaitFor(t, "the stream to open", latest.Watching)
	exec(t, e.src.Drop)
	time.Sleep(50 * time.Millisecond)
	testenv.WaitFor(t, "the stream to reopen", latest.Watching)
	e.insert(t, bson.D{{Key: "_id", Value: 2}})
	testenv.WaitFor(t, "the insert into the new collection", func() bool { return latest.Stats().Events == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// A source keeping its token in a file resumes from it.
func TestOffsetsFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	file := t.TempDir() + "/tokens/orders.bson"
	inFile := func(c *Config) { c.OffsetsTopic, c.OffsetsFile, c.Compression = "", file, "zstd" }
	src, stop := e.source(t, inFile)
	testenv.WaitFor(t, "the stream to open", src.Watching)
	e.insert(t, bson.D{{Key: "_id", Value: 1}})
	testenv.WaitFor(t, "a saved token", func() bool { return src.Stats().Batches > 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	e.insert(t, bson.D{{Key: "_id", Value: 2}})
	again, stop := e.source(t, inFile)
	testenv.WaitFor(t, "the change made while stopped", func() bool { return again.Stats().Events >= 1 })
	// A marker: a replayed event would come before it in the stream.
	e.insert(t, bson.D{{Key: "_id", Value: 3}})
	testenv.WaitFor(t, "the marker", func() bool { return again.Stats().Events >= 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := again.Stats().Events; n != 2 {
		t.Fatalf("%d events after the restart, want 2 (the change made while stopped, the marker): the saved event was replayed", n)
	}
	if err := os.WriteFile(file, []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad, err := New(e.sourceConfig(inFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Run(context.Background()); err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("err = %v, want the bad token file named", err)
	}
}

// A fresh source with StartAt streams the changes from that operation
// time on, including those made before it started.
func TestStartAt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	probe, err := e.src.Watch(ctx, []bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close(ctx)
	e.insert(t, bson.D{{Key: "_id", Value: 0}})
	e.insert(t, bson.D{{Key: "_id", Value: 1}})
	e.insert(t, bson.D{{Key: "_id", Value: 2}})
	probe.Next(ctx) // _id 0
	probe.Next(ctx) // _id 1
	var ev struct {
		ClusterTime primitive.Timestamp `bson:"clusterTime"`
	}
	if err := probe.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	src, stop := e.source(t, func(c *Config) { c.StartAt = &ev.ClusterTime; c.Envelope = false })
	testenv.WaitFor(t, "the events from the start time", func() bool { return src.Stats().Events >= 2 })
	// A marker: any event before it (_id 0, before the start time) would
	// be counted by the time it is.
	e.insert(t, bson.D{{Key: "_id", Value: 3}})
	testenv.WaitFor(t, "the marker", func() bool { return src.Stats().Events >= 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := src.Stats().Events; n != 3 {
		t.Fatalf("%d events, want 3 (_id 1 and 2: the start time is inclusive; the marker)", n)
	}
}

// copy_existing while writes go on: the copy and the stream together leave
// the replica equal to the source, with no gap.
func TestCopyExisting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const docs = 300
	for i := range docs {
		e.insert(t, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: 0}})
	}
	copyCfg := func(c *Config) {
		c.CopyExisting = e.copyOf("orders", 4)
	}
	src, stop := e.source(t, copyCfg)
	testenv.WaitFor(t, "the stream to open", src.Watching)
	// Writes during the copy: updates of copied documents and new ones.
	for i := range 100 {
		exec(t, func(ctx context.Context) error {
			_, err := e.src.UpdateOne(ctx, bson.D{{Key: "_id", Value: (i * 7) % docs}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: 1}}}})
			return err
		})
		if i%10 == 0 {
			e.insert(t, bson.D{{Key: "_id", Value: docs + i}, {Key: "v", Value: -1}})
		}
	}
	testenv.WaitFor(t, "the copy", func() bool { return src.Stats().Copied >= docs })
	snk, stopSink := e.sink(t)
	testenv.WaitFor(t, "the replica", func() bool { return dump(t, e.dst.Database(e.copyDB()).Collection("orders")) == dump(t, e.src) })
	if err := stopSink(); err != nil {
		t.Fatal(err)
	}
	// The writes after the stream opened are streamed, so a token is saved.
	testenv.WaitFor(t, "a saved resume token", func() bool { return src.Stats().Batches > 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	s := src.Stats()
	t.Logf("copied %d, streamed %d, sink wrote %d", s.Copied, s.Events-s.Copied, snk.Stats().Written)
}

// idle is a change stream with no events whose position still advances,
// as a server's post-batch resume token does.
type idle struct {
	mu   sync.Mutex
	tick int
}

func (s *idle) Next(ctx context.Context) bool { <-ctx.Done(); return false }
func (s *idle) TryNext(context.Context) bool {
	s.mu.Lock()
	s.tick++
	s.mu.Unlock()
	return false
}
func (s *idle) Decode(any) error { return errors.New("no event") }
func (s *idle) ResumeToken() bson.Raw {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := bson.Marshal(bson.D{{Key: "_data", Value: s.tick}})
	return b
}
func (s *idle) Err() error                  { return nil }
func (s *idle) Close(context.Context) error { return nil }

// Heartbeats save an idle stream's moving position, and a restart resumes
// from the latest one.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stream := &idle{}
	src, stop := e.source(t, func(c *Config) {
		c.Heartbeat = 10 * time.Millisecond
		c.Watch = func(context.Context, any, *options.ChangeStreamOptions) (ChangeStream, error) { return stream, nil }
	})
	testenv.WaitFor(t, "heartbeats", func() bool { return src.Stats().Heartbeats >= 3 && src.Stats().Batches >= 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	resumed := make(chan bson.Raw, 1)
	_, stopAgain := e.source(t, func(c *Config) {
		c.Watch = func(_ context.Context, _ any, opts *options.ChangeStreamOptions) (ChangeStream, error) {
			tok, _ := opts.ResumeAfter.(bson.Raw)
			resumed <- tok
			return &idle{}, nil
		}
	})
	tok := <-resumed
	if err := stopAgain(); err != nil {
		t.Fatal(err)
	}
	n, ok := tok.Lookup("_data").Int32OK()
	if !ok || n < 3 {
		t.Fatalf("resumed after %v, want a heartbeat token of at least tick 3", tok)
	}
}

// Validate reports every problem at once, each naming its field, and
// EnsureDefaults fills in what New uses.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // "Field: message", in the order found
	}{
		{"everything wrong", Config{Topics: TopicNames{Topic: "t", Rules: []TopicRule{{}}}, OffsetsTopic: "t", MaxBatch: -1, Subjects: "x",
			FullDocument: options.Default, Compression: "brotli", MaxInflightBytes: -1, OnLostResume: "ignore", Tolerance: "some"}, []string{
			"Name: required", "Watch: required", "Brokers: required", `Compression: "brotli": want none, gzip, snappy, lz4 or zstd`,
			"Registry: required", "MaxBatch: must not be negative", "MaxInflightBytes: must not be negative",
			`OnLostResume: "ignore": want fail, latest or copy_existing`,
			`FullDocument: "default" sends updates without their document, which publish: document cannot publish: use updateLookup (the default), whenAvailable or required, or publish: envelope`,
			`Tolerance: "some": want none or all`, `Subjects: "x": want topic, record or topic-record`,
			"Topics.Rules[0].Pattern: required", `Topics.Topic: "t" is also the offsets topic`}},
		{"tolerance all without a dead-letter topic", Config{Name: "n", Watch: func(context.Context, any, *options.ChangeStreamOptions) (ChangeStream, error) { return nil, nil },
			Brokers: []string{"b"}, OffsetsFile: "f", Registry: subject.Registry(nil), Tolerance: config.ToleranceAll, OnLostResume: LostResumeCopy,
			CopyExisting: &Copy{Parallelism: -1}}, []string{
			"Registry: required", "CopyExisting.Database: required", "CopyExisting.Find: required",
			"CopyExisting.Collections: required for a database-wide copy (no Collection)", "CopyExisting.Parallelism: must not be negative",
			"DeadLetterTopic: required with tolerance all"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var ps config.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Validate: %v (%T), want config.Problems", err, err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	cfg := Config{}
	cfg.EnsureDefaults()
	if cfg.MaxBatch != DefaultMaxBatch || cfg.MaxInflightBytes != DefaultMaxInflightBytes || cfg.Format != schemas.Avro ||
		cfg.Subjects != SubjectTopic || cfg.Compression != config.CompressionSnappy || cfg.Tolerance != config.ToleranceNone ||
		cfg.OnLostResume != LostResumeFail || cfg.DrainTimeout != graceful.DefaultDrain || cfg.Logger == nil {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	names := TopicNames{
		Map:    map[string]string{"shop.orders": "orders", "crm": "people"},
		Rules:  []TopicRule{{Pattern: regexp.MustCompile(`^logs\.(.*)$`), Replacement: "log-$1"}},
		Prefix: "prod",
	}
	for _, c := range []struct{ db, coll, want string }{
		{"shop", "orders", "prod.orders"},
		{"crm", "contacts", "prod.people"},
		{"logs", "web", "prod.log-web"},
		{"shop", "items", "prod.shop.items"},
	} {
		if got := names.name(c.db, c.coll); got != c.want {
			t.Errorf("%s.%s: got %s, want %s", c.db, c.coll, got, c.want)
		}
	}
	if got := (TopicNames{Suffix: "v1"}).name("a", "b"); got != "a.b.v1" {
		t.Errorf("suffix: got %s", got)
	}
	for _, c := range []struct {
		strategy SubjectStrategy
		want     string
	}{
		{SubjectTopic, "shop.orders-value"},
		{SubjectRecord, "com.acme.Orders"},
		{SubjectTopicRecord, "shop.orders-com.acme.Orders"},
	} {
		s := &Source{cfg: Config{Subjects: c.strategy, Namespace: "com.acme"}}
		if got := s.subject("shop.orders", "Orders", "value"); got != c.want {
			t.Errorf("%s: got %s, want %s", c.strategy, got, c.want)
		}
	}
}

// Killed at random points while writes go on, and restarted each time,
// the source delivers every change at least once, and each key's last
// record is its latest state.
func TestRestartLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const writes, ids = 400, 20
	rng := rand.New(rand.NewPCG(3, 4))

	writer := make(chan error, 1)
	src, stop := e.source(t, func(c *Config) { c.Envelope = false })
	testenv.WaitFor(t, "the stream to open", src.Watching)
	go func() {
		for v := 1; v <= writes; v++ {
			id := v % ids
			_, err := e.src.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: id}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: int64(v)}}}}, options.Update().SetUpsert(true))
			if err != nil {
				writer <- err
				return
			}
			if v%4 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		writer <- nil
	}()
	// lungo has no token before the first event: wait for one to be saved.
	testenv.WaitFor(t, "a first resume token", func() bool { return src.Stats().Batches > 0 })
	runs := 1
	for done := false; !done; {
		select {
		case err := <-writer:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		case <-time.After(time.Duration(rng.IntN(15)) * time.Millisecond):
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			src, stop = e.source(t, func(c *Config) { c.Envelope = false })
			runs++
		}
	}
	defer func() { _ = stop() }()

	dec := decode.New(decode.Options{Registry: e.reg})
	seen := map[int64]bool{}
	last := map[int32]int64{} // per key: the v of its last record
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	complete := func() bool {
		if len(seen) < writes {
			return false
		}
		for id := int32(0); id < ids; id++ {
			if want := int64(writes - (writes-int(id))%ids); last[id] != want {
				return false
			}
		}
		return true
	}
	for !complete() {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after %d runs: %d of %d changes arrived", runs, len(seen), writes)
		}
		f.EachRecord(func(r *kgo.Record) {
			k, err := dec.Decode(ctx, r.Key)
			if err != nil {
				t.Fatal(err)
			}
			v, err := dec.Decode(ctx, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := sink.Lookup(k, "_id")
			n, _ := sink.Lookup(v, "v")
			seen[n.(int64)] = true
			last[id.(int32)] = n.(int64)
		})
	}
	t.Logf("%d runs; every one of %d changes arrived", runs, writes)
}

// lockedBuffer is a log sink tests read while the source writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A real MongoDB sends an update without its document when the lookup
// finds it deleted (fullDocument: null), and collection events (drop)
// without a document key; lungo always fills fullDocument, so a stream
// double plays the server's events here. A document-only source publishes
// neither, and each one is counted by reason and logged as a warning with
// its document key: nothing is dropped without a trace. The marker insert
// after them shows the stream went on.
func TestSkippedEventsCounted(t *testing.T) {
	t.Parallel()
	e := newKafkaRegistry(t)
	ns := bson.D{{Key: "db", Value: "shop"}, {Key: "coll", Value: "orders"}}
	event := func(d bson.D) []byte {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	list := [][]byte{
		event(bson.D{{Key: "_id", Value: bson.D{{Key: "_data", Value: "1"}}}, {Key: "operationType", Value: "insert"}, {Key: "ns", Value: ns},
			{Key: "documentKey", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "fullDocument", Value: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "x"}}}}),
		event(bson.D{{Key: "_id", Value: bson.D{{Key: "_data", Value: "2"}}}, {Key: "operationType", Value: "update"}, {Key: "ns", Value: ns},
			{Key: "documentKey", Value: bson.D{{Key: "_id", Value: 2}}}, {Key: "fullDocument", Value: nil},
			{Key: "updateDescription", Value: bson.D{{Key: "updatedFields", Value: bson.D{{Key: "a", Value: "y"}}}, {Key: "removedFields", Value: bson.A{}}}}}),
		event(bson.D{{Key: "_id", Value: bson.D{{Key: "_data", Value: "3"}}}, {Key: "operationType", Value: "drop"}, {Key: "ns", Value: bson.D{{Key: "db", Value: "shop"}, {Key: "coll", Value: "old"}}}}),
		event(bson.D{{Key: "_id", Value: bson.D{{Key: "_data", Value: "4"}}}, {Key: "operationType", Value: "insert"}, {Key: "ns", Value: ns},
			{Key: "documentKey", Value: bson.D{{Key: "_id", Value: 3}}}, {Key: "fullDocument", Value: bson.D{{Key: "_id", Value: 3}, {Key: "a", Value: "z"}}}}),
	}
	var logs lockedBuffer
	src, stop := e.source(t, func(c *Config) {
		c.Envelope = false
		c.Watch = func(context.Context, any, *options.ChangeStreamOptions) (ChangeStream, error) {
			return &events{list: list}, nil
		}
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	testenv.WaitFor(t, "both inserts published", func() bool { return src.Stats().Events == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := src.Stats()
	want := map[string]int64{SkipNoFullDocument: 1, SkipNoDocument: 1}
	if fmt.Sprint(st.Skipped) != fmt.Sprint(want) || st.Events != 2 {
		t.Fatalf("skipped %v, events %d; want %v and 2", st.Skipped, st.Events, want)
	}
	out := logs.String()
	for _, w := range []string{
		`level=WARN msg="mongosource: skipping an event without its full document" source=orders-source reason=no_full_document operationType=update document="shop.orders {\"_id\":2}"`,
		`level=WARN msg="mongosource: skipping an event about a collection, not a document" source=orders-source reason=no_document operationType=drop ns=shop.old`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("logs lack\n%s\ngot:\n%s", w, out)
		}
	}
}

// A dead letter counts only once Kafka has acknowledged it: when the
// dead-letter topic refuses it, the source stops with an error naming the
// topic, and neither the dead-letter count nor the saved position moves.
func TestDeadLetterCountedOnlyWhenAcknowledged(t *testing.T) {
	t.Parallel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders", "offsets", "dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	dlqID := topicID(t, cluster.ListenAddrs(), "dlq")
	// Every produce to dlq is refused for good (newer produce requests
	// name topics by ID).
	cluster.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		req := kr.(*kmsg.ProduceRequest)
		for _, tp := range req.Topics {
			if tp.Topic != "dlq" && tp.TopicID != dlqID {
				return nil, nil, false
			}
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.InvalidRecord.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	reg, _ := testenv.Registry(t, registry.ClientOptions{})
	if err := reg.SetConfig(context.Background(), "orders-value", "FORWARD"); err != nil {
		t.Fatal(err)
	}
	src := testenv.Lungo(t).Database("shop").Collection("orders")
	s, err := New(Config{
		Name: "orders-source",
		Watch: func(ctx context.Context, pipeline any, opts *options.ChangeStreamOptions) (ChangeStream, error) {
			return src.Watch(ctx, pipeline, opts)
		},
		Brokers: cluster.ListenAddrs(), Topics: TopicNames{Topic: "orders"}, OffsetsTopic: "offsets",
		Registry: reg, Logger: testenv.Quiet(), Tolerance: "all", DeadLetterTopic: "dlq",
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	testenv.WaitFor(t, "the stream to open", s.Watching)
	for _, doc := range []bson.D{
		{{Key: "_id", Value: 1}, {Key: "n", Value: int32(1)}},
		{{Key: "_id", Value: 2}, {Key: "n", Value: "two"}}, // FORWARD refuses it: a dead letter
	} {
		if _, err := src.InsertOne(context.Background(), doc); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "dead-letter topic dlq") {
			t.Fatalf("run ended with %v, want the dead-letter topic's refusal", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the source did not stop on the refused dead letter: %+v", s.Stats())
	}
	if st := s.Stats(); st.Dead != 0 || len(st.DeadByClass) != 0 {
		t.Fatalf("stats %+v: a refused dead letter was counted", st)
	}
}

// topicID returns a kfake topic's ID: newer produce requests name topics
// by ID.
func topicID(t *testing.T, brokers []string, topic string) [16]byte {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(context.Background(), topic)
	if err != nil || details[topic].Err != nil {
		t.Fatalf("%s metadata: %v %v", topic, err, details[topic].Err)
	}
	return details[topic].ID
}

// While Kafka holds a batch's acknowledgements, Busy names the wait and
// when it began, so the daemon can report a stuck source; once Kafka
// answers, the source is busy with nothing and the batch is counted.
func TestBusyNamesTheCall(t *testing.T) {
	t.Parallel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders", "offsets"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	ordersID := topicID(t, cluster.ListenAddrs(), "orders")
	release := make(chan struct{})
	cluster.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		for _, tp := range kr.(*kmsg.ProduceRequest).Topics {
			if tp.Topic == "orders" || tp.TopicID == ordersID {
				cluster.SleepControl(func() { <-release })
				return nil, nil, false // then handled as usual
			}
		}
		cluster.KeepControl()
		return nil, nil, false
	})
	reg, _ := testenv.Registry(t, registry.ClientOptions{})
	ev, err := bson.Marshal(bson.D{{Key: "_id", Value: bson.D{{Key: "_data", Value: "1"}}}, {Key: "operationType", Value: "insert"},
		{Key: "ns", Value: bson.D{{Key: "db", Value: "shop"}, {Key: "coll", Value: "orders"}}},
		{Key: "documentKey", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "fullDocument", Value: bson.D{{Key: "_id", Value: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Name: "orders-source",
		Watch: func(context.Context, any, *options.ChangeStreamOptions) (ChangeStream, error) {
			return &events{list: [][]byte{ev}}, nil
		},
		Brokers: cluster.ListenAddrs(), Topics: TopicNames{Topic: "orders"}, OffsetsTopic: "offsets",
		Registry: reg, Logger: testenv.Quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Start(s.Run)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	began := time.Now()
	testenv.WaitFor(t, "the wait for acknowledgements", func() bool {
		what, _ := s.Busy()
		return what == "waiting for Kafka to acknowledge 1 records"
	})
	if _, since := s.Busy(); since.Before(began.Add(-time.Second)) || since.After(time.Now()) {
		t.Fatalf("busy since %v, want after %v", since, began)
	}
	close(release)
	released = true
	testenv.WaitFor(t, "the batch saved", func() bool { st := s.Stats(); return st.Events == 1 && st.Batches == 1 })
	testenv.WaitFor(t, "nothing in progress", func() bool { what, _ := s.Busy(); return what == "" })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// countedStream is a list of events that counts those read, from any
// goroutine.
type countedStream struct {
	*events
	read atomic.Int64
}

func (c *countedStream) Next(ctx context.Context) bool {
	if c.events.TryNext(ctx) {
		c.read.Add(1)
		return true
	}
	return c.events.Next(ctx) // none left: waits for the stop
}

func (c *countedStream) TryNext(ctx context.Context) bool {
	ok := c.events.TryNext(ctx)
	if ok {
		c.read.Add(1)
	}
	return ok
}

// With the broker stalled, a source holds at most MaxInflightBytes for
// Kafka: reading stops once the bound is reached (not every event is read)
// and the bytes held, sampled all along and as the peak the source
// tracks, never pass it; once Kafka answers, every event is delivered and
// nothing is held. Under the default bound the same stall lets the source
// read until its committer's queue is full (more than twice as many
// batches), so the bound is what stopped it.
func TestMaxInflightBytesBound(t *testing.T) {
	t.Parallel()
	const total, maxBatch = 400, 10
	evs := make([][]byte, total)
	for i := range evs {
		ev, err := bson.Marshal(bson.D{{Key: "_id", Value: bson.D{{Key: "_data", Value: fmt.Sprint(i)}}}, {Key: "operationType", Value: "insert"},
			{Key: "ns", Value: bson.D{{Key: "db", Value: "shop"}, {Key: "coll", Value: "orders"}}},
			{Key: "documentKey", Value: bson.D{{Key: "_id", Value: int32(i)}}},
			{Key: "fullDocument", Value: bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: strings.Repeat("x", 1000)}}}})
		if err != nil {
			t.Fatal(err)
		}
		evs[i] = ev
	}
	batchBytes := int64(maxBatch * (len(evs[0]) + 32)) // what one batch holds
	for _, tc := range []struct {
		name  string
		bound int64
	}{
		{"bound of three batches", 3 * batchBytes},
		{"default bound", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders", "offsets"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cluster.Close)
			release := make(chan struct{})
			var once sync.Once
			unstall := func() { once.Do(func() { close(release) }) }
			t.Cleanup(unstall)
			// Every produce request to orders waits for release (and the
			// requests after it on its connection): the broker is stalled,
			// nothing is acknowledged. The first resume token, saved before
			// any event is read, goes through.
			ordersID := topicID(t, cluster.ListenAddrs(), "orders")
			cluster.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
				cluster.KeepControl()
				for _, tp := range kr.(*kmsg.ProduceRequest).Topics {
					if tp.Topic == "orders" || tp.TopicID == ordersID {
						cluster.SleepControl(func() { <-release })
					}
				}
				return nil, nil, false
			})
			reg, _ := testenv.Registry(t, registry.ClientOptions{})
			stream := &countedStream{events: &events{list: evs}}
			s, err := New(Config{
				Name: "orders-source",
				Watch: func(context.Context, any, *options.ChangeStreamOptions) (ChangeStream, error) {
					return stream, nil
				},
				Brokers: cluster.ListenAddrs(), Topics: TopicNames{Topic: "orders"}, OffsetsTopic: "offsets",
				Registry: reg, Logger: testenv.Quiet(), MaxBatch: maxBatch, MaxInflightBytes: tc.bound,
			})
			if err != nil {
				t.Fatal(err)
			}
			bound := s.cfg.MaxInflightBytes
			// Sample what the source holds for as long as it runs.
			var sampledMax atomic.Int64
			sampling, sampled := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(sampled)
				for {
					select {
					case <-sampling:
						return
					default:
					}
					if h := s.Stats().InflightBytes; h > sampledMax.Load() {
						sampledMax.Store(h)
					}
					runtime.Gosched()
				}
			}()
			stop := testenv.Start(s.Run)
			if tc.bound > 0 {
				// Full: the next batch does not fit.
				testenv.WaitFor(t, "the bound reached", func() bool { return s.Stats().InflightBytes > bound-batchBytes })
				if st := s.Stats(); st.InflightBytes > bound || st.Events != 0 {
					t.Fatalf("stalled: %d bytes held (bound %d), %d events acknowledged", st.InflightBytes, bound, st.Events)
				}
				// The reader waits for room with the batch it read: at most
				// the batches held and one more were read.
				if read, most := stream.read.Load(), (bound/batchBytes+1)*maxBatch; read > most {
					t.Fatalf("%d events read while stalled, want at most %d", read, most)
				}
			} else {
				// Only the committer's queue (cap8 batches) stops it.
				testenv.WaitFor(t, "the committer's queue filled while stalled", func() bool {
					return stream.read.Load() >= (cap8+1)*maxBatch && s.Stats().InflightBytes >= (cap8+1)*batchBytes
				})
				if st := s.Stats(); st.Events != 0 {
					t.Fatalf("stalled, yet %d events acknowledged", st.Events)
				}
			}
			unstall()
			testenv.WaitFor(t, "every event delivered", func() bool { st := s.Stats(); return st.Events == total && st.InflightBytes == 0 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			close(sampling)
			<-sampled
			st := s.Stats()
			if st.PeakInflightBytes > bound || sampledMax.Load() > bound {
				t.Fatalf("peak %d bytes held, sampled %d: over the bound %d", st.PeakInflightBytes, sampledMax.Load(), bound)
			}
			if tc.bound > 0 && st.PeakInflightBytes <= bound-batchBytes {
				t.Fatalf("peak %d bytes: the bound %d was never reached", st.PeakInflightBytes, bound)
			}
		})
	}
}

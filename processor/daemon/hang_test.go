package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// wrapped is a MongoDB client whose collections are wrapped by coll, so a
// test can replace one method of the embedded engine.
type wrapped struct {
	lungo.IClient
	coll func(lungo.ICollection) lungo.ICollection
}

func (c wrapped) Database(name string, opts ...*options.DatabaseOptions) lungo.IDatabase {
	return wrappedDB{c.IClient.Database(name, opts...), c.coll}
}

type wrappedDB struct {
	lungo.IDatabase
	coll func(lungo.ICollection) lungo.ICollection
}

func (d wrappedDB) Collection(name string, opts ...*options.CollectionOptions) lungo.ICollection {
	return d.coll(d.IDatabase.Collection(name, opts...))
}

// panicking panics, as lungo v0.3.7 did on document _ids, on a bulk write
// that replaces the document {_id: 2}.
type panicking struct{ lungo.ICollection }

func (c panicking) BulkWrite(ctx context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	for _, m := range models {
		if r, ok := m.(*mongo.ReplaceOneModel); ok && filterID(r.Filter) == 2 {
			var a, b any = bson.D{}, bson.D{}
			_ = a == b
		}
	}
	return c.ICollection.BulkWrite(ctx, models, opts...)
}

// filterID is the integer _id a {_id: v} filter names, whatever form the
// sink gave v (a Go value or the decoder's raw BSON), or -1.
func filterID(filter any) int64 {
	raw, err := bson.Marshal(filter)
	if err != nil {
		return -1
	}
	v, err := bson.Raw(raw).LookupErr("_id")
	if err != nil {
		return -1
	}
	if id, ok := v.AsInt64OK(); ok {
		return id
	}
	return -1
}

// hanging never finishes a bulk write: it returns only when its context
// ends.
type hanging struct{ lungo.ICollection }

func (hanging) BulkWrite(ctx context.Context, _ []mongo.WriteModel, _ ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// logBuffer collects JSON log lines from concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// find returns the first log line with every key and value of want.
func (l *logBuffer) find(want map[string]any) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		match := true
		for k, v := range want {
			match = match && m[k] == v
		}
		if match {
			return m
		}
	}
	return nil
}

// provide registers a wrapped lungo engine under uri.
func (e *env) provide(t *testing.T, uri string, coll func(lungo.ICollection) lungo.ICollection) {
	t.Helper()
	e.conns.Provide(uri, wrapped{IClient: testenv.Lungo(t), coll: coll})
}

func (e *env) produce(t *testing.T, topic string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, v := range values {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// A panic in a pipeline — here the MongoDB client's, on one record — is
// recovered: logged with the pipeline and the record's topic, partition
// and offset, counted as errors_total{class="panic"}, and handled by
// on_failure: restart restarts it, stop leaves it failed while the others
// go on, exit stops the daemon with an error naming it.
func TestPanicInAPipeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.provide(t, "lungo:panics", func(c lungo.ICollection) lungo.ICollection { return panicking{c} })
	e.produce(t, "good", `{"_id": 1}`, `{"_id": 2}`, `{"_id": 3}`)
	logs := &logBuffer{}
	d, err := New(context.Background(), e.specs(t, header+`
  - name: restarts
    restart: {backoff: 10ms, max_backoff: 40ms}
    mongodb: {uri: "lungo:panics", collection: a}
    sink: {topics: [good], plain_json: true, id_strategy: value}
  - name: stops
    on_failure: stop
    mongodb: {uri: "lungo:panics", collection: b}
    sink: {topics: [good], plain_json: true, id_strategy: value}
  - name: healthy
    mongodb: {collection: c}
    sink: {topics: [good], plain_json: true, id_strategy: value, max_wait: 5ms}
`), Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Connections: e.conns, ShutdownTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Start(d.Run)
	status := func(name string) Status {
		for _, s := range d.Status() {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no pipeline %s", name)
		return Status{}
	}
	testenv.WaitFor(t, "restarts after the panic", func() bool { return status("restarts").Restarts >= 2 })
	testenv.WaitFor(t, "the stopped pipeline", func() bool { return status("stops").State == StateFailed })
	testenv.WaitFor(t, "the healthy pipeline's records", func() bool { return status("healthy").Out == 3 })

	for _, name := range []string{"restarts", "stops"} {
		line := logs.find(map[string]any{"msg": "pipeline panicked", "pipeline": name})
		if line == nil {
			t.Fatalf("%s: no panic logged:\n%s", name, logs.buf.String())
		}
		if line["topic"] != "good" || line["partition"] != float64(0) || line["offset"] != float64(1) ||
			!strings.Contains(line["panic"].(string), "comparing uncomparable type primitive.D") || !strings.Contains(line["stack"].(string), "panicking.BulkWrite") {
			t.Errorf("%s: the panic's log line lacks the record, value or stack: %v", name, line)
		}
	}
	if logs.find(map[string]any{"msg": "pipeline failed; restarting", "pipeline": "restarts", "class": "panic"}) == nil {
		t.Errorf("no restart after the panic logged")
	}
	_, metrics := get(t, d, "/metrics")
	for _, want := range []string{
		`schemaflow_errors_total{class="panic",pipeline="stops"} 1`,
		`schemaflow_errors_total{class="panic",pipeline="restarts"}`,
		`schemaflow_pipeline_up{pipeline="healthy"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	code, body := get(t, d, "/readyz")
	if code != 503 || !strings.Contains(body, "stops: failed: panic: runtime error: comparing uncomparable type primitive.D (topic good, partition 0, offset 1)") {
		t.Errorf("readyz %d:\n%s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	exiting, err := New(context.Background(), e.specs(t, header+`
  - name: exits
    on_failure: exit
    mongodb: {uri: "lungo:panics", collection: d}
    sink: {topics: [good], plain_json: true, id_strategy: value}
`), Options{Logger: testenv.Quiet(), Connections: e.conns})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = exiting.Run(ctx)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "pipeline exits (test.yaml:7): panic: runtime error") || !strings.Contains(err.Error(), "offset 1") {
		t.Fatalf("err = %v, want the panicking pipeline, its spec line and the record", err)
	}
}

// A sink whose write never finishes (it ends only with its context) is
// reported stuck — in the logs, /readyz and a metric — once the call
// outlives StuckAfter, and a stop still returns, cleanly, within the
// shutdown timeout.
func TestStuckPipeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.provide(t, "lungo:hangs", func(c lungo.ICollection) lungo.ICollection { return hanging{c} })
	e.produce(t, "good", `{"_id": 1}`)
	logs := &logBuffer{}
	const shutdown = 3 * time.Second
	d, err := New(context.Background(), e.specs(t, header+`
  - name: hangs
    mongodb: {uri: "lungo:hangs", collection: a}
    sink: {topics: [good], plain_json: true, id_strategy: value, write_timeout: 1h}
  - name: healthy
    mongodb: {collection: c}
    sink: {topics: [good], plain_json: true, id_strategy: value, max_wait: 5ms}
`), Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Connections: e.conns, ShutdownTimeout: shutdown, StuckAfter: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Start(d.Run)
	var body string
	testenv.WaitFor(t, "readyz to name the stuck pipeline", func() bool {
		var code int
		code, body = get(t, d, "/readyz")
		return code == 503 && strings.Contains(body, "hangs: stuck: bulk write of 1 records to shop.a for ")
	})
	if strings.Contains(body, "healthy") {
		t.Errorf("readyz names the healthy pipeline:\n%s", body)
	}
	_, metrics := get(t, d, "/metrics")
	if !strings.Contains(metrics, `schemaflow_pipeline_stuck{pipeline="hangs"} 1`) || !strings.Contains(metrics, `schemaflow_pipeline_stuck{pipeline="healthy"} 0`) {
		t.Errorf("metrics lack the stuck gauges")
	}
	testenv.WaitFor(t, "the stuck pipeline logged", func() bool {
		return logs.find(map[string]any{"msg": "pipeline stuck: a call has not finished", "pipeline": "hangs", "call": "bulk write of 1 records to shop.a"}) != nil
	})
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(began); took >= shutdown {
		t.Fatalf("the stop took %s, past the shutdown timeout %s", took, shutdown)
	}
	for _, s := range d.Status() {
		if s.State != StateStopped || s.Stuck != "" {
			t.Errorf("%s is %s (stuck %q) after the stop", s.Name, s.State, s.Stuck)
		}
	}
}

// panickingStream is a change stream that panics when asked for events.
type panickingStream struct{ lungo.IChangeStream }

func (panickingStream) Next(context.Context) bool    { panic("stream bug") }
func (panickingStream) TryNext(context.Context) bool { panic("stream bug") }

type panickingWatch struct{ lungo.ICollection }

func (c panickingWatch) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (lungo.IChangeStream, error) {
	cs, err := c.ICollection.Watch(ctx, pipeline, opts...)
	return panickingStream{cs}, err
}

// A source's panic, in the goroutine the source election runs it in, is
// recovered like a sink's: logged, counted as class panic, and the source
// restarts (on_failure restart) while the daemon goes on.
func TestSourcePanic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.provide(t, "lungo:panics", func(c lungo.ICollection) lungo.ICollection { return panickingWatch{c} })
	logs := &logBuffer{}
	d, err := New(context.Background(), e.specs(t, header+`
  - name: src
    restart: {backoff: 10ms, max_backoff: 40ms}
    mongodb: {uri: "lungo:panics", collection: orders}
    source: {topic: panics.orders}
`), Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Connections: e.conns, ShutdownTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Start(d.Run)
	testenv.WaitFor(t, "restarts after the panic", func() bool { return d.Status()[0].Restarts >= 2 })
	line := logs.find(map[string]any{"msg": "pipeline panicked", "pipeline": "src"})
	if line == nil || line["panic"] != "stream bug" || !strings.Contains(line["stack"].(string), "panickingStream") {
		t.Errorf("the panic's log line: %v", line)
	}
	_, metrics := get(t, d, "/metrics")
	if !strings.Contains(metrics, `schemaflow_errors_total{class="panic",pipeline="src"}`) {
		t.Errorf("metrics lack the panic:\n%s", metrics)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

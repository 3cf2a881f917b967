package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/processor/spec"
	"github.com/schemaflow/schemaflow/registry"
)

type env struct {
	brokers  []string
	registry string
	conns    *Connections
}

func newEnv(t *testing.T) *env {
	t.Helper()
	brokers := testenv.Kafka(t, kfake.AllowAutoTopicCreation(), kfake.SeedTopics(1, "poison", "good"))
	_, srv := testenv.Registry(t, registry.ClientOptions{})
	conns := &Connections{}
	t.Cleanup(func() { conns.Close(context.Background()) })
	return &env{brokers: brokers, registry: srv.URL, conns: conns}
}

// specs parses a spec whose ${KAFKA} and ${REGISTRY} are the env's.
func (e *env) specs(t *testing.T, text string) []*spec.File {
	t.Helper()
	vars := map[string]string{"KAFKA": e.brokers[0], "REGISTRY": e.registry}
	f, err := spec.Parse("test.yaml", []byte(text), func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	return []*spec.File{f}
}

func (e *env) start(t *testing.T, files []*spec.File) (*Daemon, func() error) {
	t.Helper()
	d, err := New(context.Background(), files, Options{Logger: testenv.Quiet(), Connections: e.conns, ShutdownTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return d, testenv.Start(d.Run)
}

func get(t *testing.T, d *Daemon, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

const header = `version: 1
kafka: {brokers: ["${KAFKA}"]}
registry: {url: "${REGISTRY}"}
mongodb: {uri: "lungo:memory", database: shop}
pipelines:
`

// A source and a sink from one spec: documents go around through Kafka
// and the registry; metrics and health say so; a stop is clean.
func TestSourceToSink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d, stop := e.start(t, e.specs(t, header+`
  - name: out
    mongodb: {collection: orders}
    source: {topic: orders, startup: copy_existing, heartbeat: 100ms}
  - name: in
    mongodb: {collection: copy}
    sink: {topics: [orders], id_strategy: key, max_wait: 5ms}
`))
	client, err := e.conns.Client(context.Background(), "lungo:memory")
	if err != nil {
		t.Fatal(err)
	}
	orders, copied := client.Database("shop").Collection("orders"), client.Database("shop").Collection("copy")
	testenv.WaitFor(t, "readiness", func() bool { code, _ := get(t, d, "/readyz"); return code == 200 })
	for i := range 20 {
		if _, err := orders.InsertOne(context.Background(), bson.D{{Key: "_id", Value: i}, {Key: "n", Value: i * i}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := orders.DeleteOne(context.Background(), bson.D{{Key: "_id", Value: 3}}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the copy", func() bool { return testenv.Dump(t, copied) == testenv.Dump(t, orders) })

	// The copy can be written before the source saves its token, and
	// before the sink's batch is committed and timed.
	testenv.WaitFor(t, "the sink's commit", func() bool {
		_, body := get(t, d, "/metrics")
		return strings.Contains(body, `schemaflow_records_in_total{kind="sink",pipeline="in"} 21`) &&
			strings.Contains(body, `schemaflow_records_out_total{kind="source",pipeline="out"} 21`) &&
			strings.Contains(body, `schemaflow_batch_duration_seconds_count{pipeline="in"}`)
	})
	code, body := get(t, d, "/metrics")
	for _, want := range []string{
		`schemaflow_records_out_total{kind="source",pipeline="out"} 21`,
		`schemaflow_records_in_total{kind="sink",pipeline="in"} 21`,
		`schemaflow_schema_registrations_total{pipeline="out"} 2`,
		`schemaflow_pipeline_up{pipeline="in"} 1`,
		`schemaflow_batch_duration_seconds_count{pipeline="in"}`,
		`# TYPE schemaflow_batch_duration_seconds histogram`,
		`schemaflow_consumer_lag_records{pipeline="in"} 0`,
		`schemaflow_copy_estimated_documents{pipeline="out"} 0`,
		`schemaflow_copy_documents_total{pipeline="out"} 0`,
		`schemaflow_source_events_skipped_total{pipeline="out",reason="no_full_document"} 0`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if code, body := get(t, d, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz %d %q", code, body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, s := range d.Status() {
		if s.State != StateStopped {
			t.Errorf("%s is %s after the stop", s.Name, s.State)
		}
	}
}

// A failing pipeline restarts with backoff while the others go on; with
// on_failure stop it stays down; with exit it stops the daemon.
func TestFailureIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(topic, value string) {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce("poison", "not a framed record")
	for i := range 5 {
		produce("good", fmt.Sprintf(`{"_id": %d}`, i))
	}
	d, stop := e.start(t, e.specs(t, header+`
  - name: restarts
    mongodb: {collection: a}
    sink: {topics: [poison], plain_json: false}
    restart: {backoff: 10ms, max_backoff: 40ms}
  - name: stops
    on_failure: stop
    mongodb: {collection: b}
    sink: {topics: [poison], value: {format: registry}}
  - name: healthy
    mongodb: {collection: c}
    sink: {topics: [good], plain_json: true, id_strategy: value, max_wait: 5ms}
`))
	status := func(name string) Status {
		for _, s := range d.Status() {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no pipeline %s", name)
		return Status{}
	}
	testenv.WaitFor(t, "restarts", func() bool { return status("restarts").Restarts >= 3 })
	testenv.WaitFor(t, "the healthy pipeline's records", func() bool { return status("healthy").Out == 5 })
	testenv.WaitFor(t, "the stopped pipeline", func() bool { return status("stops").State == StateFailed })
	if s := status("restarts"); !strings.Contains(s.LastErr, "poison/0/0") || !strings.Contains(s.LastErr, "undecodable") {
		t.Errorf("last error %q, want the record named", s.LastErr)
	}
	code, body := get(t, d, "/readyz")
	if code != 503 || !strings.Contains(body, "stops: failed: mongosink: poison/0/0: undecodable") {
		t.Errorf("readyz %d:\n%s", code, body)
	}
	_, metrics := get(t, d, "/metrics")
	for _, want := range []string{`schemaflow_errors_total{class="undecodable",pipeline="stops"} 1`, `schemaflow_pipeline_up{pipeline="healthy"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	exiting, err := New(context.Background(), e.specs(t, header+`
  - name: exits
    on_failure: exit
    mongodb: {collection: d}
    sink: {topics: [poison], value: {format: registry}}
`), Options{Logger: testenv.Quiet(), Connections: e.conns})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = exiting.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "pipeline exits (test.yaml:7)") || ctx.Err() != nil {
		t.Fatalf("err = %v, want the failed pipeline and its spec line", err)
	}
}

// Problems found when pipelines are built name the spec line.
func TestBuildErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := New(context.Background(), e.specs(t, header+`
  - name: unreachable
    mongodb: {uri: "mongodb://host:port-is-not-a-number", database: shop, collection: a}
    source: {topic: t}
`), Options{Logger: testenv.Quiet()})
	if err == nil || !strings.HasPrefix(err.Error(), "test.yaml:7: pipeline unreachable: ") {
		t.Fatalf("err = %v", err)
	}
	// The embedded engine applies $match stages only; others are refused
	// rather than silently ignored.
	_, err = New(context.Background(), e.specs(t, header+`
  - name: projecting
    mongodb: {collection: a}
    source:
      filter:
        - $match: {operationType: insert}
        - $project: {fullDocument: 1}
`), Options{Logger: testenv.Quiet(), Connections: e.conns})
	if err == nil || !strings.Contains(err.Error(), "test.yaml:7: pipeline projecting: source.filter[1]: the embedded MongoDB (lungo) applies only $match stages") {
		t.Fatalf("err = %v", err)
	}
}

// A source on a whole database, with a filter: each collection's inserts
// go to their own topic (db.coll, prefixed), the filtered-out updates
// nowhere; a sink per topic writes them back.
func TestDatabaseSourceWithFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d, stop := e.start(t, e.specs(t, header+`
  - name: all-shop
    mongodb: {database: shop}
    source:
      topic_prefix: cdc
      filter:
        - $match: {operationType: insert}
  - name: back
    mongodb: {database: replica}
    sink:
      topics: [cdc.shop.orders, cdc.shop.users]
      topic_namespaces: {cdc.shop.orders: replica.orders, cdc.shop.users: replica.users}
      id_strategy: key
      max_wait: 5ms
`))
	client, err := e.conns.Client(context.Background(), "lungo:memory")
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "readiness", func() bool { code, _ := get(t, d, "/readyz"); return code == 200 })
	ctx := context.Background()
	shop, replica := client.Database("shop"), client.Database("replica")
	for i := range 3 {
		for _, coll := range []string{"orders", "users"} {
			if _, err := shop.Collection(coll).InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: coll}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Not an insert: filtered out, so the replica keeps v: orders.
	if _, err := shop.Collection("orders").UpdateOne(ctx, bson.D{{Key: "_id", Value: 0}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "changed"}}}}); err != nil {
		t.Fatal(err)
	}
	for _, coll := range []string{"orders", "users"} {
		want := fmt.Sprintf(`{"docs":[{"_id":{"$numberInt":"0"},"v":"%[1]s"},{"_id":{"$numberInt":"1"},"v":"%[1]s"},{"_id":{"$numberInt":"2"},"v":"%[1]s"}]}`, coll)
		testenv.WaitFor(t, "replica."+coll, func() bool { return testenv.Dump(t, replica.Collection(coll)) == want })
	}
	// A marker insert after the update: once the source has counted it,
	// everything before it in the stream is counted, so a published update
	// would make the count 8.
	if _, err := shop.Collection("orders").InsertOne(ctx, bson.D{{Key: "_id", Value: 99}, {Key: "v", Value: "marker"}}); err != nil {
		t.Fatal(err)
	}
	out := func() int64 {
		for _, s := range d.Status() {
			if s.Name == "all-shop" {
				return s.Out
			}
		}
		return -1
	}
	testenv.WaitFor(t, "the marker counted", func() bool { return out() >= 7 })
	if n := out(); n != 7 {
		t.Errorf("the source published %d records, want the 6 inserts and the marker", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// Two daemons on the same spec: one runs the source, the other stands by;
// when the first stops, the second takes over from the saved resume token;
// the sinks share the topic's partitions. The copy ends equal, and the
// source never runs on both at once.
func TestHighAvailability(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	spec := header + `
  - name: out
    mongodb: {collection: orders}
    source: {topic: ha.orders}
  - name: in
    mongodb: {collection: copy}
    sink: {topics: [ha.orders], id_strategy: key, max_wait: 5ms}
`
	d1, stop1 := e.start(t, e.specs(t, spec))
	d2, stop2 := e.start(t, e.specs(t, spec))
	ready := func(d *Daemon) bool { code, _ := get(t, d, "/readyz"); return code == 200 }
	testenv.WaitFor(t, "both daemons ready", func() bool { return ready(d1) && ready(d2) })
	source := func(d *Daemon) Status { return d.Status()[0] }
	active := func() []*Daemon {
		var a []*Daemon
		for _, d := range []*Daemon{d1, d2} {
			if !source(d).Standby {
				a = append(a, d)
			}
		}
		return a
	}
	testenv.WaitFor(t, "one active source", func() bool { return len(active()) == 1 })
	owner := active()[0]
	stopOwner, other := stop1, d2
	if owner == d2 {
		stopOwner, other = stop2, d1
	}
	_, metrics := get(t, owner, "/metrics")
	if !strings.Contains(metrics, `schemaflow_source_active{pipeline="out"} 1`) {
		t.Errorf("the owner's metrics lack source_active 1")
	}

	client, err := e.conns.Client(context.Background(), "lungo:memory")
	if err != nil {
		t.Fatal(err)
	}
	orders, copied := client.Database("shop").Collection("orders"), client.Database("shop").Collection("copy")
	watchBoth := make(chan struct{})
	both := make(chan bool, 1)
	go func() {
		seen := false
		for {
			select {
			case <-watchBoth:
				both <- seen
				return
			default:
			}
			if len(active()) > 1 {
				seen = true
			}
			time.Sleep(time.Millisecond)
		}
	}()
	insert := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := orders.InsertOne(context.Background(), bson.D{{Key: "_id", Value: i}, {Key: "n", Value: i}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(0, 20)
	testenv.WaitFor(t, "the first copy", func() bool { return testenv.Dump(t, copied) == testenv.Dump(t, orders) })

	if err := stopOwner(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the takeover", func() bool { return !source(other).Standby && ready(other) })
	insert(20, 40)
	testenv.WaitFor(t, "the copy after the takeover", func() bool { return testenv.Dump(t, copied) == testenv.Dump(t, orders) })
	close(watchBoth)
	if <-both {
		t.Error("the source ran on both daemons at once")
	}
	// Records can be copied before their resume token is saved and counted.
	testenv.WaitFor(t, "the new owner's saved batches", func() bool { return source(other).Out >= 20 })
	if n := source(other).Out; n > 40 {
		t.Errorf("the new owner published %d records, want the 20 new ones (and at most a replay)", n)
	}
	if err := map[bool]func() error{true: stop2, false: stop1}[other == d2](); err != nil {
		t.Fatal(err)
	}
}

// Kafka with SASL: a pipeline with the right login works; a wrong one
// fails with the broker's reason, and restarts.
func TestKafkaSASL(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "sf", "s3cret"), kfake.Superuser("PLAIN", "plain", "pw"),
		kfake.SeedTopics(1, "secure"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.SASL(scram.Auth{User: "sf", Pass: "s3cret"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "secure", Value: []byte(`{"_id": 1, "ok": true}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	conns := &Connections{}
	t.Cleanup(func() { conns.Close(context.Background()) })
	vars := map[string]string{"KAFKA": brokers[0]}
	f, err := spec.Parse("sasl.yaml", []byte(`version: 1
kafka: {brokers: ["${KAFKA}"]}
mongodb: {uri: "lungo:memory", database: d}
pipelines:
  - name: scram
    kafka: {sasl: {mechanism: SCRAM-SHA-256, username: sf, password: s3cret}}
    mongodb: {collection: scram}
    sink: {topics: [secure], plain_json: true, id_strategy: value, max_wait: 5ms}
  - name: plain
    kafka: {sasl: {mechanism: PLAIN, username: plain, password: pw}}
    mongodb: {collection: plain}
    sink: {topics: [secure], plain_json: true, id_strategy: value, max_wait: 5ms}
  - name: wrong
    kafka: {sasl: {mechanism: SCRAM-SHA-256, username: sf, password: guess}}
    restart: {backoff: 10ms, max_backoff: 20ms}
    mongodb: {collection: wrong}
    sink: {topics: [secure], plain_json: true}
`), func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(context.Background(), []*spec.File{f}, Options{Logger: testenv.Quiet(), Connections: conns})
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
		return Status{}
	}
	testenv.WaitFor(t, "the SCRAM and PLAIN sinks", func() bool { return status("scram").Out == 1 && status("plain").Out == 1 })
	// kfake drops the connection of a refused login, as some brokers do:
	// the pipeline cannot join its group, and is not ready. The two sinks
	// that started with it have read the record: it had the same time.
	if s := status("wrong"); s.State != StateStarting || s.Out != 0 {
		t.Errorf("the wrong login: %+v", s)
	}
	if code, body := get(t, d, "/readyz"); code != 503 || strings.TrimSpace(body) != "wrong: starting" {
		t.Errorf("readyz %d %q", code, body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// Protobuf end to end: the source infers and evolves proto3 messages under
// record-name subjects, the sink decodes them by schema id; the copy
// equals the original across a schema change mid-stream.
func TestProtobufEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d, stop := e.start(t, e.specs(t, header+`
  - name: out
    mongodb: {collection: readings}
    source: {topic: pb.readings, format: protobuf, namespace: iot.v1, subject_strategy: record}
  - name: in
    mongodb: {collection: readings_copy}
    sink: {topics: [pb.readings], id_strategy: key, max_wait: 5ms}
`))
	client, err := e.conns.Client(context.Background(), "lungo:memory")
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "readiness", func() bool { code, _ := get(t, d, "/readyz"); return code == 200 })
	ctx := context.Background()
	src, dst := client.Database("shop").Collection("readings"), client.Database("shop").Collection("readings_copy")
	for i := range 10 {
		doc := bson.D{{Key: "_id", Value: int64(i)}, {Key: "sensor", Value: "t-1"}, {Key: "celsius", Value: 20.5 + float64(i)}}
		if i >= 5 { // a new field mid-stream: a new, compatible version
			doc = append(doc, bson.E{Key: "tags", Value: bson.A{"roof", fmt.Sprint(i)}})
		}
		if _, err := src.InsertOne(ctx, doc); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, "the copy", func() bool { return testenv.Dump(t, dst) == testenv.Dump(t, src) })
	reg, _ := registry.NewClient(e.registry, registry.ClientOptions{})
	versions, err := reg.Versions(ctx, "iot.v1.Readings", false)
	if err != nil || len(versions) != 2 {
		t.Fatalf("versions of iot.v1.Readings: %v (%v), want 2", versions, err)
	}
	latest, err := reg.Version(ctx, "iot.v1.Readings", versions[1], false)
	if err != nil || latest.SchemaType != registry.TypeProtobuf || !strings.Contains(latest.Schema, "package iot.v1;") {
		t.Fatalf("latest version: %+v (%v)", latest, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

package mongosink

import (
	"context"
	"fmt"
	"github.com/256dpi/lungo"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/internal/ferret"
	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/processor/sink"
)

func newFerretEnv(t testing.TB, topics ...string) *env {
	t.Helper()
	client := ferret.Client(t)
	e := newKafkaRegistry(t, topics...)
	e.use(client)
	return e
}

// Over the wire to FerretDB: Avro records upserted, a duplicate insert
// dead-lettered from a real BulkWriteException, and a Debezium row life.
func TestFerretDB(t *testing.T) {
	t.Parallel()
	// FerretDB v1 ignores $push's $slice, so truncated arrays stay whole.
	wireScenario(t, newFerretEnv(t, "orders", "inserts", "pg", "changes", "dlq"), false)
}

// Against a real MongoDB replica set, when SCHEMAFLOW_TEST_MONGODB_URI
// names one: the same scenario, in a database of its own that is dropped
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
	db := fmt.Sprintf("schemaflow_test_%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = client.Database(db).Drop(context.Background()) })
	e := newKafkaRegistry(t, "orders", "inserts", "pg", "changes", "dlq")
	e.database = db
	e.use(client)
	wireScenario(t, e, true)
}

func wireScenario(t *testing.T, e *env, truncates bool) {
	t.Helper()
	e.produce(t,
		&kgo.Record{Topic: "orders", Key: key(1), Value: e.order(t, 1, "new", 1)},
		&kgo.Record{Topic: "orders", Key: key(2), Value: e.order(t, 2, "new", 1)},
		&kgo.Record{Topic: "orders", Key: key(1), Value: e.order(t, 1, "paid", 2)},
		// A frame whose payload does not decode: poison in every format.
		&kgo.Record{Topic: "orders", Key: key(3), Value: append(e.order(t, 9, "x", 1)[:5], 0xff)},
	)
	cfg := e.config(t)
	cfg.Tolerance, cfg.DeadLetterTopic = ToleranceAll, "dlq"
	p, stop := start(t, cfg)
	testenv.WaitFor(t, "orders", func() bool { s := p.Stats(); return s.Written+s.DeadLetter == 4 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want := `{"docs":[{"_id":{"$numberLong":"1"},"status":"paid","version":{"$numberLong":"2"}},{"_id":{"$numberLong":"2"},"status":"new","version":{"$numberLong":"1"}}]}`
	if got := e.state(t, e.db(), "orders"); got != want {
		t.Fatalf("orders:\n got %s\nwant %s", got, want)
	}

	e.produce(t,
		&kgo.Record{Topic: "inserts", Partition: 0, Value: []byte(`{"_id": 1, "n": "first"}`)},
		&kgo.Record{Topic: "inserts", Partition: 0, Value: []byte(`{"_id": 1, "n": "again"}`)},
		&kgo.Record{Topic: "inserts", Partition: 0, Value: []byte(`{"_id": 2, "n": "next"}`)},
	)
	cfg = e.config(t)
	cfg.Group, cfg.Topics = "inserts", []string{"inserts"}
	cfg.Sink.Write = sink.WriteInsert
	cfg.Tolerance, cfg.DeadLetterTopic = ToleranceAll, "dlq"
	p, stop = start(t, cfg)
	testenv.WaitFor(t, "inserts", func() bool { s := p.Stats(); return s.Written+s.DeadLetter == 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := e.state(t, e.db(), "inserts"), `{"docs":[{"_id":{"$numberInt":"1"},"n":"first"},{"_id":{"$numberInt":"2"},"n":"next"}]}`; got != want {
		t.Fatalf("inserts: got %s, want %s", got, want)
	}
	classes := map[string]bool{}
	for _, r := range e.consume(t, "dlq", 2) {
		for _, h := range r.Headers {
			if h.Key == HeaderClass {
				classes[string(h.Value)] = true
			}
		}
	}
	if !classes[ClassDuplicateKey] || !classes["undecodable"] {
		t.Fatalf("dead-letter classes %v, want duplicate-key and undecodable", classes)
	}

	e.produce(t,
		&kgo.Record{Topic: "pg", Key: []byte(`{"id": 1}`), Value: []byte(`{"after": {"id": 1, "total": 5}, "op": "c"}`)},
		&kgo.Record{Topic: "pg", Key: []byte(`{"id": 1}`), Value: []byte(`{"before": {"id": 1}, "after": {"id": 1, "total": 9}, "op": "u"}`)},
		&kgo.Record{Topic: "pg", Key: []byte(`{"id": 2}`), Value: []byte(`{"after": {"id": 2, "total": 1}, "op": "r"}`)},
		&kgo.Record{Topic: "pg", Key: []byte(`{"id": 2}`), Value: []byte(`{"before": {"id": 2}, "op": "d"}`)},
	)
	cfg = e.config(t)
	cfg.Group, cfg.Topics, cfg.Collection, cfg.Handler = "pg", []string{"pg"}, "rows", sink.HandlerDebeziumRDBMS
	p, stop = start(t, cfg)
	testenv.WaitFor(t, "rows", func() bool { return p.Stats().Written == 4 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := e.state(t, e.db(), "rows"), `{"docs":[{"_id":{"id":{"$numberInt":"1"}},"total":{"$numberInt":"9"}}]}`; got != want {
		t.Fatalf("rows: got %s, want %s", got, want)
	}

	// MongoDB change events, truncated arrays included.
	e.produce(t,
		&kgo.Record{Topic: "changes", Partition: 0, Value: []byte(`{"operationType": "insert", "documentKey": {"_id": 1}, "fullDocument": {"_id": 1, "tags": ["a", "b", "c"], "n": 1, "x": true}}`)},
		&kgo.Record{Topic: "changes", Partition: 0, Value: []byte(`{"operationType": "update", "documentKey": {"_id": 1}, "updateDescription": {"updatedFields": {"n": 2}, "removedFields": ["x"], "truncatedArrays": [{"field": "tags", "newSize": 1}]}}`)},
		&kgo.Record{Topic: "changes", Partition: 0, Value: []byte(`{"operationType": "replace", "documentKey": {"_id": 2}, "fullDocument": {"_id": 2, "v": "new"}}`)},
		&kgo.Record{Topic: "changes", Partition: 0, Value: []byte(`{"operationType": "delete", "documentKey": {"_id": 2}}`)},
	)
	cfg = e.config(t)
	cfg.Group, cfg.Topics, cfg.Collection, cfg.Handler = "changes", []string{"changes"}, "docs", sink.HandlerMongoDB
	p, stop = start(t, cfg)
	testenv.WaitFor(t, "changes", func() bool { return p.Stats().Written == 4 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want = `{"docs":[{"_id":{"$numberInt":"1"},"tags":["a"],"n":{"$numberInt":"2"}}]}`
	if !truncates {
		want = strings.Replace(want, `["a"]`, `["a","b","c"]`, 1)
	}
	if got := e.state(t, e.db(), "docs"); got != want {
		t.Fatalf("changes: got %s, want %s", got, want)
	}
}

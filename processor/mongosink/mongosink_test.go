package mongosink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/processor/sink"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

const orderSchema = `{"type": "record", "name": "Order", "fields": [
	{"name": "_id", "type": "long"},
	{"name": "status", "type": "string"},
	{"name": "version", "type": "long"}
]}`

// env is a kfake cluster, a registry over real HTTP and a lungo engine.
type env struct {
	brokers []string
	reg     *registry.Client
	target  Target
	mongo   lungo.IClient // what target writes to
	serde   *serde.Serde
	quiet   *slog.Logger
	// database is the target database; default "shop".
	database string
}

func (e *env) db() string {
	if e.database == "" {
		return "shop"
	}
	return e.database
}

// newEnv is an env on lungo's memory store.
func newEnv(t testing.TB, topics ...string) *env {
	t.Helper()
	e := newKafkaRegistry(t, topics...)
	e.use(testenv.Lungo(t))
	return e
}

// use makes client the env's MongoDB target.
func (e *env) use(client lungo.IClient) {
	e.mongo = client
	e.target = func(db, coll string) Collection { return client.Database(db).Collection(coll) }
}

// newKafkaRegistry is an env without a MongoDB target.
func newKafkaRegistry(t testing.TB, topics ...string) *env {
	t.Helper()
	brokers := testenv.Kafka(t, kfake.SeedTopics(3, topics...))
	reg, _ := testenv.Registry(t, registry.ClientOptions{})
	id, err := reg.Register(context.Background(), "orders-value", registry.RegisterRequest{Schema: orderSchema}, false)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := serde.New([]byte(orderSchema), serde.Options{Format: schemas.Avro, ID: uint32(id)})
	if err != nil {
		t.Fatal(err)
	}
	return &env{brokers: brokers, reg: reg, serde: sd, quiet: testenv.Quiet()}
}

func (e *env) config(testing.TB) Config {
	return Config{
		Brokers:  e.brokers,
		Group:    "sink",
		Topics:   []string{"orders"},
		Decoder:  decode.New(decode.Options{Registry: e.reg, Logger: e.quiet}),
		Target:   e.target,
		Database: e.db(),
		MaxBatch: 50,
		MaxWait:  5 * time.Millisecond,
		Backoff:  time.Millisecond,
		Logger:   e.quiet,
	}
}

// order encodes an order value in the Confluent wire format.
func (e *env) order(t *testing.T, id int64, status string, version int64) []byte {
	t.Helper()
	raw, err := bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "status", Value: status}, {Key: "version", Value: version}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.serde.Encode(nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) produce(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// consume reads n records of a topic from the start.
func (e *env) consume(t *testing.T, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: got %d records, want %d", topic, len(out), n)
		}
		out = append(out, f.Records()...)
	}
	return out
}

// state returns the collection's documents as JSON, sorted by _id.
func (e *env) state(t *testing.T, db, coll string) string {
	t.Helper()
	return testenv.Dump(t, e.mongo.Database(db).Collection(coll))
}

// start runs a pipeline in the background; stop cancels it and returns
// what Run returned.
func start(t *testing.T, cfg Config) (*Pipeline, func() error) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, testenv.Start(p.Run)
}

func key(id int64) []byte { return []byte(fmt.Sprintf(`{"id": %d}`, id)) }

// Poison records go to the dead-letter topic with Connect's headers, and
// the good records around them are written. Values are read as registry
// records, so plain ones are poison too.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders", "orders-dlq")
	poison := []struct {
		value []byte
		class string
	}{
		{[]byte{0, 0, 0, 0x03, 0xe7, 2, 4}, decode.ClassUnknownSchema},
		{[]byte("not json"), decode.ClassUndecodable},
		{append(e.order(t, 9, "x", 1)[:5], 0xff), decode.ClassUndecodable},
		{[]byte(`{"_id": 2, "status": "plain", "version": 1}`), decode.ClassUndecodable},
	}
	recs := []*kgo.Record{{Topic: "orders", Key: key(1), Value: e.order(t, 1, "new", 1)}}
	for _, p := range poison {
		recs = append(recs, &kgo.Record{Topic: "orders", Key: key(5), Value: p.value})
	}
	recs = append(recs,
		&kgo.Record{Topic: "orders", Key: key(2), Value: e.order(t, 2, "framed", 1)},
		&kgo.Record{Topic: "orders", Key: key(1), Value: e.order(t, 1, "paid", 2)},
	)
	e.produce(t, recs...)

	cfg := e.config(t)
	cfg.Decoder = decode.New(decode.Options{Registry: e.reg, ValueFormat: decode.FormatRegistry, Logger: e.quiet})
	cfg.Tolerance, cfg.DeadLetterTopic = ToleranceAll, "orders-dlq"
	p, stop := start(t, cfg)
	testenv.WaitFor(t, "all records", func() bool { s := p.Stats(); return s.Written+s.DeadLetter == int64(len(recs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want := `{"docs":[{"_id":{"$numberLong":"1"},"status":"paid","version":{"$numberLong":"2"}},{"_id":{"$numberLong":"2"},"status":"framed","version":{"$numberLong":"1"}}]}`
	if got := e.state(t, "shop", "orders"); got != want {
		t.Fatalf("state:\n got %s\nwant %s", got, want)
	}
	if s := p.Stats(); s.DeadLetter != int64(len(poison)) {
		t.Fatalf("dead letters = %d, want %d", s.DeadLetter, len(poison))
	}

	byValue := map[string]*kgo.Record{}
	for _, r := range e.consume(t, "orders-dlq", len(poison)) {
		byValue[string(r.Value)] = r
	}
	for _, p := range poison {
		r := byValue[string(p.value)]
		if r == nil {
			t.Fatalf("%q: not in the dead-letter topic", p.value)
		}
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if h[HeaderClass] != p.class || h[HeaderTopic] != "orders" || h[HeaderPartition] == "" || h[HeaderOffset] == "" || h[HeaderMessage] == "" {
			t.Errorf("%q: headers %v, want class %s", p.value, h, p.class)
		}
		if string(r.Key) != string(key(5)) {
			t.Errorf("%q: key %q not kept", p.value, r.Key)
		}
	}
}

// With tolerance none, a poison record stops the pipeline, names itself,
// and its offset is not committed: the next run meets it again.
func TestToleranceNoneStops(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders")
	e.produce(t,
		&kgo.Record{Topic: "orders", Key: key(1), Partition: 0, Value: e.order(t, 1, "new", 1)},
		// A frame whose schema resolves but whose payload does not decode:
		// undecodable in every format (auto, the default, included).
		&kgo.Record{Topic: "orders", Key: key(1), Partition: 0, Value: append(e.order(t, 9, "x", 1)[:5], 0xff)},
	)
	for run := range 2 {
		p, err := New(e.config(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = p.Run(ctx)
		cancel()
		var re *RecordError
		if !errors.As(err, &re) || re.Topic != "orders" || re.Class != decode.ClassUndecodable {
			t.Fatalf("run %d: err = %v, want an undecodable RecordError", run, err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("orders/%d/%d", re.Partition, re.Offset)) {
			t.Fatalf("run %d: %v does not name the record", run, err)
		}
	}
}

// Killed at random points and restarted, the pipeline ends with the
// collection in the state the records describe.
func TestRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders")
	const ids, versions = 40, 10
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []*kgo.Record
	for v := int64(1); v <= versions; v++ {
		for id := int64(1); id <= ids; id++ {
			recs = append(recs, &kgo.Record{Topic: "orders", Key: key(id), Value: e.order(t, id, fmt.Sprintf("s%d", v), v)})
		}
	}
	e.produce(t, recs...)
	var want []bson.D
	for id := int64(1); id <= ids; id++ {
		want = append(want, bson.D{{Key: "_id", Value: id}, {Key: "status", Value: fmt.Sprintf("s%d", versions)}, {Key: "version", Value: int64(versions)}})
	}
	wantJSON, _ := bson.MarshalExtJSON(bson.D{{Key: "docs", Value: want}}, true, false)

	cfg := e.config(t)
	cfg.MaxBatch = 7
	total, committed := int64(0), int64(0) // written and committed by the runs
	for range 6 {
		p, stop := start(t, cfg)
		// Killed at a random point: the point is the test, not a wait.
		// (Stopping after a number of records instead would wait on
		// kfake, whose group sometimes keeps a left member's partitions
		// for its session timeout, long after an early stop.)
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		total += p.Stats().Written
		committed += p.committedRecords
	}
	// The last run reads exactly what the earlier runs did not commit (as
	// the group's offsets say): it must not replay what they committed.
	if got := e.committed(t, "sink", "orders"); got != committed {
		t.Fatalf("the group's offsets cover %d records; the runs counted %d committed", got, committed)
	}
	rest := int64(len(recs)) - committed
	p, stop := start(t, cfg)
	testenv.WaitFor(t, "the final state", func() bool {
		return p.Stats().Written >= rest && e.state(t, "shop", "orders") == string(wantJSON)
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if last := p.Stats().Written; last != rest || p.committedRecords != rest {
		t.Fatalf("the last run wrote %d and committed %d records, want exactly the %d the earlier runs left uncommitted", last, p.committedRecords, rest)
	}
	if got := e.state(t, "shop", "orders"); got != string(wantJSON) {
		t.Fatalf("state after restarts:\n got %s\nwant %s", got, wantJSON)
	}
	t.Logf("runs wrote %d records (committed %d) before the last run, which wrote %d of %d", total, committed, rest, len(recs))
}

// committed is the records of topic the group's committed offsets cover.
func (e *env) committed(t *testing.T, group, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offsets, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	offsets.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			n += o.At
		}
	})
	return n
}

// A duplicate key on insert goes to the dead-letter topic alone: the
// records before and after it are written once.
func TestDuplicateKeyOnInsert(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders", "dlq")
	e.produce(t,
		&kgo.Record{Topic: "orders", Partition: 0, Value: []byte(`{"_id": 1, "n": "first"}`)},
		&kgo.Record{Topic: "orders", Partition: 0, Value: []byte(`{"_id": 1, "n": "again"}`)},
		&kgo.Record{Topic: "orders", Partition: 0, Value: []byte(`{"_id": 2, "n": "next"}`)},
	)
	cfg := e.config(t)
	cfg.Sink.Write = sink.WriteInsert
	cfg.Tolerance, cfg.DeadLetterTopic = ToleranceAll, "dlq"
	p, stop := start(t, cfg)
	testenv.WaitFor(t, "all records", func() bool { s := p.Stats(); return s.Written+s.DeadLetter == 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := e.state(t, "shop", "orders"), `{"docs":[{"_id":{"$numberInt":"1"},"n":"first"},{"_id":{"$numberInt":"2"},"n":"next"}]}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	dl := e.consume(t, "dlq", 1)[0]
	for _, h := range dl.Headers {
		if h.Key == HeaderClass && string(h.Value) != ClassDuplicateKey {
			t.Fatalf("class %s, want %s", h.Value, ClassDuplicateKey)
		}
	}
	if !strings.Contains(string(dl.Value), "again") {
		t.Fatalf("dead letter %s, want the second insert", dl.Value)
	}
}

// Namespaces come from the config, per topic, or from a field.
func TestNamespaces(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders", "events", "dlq")
	e.produce(t,
		&kgo.Record{Topic: "orders", Value: []byte(`{"_id": 1}`)},
		&kgo.Record{Topic: "events", Value: []byte(`{"_id": 2}`)},
		&kgo.Record{Topic: "events", Value: []byte(`{"_id": 3, "ns": {"db": "other", "coll": "x"}}`)},
		&kgo.Record{Topic: "events", Value: []byte(`{"_id": 4, "ns": "y"}`)},
		&kgo.Record{Topic: "events", Value: []byte(`{"_id": 5, "ns": 5}`)},
	)
	cfg := e.config(t)
	cfg.Topics = []string{"orders", "events"}
	cfg.TopicNamespaces = map[string]Namespace{"events": {Collection: "ev"}}
	cfg.NamespaceField = "ns"
	cfg.Tolerance, cfg.DeadLetterTopic = ToleranceAll, "dlq"
	p, stop := start(t, cfg)
	testenv.WaitFor(t, "all records", func() bool { s := p.Stats(); return s.Written+s.DeadLetter == 5 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ db, coll, want string }{
		{"shop", "orders", `{"docs":[{"_id":{"$numberInt":"1"}}]}`},
		{"shop", "ev", `{"docs":[{"_id":{"$numberInt":"2"}}]}`},
		{"other", "x", `{"docs":[{"_id":{"$numberInt":"3"},"ns":{"db":"other","coll":"x"}}]}`},
		{"shop", "y", `{"docs":[{"_id":{"$numberInt":"4"},"ns":"y"}]}`},
	} {
		if got := e.state(t, c.db, c.coll); got != c.want {
			t.Errorf("%s.%s: got %s, want %s", c.db, c.coll, got, c.want)
		}
	}
	if s := p.Stats(); s.DeadLetter != 1 {
		t.Errorf("dead letters = %d, want 1 (the numeric ns)", s.DeadLetter)
	}
}

// Debezium rows through the pipeline become documents keyed by the row's
// primary key.
func TestDebeziumPipeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pg.public.orders")
	env := func(op, after string) []byte {
		return []byte(fmt.Sprintf(`{"before": null, "after": %s, "op": %q, "source": {"connector": "postgresql", "table": "orders"}}`, after, op))
	}
	e.produce(t,
		&kgo.Record{Topic: "pg.public.orders", Key: []byte(`{"id": 1}`), Value: env("r", `{"id": 1, "total": 5}`)},
		&kgo.Record{Topic: "pg.public.orders", Key: []byte(`{"id": 2}`), Value: env("c", `{"id": 2, "total": 6}`)},
		&kgo.Record{Topic: "pg.public.orders", Key: []byte(`{"id": 2}`), Value: env("d", `null`)},
		&kgo.Record{Topic: "pg.public.orders", Key: []byte(`{"id": 2}`)},
	)
	cfg := e.config(t)
	cfg.Topics = []string{"pg.public.orders"}
	cfg.Collection = "orders"
	cfg.Handler = sink.HandlerDebeziumRDBMS
	p, stop := start(t, cfg)
	testenv.WaitFor(t, "all records", func() bool { return p.Stats().Written == 4 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := e.state(t, "shop", "orders"), `{"docs":[{"_id":{"id":{"$numberInt":"1"}},"total":{"$numberInt":"5"}}]}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Tolerance: "some", Handler: "oracle", Topics: []string{"t"}, MaxBatch: -1})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Brokers", "Group", "Decoder", "Target", "Database", "MaxBatch: must not be negative", `Tolerance: "some"`, `Handler: "oracle"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	_, err = New(Config{Brokers: []string{"b"}, Group: "g", Topics: []string{"t"}, Decoder: decode.New(decode.Options{}),
		Target: func(string, string) Collection { return nil }, Database: "d", Tolerance: ToleranceAll})
	if err == nil || !strings.Contains(err.Error(), "DeadLetterTopic: required with tolerance all") {
		t.Fatalf("err = %v, want the missing dead-letter topic", err)
	}
}

// Keys and values in the formats producers use, read through the
// pipeline on kfake into lungo. Under auto (the default) a topic mixing
// framed and plain records is read whole, and a scalar key becomes the
// _id as it is under id_strategy key; forcing a format sends what does
// not fit it to the dead-letter topic.
func TestRecordFormats(t *testing.T) {
	t.Parallel()
	type rec struct{ key, value []byte }
	tests := []struct {
		name       string
		key, value decode.Format
		id         sink.IDStrategy
		recs       []rec
		want       string // the collection
		dead       int64
	}{{
		name: "auto: plain string, number, bytes and JSON keys; framed and plain values",
		id:   sink.IDKey,
		recs: []rec{
			{[]byte("order-17"), []byte(`{"status": "new"}`)}, // kcat -K: string key, JSON value
			{[]byte("42"), nil},                                                 // franz-go: a number as text; a tombstone of nothing yet
			{[]byte("42"), []byte(`{"status": "json"}`)},                        // then its value
			{[]byte{0xca, 0xfe}, []byte("plain text")},                          // raw bytes key, a string value
			{[]byte(`"quoted"`), nil},                                           // a JSON string key, tombstone: nothing to delete
			{[]byte(`{"_id": 8}`), []byte(`{"_id": 8, "status": "plain doc"}`)}, // a document key
		},
		want: `{"docs":[{"_id":{"$numberInt":"8"},"status":"plain doc"},{"_id":{"$numberInt":"42"},"status":"json"},{"_id":"order-17","status":"new"},{"_id":{"$binary":{"base64":"yv4=","subType":"00"}},"value":"plain text"}]}`,
	}, {
		name: "ignore the key, id from the value",
		key:  decode.FormatIgnore, id: sink.IDValue,
		recs: []rec{{[]byte{0, 0, 0, 0, 1, 2}, []byte(`{"_id": "a", "n": 1}`)}, {[]byte("x"), []byte(`{"_id": "b", "n": 2}`)}},
		want: `{"docs":[{"_id":"a","n":{"$numberInt":"1"}},{"_id":"b","n":{"$numberInt":"2"}}]}`,
	}, {
		name: "string values and keys taken as they are",
		key:  decode.FormatString, value: decode.FormatString, id: sink.IDKey,
		recs: []rec{{[]byte("k1"), []byte(`{"looks": "like json"}`)}},
		want: `{"docs":[{"_id":"k1","value":"{\"looks\": \"like json\"}"}]}`,
	}, {
		name: "bytes values",
		key:  decode.FormatString, value: decode.FormatBytes, id: sink.IDKey,
		recs: []rec{{[]byte("k1"), []byte("ab")}},
		want: `{"docs":[{"_id":"k1","value":{"$binary":{"base64":"YWI=","subType":"00"}}}]}`,
	}, {
		name:  "registry values refuse the plain ones",
		value: decode.FormatRegistry, id: sink.IDKey,
		recs: []rec{{[]byte("k1"), []byte(`{"status": "plain"}`)}, {[]byte("k2"), []byte("text")}},
		want: `{"docs":null}`, dead: 2,
	}, {
		name: "partial-key needs a document key",
		id:   sink.IDPartialKey,
		recs: []rec{{[]byte("k1"), []byte(`{"status": "x"}`)}},
		want: `{"docs":null}`, dead: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "orders", "orders-dlq")
			var recs []*kgo.Record
			for _, r := range tt.recs {
				recs = append(recs, &kgo.Record{Topic: "orders", Key: r.key, Value: r.value})
			}
			if strings.HasPrefix(tt.name, "auto") {
				// A framed value with a JSON key on the same topic.
				recs = append(recs, &kgo.Record{Topic: "orders", Key: []byte(`{"_id": 7}`), Value: e.order(t, 7, "framed", 1)})
				tt.want = strings.Replace(tt.want, `{"docs":[`, `{"docs":[{"_id":{"$numberLong":"7"},"status":"framed","version":{"$numberLong":"1"}},`, 1)
			}
			e.produce(t, recs...)
			cfg := e.config(t)
			cfg.Decoder = decode.New(decode.Options{Registry: e.reg, KeyFormat: tt.key, ValueFormat: tt.value, Logger: e.quiet})
			cfg.Sink = sink.Options{ID: tt.id, DeleteOnTombstone: true, PartialKey: sink.Projection{Allow: true, Paths: []string{"a"}}}
			cfg.Tolerance, cfg.DeadLetterTopic = ToleranceAll, "orders-dlq"
			p, stop := start(t, cfg)
			testenv.WaitFor(t, "every record", func() bool {
				s := p.Stats()
				return s.Written+s.DeadLetter == int64(len(recs))
			})
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if s := p.Stats(); s.DeadLetter != tt.dead {
				t.Fatalf("dead letters %d, want %d", s.DeadLetter, tt.dead)
			}
			if got := e.state(t, "shop", "orders"); got != tt.want {
				t.Fatalf("state:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

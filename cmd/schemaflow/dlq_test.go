package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/dlq"
	"github.com/schemaflow/schemaflow/processor/mongosink"
	"github.com/schemaflow/schemaflow/processor/mongosource"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

// deadLetter is a dead letter as a sink writes it for the record at
// topic/0/offset.
func deadLetter(topic string, offset int64, class string, key, value []byte, extra ...kgo.RecordHeader) *kgo.Record {
	hd := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	return &kgo.Record{Key: key, Value: value, Headers: append(extra,
		hd(mongosink.HeaderTopic, topic), hd(mongosink.HeaderPartition, "0"), hd(mongosink.HeaderOffset, fmt.Sprint(offset)),
		hd(mongosink.HeaderClass, class), hd(mongosink.HeaderMessage, class+": the write was refused"))}
}

// framedOrder registers an Order schema under subject and encodes doc
// with it.
func framedOrder(t *testing.T, regURL, subject string, doc bson.D) []byte {
	t.Helper()
	reg, err := registry.NewClient(regURL, registry.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	schema := `{"type":"record","name":"Order","fields":[{"name":"_id","type":"string"},{"name":"total","type":"double"}]}`
	id, err := reg.Register(context.Background(), subject, registry.RegisterRequest{Schema: schema}, false)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := serde.New([]byte(schema), serde.Options{Format: schemas.Avro, ID: uint32(id)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := bson.Marshal(doc)
	framed, err := sd.Encode(nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	return framed
}

// schemaflow dlq replay: the dry run prints what would go where, decoded
// through the registry, and produces nothing; --filter keeps one class; a
// replay lands the records on their original topic with their headers,
// without the dead-letter ones; a source's dead letter is reported and
// makes the exit 1; usage errors exit 2.
func TestDLQReplay(t *testing.T) {
	t.Parallel()
	kafka, reg := kafkaAndRegistry(t, "orders", "orders.dlq", "orders-src.dlq")
	brokers := kafka.ListenAddrs()[0]
	value := framedOrder(t, reg.URL, "orders-value", bson.D{{Key: "_id", Value: "o1"}, {Key: "total", Value: 12.5}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := []*kgo.Record{
		deadLetter("orders", 4, "duplicate-key", []byte(`{"_id":"o1"}`), value, kgo.RecordHeader{Key: "trace", Value: []byte("t-1")}),
		deadLetter("orders", 5, "undecodable", []byte("k2"), []byte{0xde, 0xad}),
	}
	for _, r := range recs {
		r.Topic = "orders.dlq"
	}
	src := &kgo.Record{Topic: "orders-src.dlq", Key: []byte(`{"_id":9}`), Value: []byte(`{"_id":9}`), Headers: []kgo.RecordHeader{
		{Key: mongosource.HeaderClass, Value: []byte("encode")}, {Key: mongosource.HeaderSource, Value: []byte("shop.orders")}}}
	if err := cl.ProduceSync(ctx, append(recs, src)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ordersEnd := func() int {
		letters, err := dlq.Read(ctx, []kgo.Opt{kgo.SeedBrokers(brokers)}, "orders", dlq.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(letters)
	}

	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // lines, in order
		stderr   string
		produced int // records on orders afterwards
	}{
		{"dry run decodes", []string{"--dry-run", "--registry", reg.URL}, 0, []string{
			`would replay orders.dlq 0:0 duplicate-key -> orders key {"_id":"o1"} value {"_id":"o1","total":12.5}`,
			`would replay orders.dlq 0:1 undecodable -> orders key hex:6b32 value hex:dead`,
		}, "dry run: 2 of 2 dead letters in orders.dlq would be replayed", 0},
		{"dry run filtered", []string{"--dry-run", "--filter", "undecodable"}, 0, []string{
			`would replay orders.dlq 0:1 undecodable -> orders key hex:6b32 value hex:dead`,
		}, "dry run: 1 of 1 dead letters of class undecodable in orders.dlq would be replayed", 0},
		{"filter matches nothing", []string{"--filter", "write-failed"}, 0, nil, "no dead letters of class write-failed in orders.dlq (2 records read)", 0},
		{"replay one class", []string{"--filter", "duplicate-key"}, 0, []string{
			`replayed orders.dlq 0:0 duplicate-key -> orders 0:0`,
		}, "replayed 1 of 1 dead letters of class duplicate-key from orders.dlq", 1},
	}
	for _, tc := range tests { // in order: the last one produces
		r := run(t, "", append([]string{"dlq", "replay", "--brokers", brokers, "--topic", "orders.dlq"}, tc.args...)...)
		got := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.stdout == "" {
			got = nil
		}
		if r.code != tc.code || fmt.Sprint(got) != fmt.Sprint(tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("%s: exit %d (want %d)\nstdout %q\n  want %q\nstderr %q\n  want %q", tc.name, r.code, tc.code, got, tc.stdout, r.stderr, tc.stderr)
		}
		if n := ordersEnd(); n != tc.produced {
			t.Fatalf("%s: orders holds %d records, want %d", tc.name, n, tc.produced)
		}
	}
	// The replayed record: original key, value and headers, no dead-letter
	// headers.
	back, err := dlq.Read(ctx, []kgo.Opt{kgo.SeedBrokers(brokers)}, "orders", dlq.ReadOptions{})
	if err != nil || len(back) != 1 {
		t.Fatalf("orders: %v, %v", back, err)
	}
	if string(back[0].Key) != `{"_id":"o1"}` || string(back[0].Value) != string(value) || fmt.Sprint(back[0].Headers) != fmt.Sprint([]kgo.RecordHeader{{Key: "trace", Value: []byte("t-1")}}) {
		t.Fatalf("replayed record %+v", back[0])
	}

	// A source's dead letter is not replayable: said, and exit 1.
	r := run(t, "", "dlq", "replay", "--brokers", brokers, "--topic", "orders-src.dlq")
	if r.code != 1 || !strings.Contains(r.stdout, "skip orders-src.dlq 0:0 encode: not replayable: a source's dead letter (shop.orders never reached Kafka)") ||
		!strings.Contains(r.stderr, "replayed 0 of 1 dead letters") {
		t.Errorf("source dead letter: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"dlq", "replay", "--brokers", brokers, "--topic", "nope", "--timeout", "5s"}, 1, "dlq: no such topic: nope"},
		{[]string{"dlq", "replay", "--brokers", brokers}, 2, "name the dead-letter topic with --topic"},
		{[]string{"dlq", "replay", "--topic", "t", "--limit", "0"}, 2, "--limit and --timeout must be positive"},
		{[]string{"dlq", "replay", "--topic", "t", "--dry-run", "--registry", "ftp://x"}, 2, "--registry"},
	} {
		r := run(t, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
	}
}

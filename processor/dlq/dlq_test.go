package dlq

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/mongosink"
	"github.com/schemaflow/schemaflow/processor/mongosource"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

func h(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }

// sinkLetter is a dead letter as mongosink writes it.
func sinkLetter(topic string, partition int32, offset int64, class string, key, value string, extra ...kgo.RecordHeader) *kgo.Record {
	return &kgo.Record{Key: []byte(key), Value: []byte(value), Headers: append(extra,
		h(mongosink.HeaderTopic, topic), h(mongosink.HeaderPartition, fmt.Sprint(partition)), h(mongosink.HeaderOffset, fmt.Sprint(offset)),
		h(mongosink.HeaderClass, class), h(mongosink.HeaderMessage, class+" happened"))}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		rec        *kgo.Record
		kind       string
		class      string
		origin     string
		partition  int32
		offset     int64
		namespace  string
		replayable bool
	}{
		{"sink", sinkLetter("shop.orders", 2, 41, "duplicate-key", "k", "v"), KindSink, "duplicate-key", "shop.orders", 2, 41, "", true},
		{"source", &kgo.Record{Key: []byte(`{"_id":1}`), Headers: []kgo.RecordHeader{h(mongosource.HeaderClass, "encode"), h(mongosource.HeaderMessage, "bad"),
			h(mongosource.HeaderSource, "shop.orders"), h(mongosource.HeaderKey, `{"_id":1}`)}}, KindSource, "encode", "", -1, -1, "shop.orders", false},
		{"no headers", &kgo.Record{Value: []byte("x")}, KindUnknown, "", "", -1, -1, "", false},
		{"partition not a number", &kgo.Record{Headers: []kgo.RecordHeader{h(mongosink.HeaderTopic, "t"), h(mongosink.HeaderPartition, "x"), h(mongosink.HeaderOffset, "1")}}, KindUnknown, "", "", -1, -1, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := Parse(tc.rec)
			if l.Kind != tc.kind || l.Class != tc.class || l.OriginTopic != tc.origin || l.OriginPartition != tc.partition || l.OriginOffset != tc.offset || l.Namespace != tc.namespace {
				t.Fatalf("Parse = %+v", l)
			}
			err := l.Replayable()
			if (err == nil) != tc.replayable {
				t.Fatalf("Replayable: %v, want replayable %v", err, tc.replayable)
			}
			var nr *NotReplayableError
			if err != nil && !errors.As(err, &nr) {
				t.Fatalf("error %T, want *NotReplayableError", err)
			}
		})
	}
}

// A replayed record keeps the original key, value and headers, without
// the dead-letter headers.
func TestRecordStripsDeadLetterHeaders(t *testing.T) {
	t.Parallel()
	l := Parse(sinkLetter("shop.orders", 0, 7, "write-failed", "key", "value", h("trace", "abc"), h("tenant", "t1")))
	r, err := l.Record()
	if err != nil {
		t.Fatal(err)
	}
	if r.Topic != "shop.orders" || string(r.Key) != "key" || string(r.Value) != "value" {
		t.Fatalf("record %+v", r)
	}
	if fmt.Sprint(r.Headers) != fmt.Sprint([]kgo.RecordHeader{h("trace", "abc"), h("tenant", "t1")}) {
		t.Fatalf("headers %v", r.Headers)
	}
}

func TestParseID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		p      int32
		o      int64
		wantOK bool
	}{{"0:12", 0, 12, true}, {"3:0", 3, 0, true}, {"12", 0, 0, false}, {"a:1", 0, 0, false}, {"-1:2", 0, 0, false}, {"1:", 0, 0, false}} {
		p, o, err := ParseID(tc.in)
		if (err == nil) != tc.wantOK || err == nil && (p != tc.p || o != tc.o) {
			t.Errorf("ParseID(%q) = %d, %d, %v", tc.in, p, o, err)
		}
	}
}

func cluster(t *testing.T, partitions int, topics ...string) []kgo.Opt {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
}

func produce(t *testing.T, opts []kgo.Opt, topic string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, r := range recs {
		r.Topic = topic
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Read reads every partition up to its end as of the call; Replay puts
// the records back on their original topic, where a consumer reads the
// original key, value and headers.
func TestReadAndReplay(t *testing.T) {
	t.Parallel()
	opts := cluster(t, 2, "orders", "orders.dlq")
	a := sinkLetter("orders", 0, 3, "duplicate-key", "k1", "v1", h("trace", "1"))
	a.Partition = 0
	b := sinkLetter("orders", 1, 9, "write-failed", "k2", "v2")
	b.Partition = 1
	c := sinkLetter("orders", 0, 4, "duplicate-key", "k3", "v3")
	c.Partition = 1
	src := &kgo.Record{Partition: 0, Key: []byte(`{"_id":5}`), Value: []byte(`{"_id":5}`), Headers: []kgo.RecordHeader{
		h(mongosource.HeaderClass, "encode"), h(mongosource.HeaderSource, "shop.orders")}}
	produce(t, opts, "orders.dlq", a, b, c, src)

	ctx := context.Background()
	letters, err := Read(ctx, opts, "orders.dlq", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range letters {
		ids = append(ids, l.ID()+" "+l.Class)
	}
	if want := "[0:0 duplicate-key 0:1 encode 1:0 write-failed 1:1 duplicate-key]"; fmt.Sprint(ids) != want {
		t.Fatalf("read %v, want %s", ids, want)
	}
	if got := Filter(letters, "duplicate-key"); len(got) != 2 || string(got[0].Key) != "k1" || string(got[1].Key) != "k3" {
		t.Fatalf("Filter duplicate-key = %v", got)
	}

	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	results := Replay(ctx, cl, letters)
	var nr *NotReplayableError
	if len(results) != 4 || !errors.As(results[1].Err, &nr) || !strings.Contains(results[1].Err.Error(), "snapshot") {
		t.Fatalf("the source's dead letter: %v", results[1].Err)
	}
	for _, i := range []int{0, 2, 3} {
		if results[i].Err != nil {
			t.Fatalf("result %d: %v", i, results[i].Err)
		}
	}

	back, err := Read(ctx, opts, "orders", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range back {
		got[string(l.Key)] = fmt.Sprintf("%s %v", l.Value, l.Headers)
		for _, r := range results {
			if string(r.Letter.Key) == string(l.Key) && (r.Partition != l.Partition || r.Offset != l.Offset) {
				t.Errorf("%s: result says %d:%d, read at %s", l.Key, r.Partition, r.Offset, l.ID())
			}
		}
	}
	want := map[string]string{"k1": "v1 [{trace [49]}]", "k2": "v2 []", "k3": "v3 []"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("orders holds %v, want %v", got, want)
	}
}

// Limit keeps the newest records of each partition.
func TestReadLimit(t *testing.T) {
	t.Parallel()
	opts := cluster(t, 1, "dlq")
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs, sinkLetter("t", 0, int64(i), "c", fmt.Sprint(i), "v"))
	}
	produce(t, opts, "dlq", recs...)
	letters, err := Read(context.Background(), opts, "dlq", ReadOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 2 || letters[0].Offset != 3 || letters[1].Offset != 4 {
		t.Fatalf("read %v", letters)
	}
	empty := cluster(t, 1, "none-yet")
	if letters, err := Read(context.Background(), empty, "none-yet", ReadOptions{}); err != nil || len(letters) != 0 {
		t.Fatalf("an empty topic: %v, %v", letters, err)
	}
}

func TestReadNoTopic(t *testing.T) {
	t.Parallel()
	opts := cluster(t, 1, "other")
	_, err := Read(context.Background(), opts, "missing", ReadOptions{})
	if !errors.Is(err, ErrNoTopic) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err %v, want ErrNoTopic naming the topic", err)
	}
}

// Replay ends by the context's deadline when the brokers are gone.
func TestReplayDeadline(t *testing.T) {
	t.Parallel()
	opts := cluster(t, 1, "orders")
	cl, err := kgo.NewClient(append(opts, kgo.RecordRetries(1000), kgo.ProduceRequestTimeout(time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	l := Parse(sinkLetter("no-such-topic-and-no-auto-create", 0, 1, "c", "k", "v"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := Replay(ctx, cl, []Letter{l})
	if res[0].Err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("replay to a missing topic: %v after %s", res[0].Err, time.Since(start))
	}
}

func TestShow(t *testing.T) {
	t.Parallel()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	reg, err := registry.NewClient(hs.URL, registry.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	schema := `{"type":"record","name":"Order","fields":[{"name":"_id","type":"string"},{"name":"total","type":"double"}]}`
	id, err := reg.Register(context.Background(), "orders-value", registry.RegisterRequest{Schema: schema}, false)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := serde.New([]byte(schema), serde.Options{Format: schemas.Avro, ID: uint32(id)})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: "o1"}, {Key: "total", Value: 12.5}})
	framed, err := sd.Encode(nil, doc)
	if err != nil {
		t.Fatal(err)
	}
	dec := decode.New(decode.Options{Registry: reg, PlainJSON: true})
	tests := []struct {
		name string
		in   []byte
		want string
		id   uint32
	}{
		{"framed", framed, `{"_id":"o1","total":12.5}`, uint32(id)},
		{"json", []byte(`{"_id":{"$oid":"000000000000000000000001"}}`), `{"_id":{"$oid":"000000000000000000000001"}}`, 0},
		{"bytes", []byte{0xff, 0x01}, "hex:ff01", 0},
		{"unknown schema", []byte{0, 0, 0, 0x30, 0x39, 2}, "hex:0000003039", 12345},
		{"null", nil, "null", 0},
	}
	for _, tc := range tests {
		got := Show(context.Background(), dec, tc.in)
		if !strings.HasPrefix(got.String(), tc.want) || got.SchemaID != tc.id {
			t.Errorf("%s: Show = %s (id %d), want %s (id %d)", tc.name, got, got.SchemaID, tc.want, tc.id)
		}
	}
	if got := Show(context.Background(), dec, []byte{0, 0, 0, 0x30, 0x39, 2}); !strings.Contains(got.Error, "12345") {
		t.Errorf("the decode error does not name the schema id: %q", got.Error)
	}
}

// Parse never panics, and a sink letter always names its origin.
func FuzzParse(f *testing.F) {
	f.Add("shop.orders", "0", "12", "duplicate-key", "")
	f.Add("", "x", "", "", "db.coll")
	f.Add("t", "-1", "99999999999999999999", "c", "")
	f.Fuzz(func(t *testing.T, topic, partition, offset, class, namespace string) {
		var hs []kgo.RecordHeader
		if topic != "" {
			hs = append(hs, h(mongosink.HeaderTopic, topic))
		}
		hs = append(hs, h(mongosink.HeaderPartition, partition), h(mongosink.HeaderOffset, offset), h(mongosink.HeaderClass, class))
		if namespace != "" {
			hs = append(hs, h(mongosource.HeaderSource, namespace))
		}
		l := Parse(&kgo.Record{Headers: hs})
		if l.Kind == KindSink && l.OriginTopic == "" {
			t.Fatalf("a sink letter without origin: %+v", l)
		}
		if r, err := l.Record(); err == nil {
			for _, hd := range r.Headers {
				if IsDeadLetterHeader(hd.Key) {
					t.Fatalf("replayed header %s", hd.Key)
				}
			}
		}
	})
}

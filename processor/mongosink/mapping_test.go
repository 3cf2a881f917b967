package mongosink

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/processor/relmap"
	"github.com/schemaflow/schemaflow/processor/sink"
)

// A mapping sink over Kafka: many events of the same documents in one
// batch apply in their order (an order inserted, updated, deleted and
// inserted again; a line inserted, updated twice, moved), records the
// mapping refuses — a truncate, an event without a key — go to the
// dead-letter topic as invalid records, and the stats count records, not
// the writes they made.
func TestMappingPipeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pg.public.orders", "pg.public.order_lines", "dlq")
	env := func(op, before, after string) []byte {
		return []byte(fmt.Sprintf(`{"before": %s, "after": %s, "op": %q}`, before, after, op))
	}
	order := func(id int, status string) string { return fmt.Sprintf(`{"id": %d, "status": %q}`, id, status) }
	line := func(id, orderID, qty int) string {
		return fmt.Sprintf(`{"id": %d, "order_id": %d, "qty": %d}`, id, orderID, qty)
	}
	k := func(id int) []byte { return []byte(fmt.Sprintf(`{"id": %d}`, id)) }
	orders, lines := "pg.public.orders", "pg.public.order_lines"
	recs := []*kgo.Record{
		{Topic: lines, Key: k(10), Value: env("c", "null", line(10, 1, 1))},
		{Topic: lines, Key: k(10), Value: env("u", "null", line(10, 1, 2))},
		{Topic: lines, Key: k(11), Value: env("c", "null", line(11, 1, 5))},
		{Topic: lines, Key: k(10), Value: env("u", line(10, 1, 2), line(10, 2, 3))},
		{Topic: lines, Value: env("c", "null", line(12, 1, 1))}, // no key: poison
		{Topic: orders, Key: k(1), Value: env("c", "null", order(1, "new"))},
		{Topic: orders, Key: k(1), Value: env("u", "null", order(1, "paid"))},
		{Topic: orders, Key: k(2), Value: env("c", "null", order(2, "new"))},
		{Topic: orders, Key: k(2), Value: env("d", order(2, "new"), "null")},
		{Topic: orders, Key: k(2)}, // tombstone
		{Topic: orders, Key: k(2), Value: env("c", "null", order(2, "again"))},
		{Topic: orders, Key: k(3), Value: env("t", "null", "null")}, // truncate: poison
	}
	e.produce(t, recs...)
	m, err := relmap.New(relmap.Config{Tables: map[string]relmap.Table{
		"public.orders": {Collection: "orders"},
		"public.order_lines": {Array: &relmap.Array{Into: "public.orders", Field: "lines",
			On: []relmap.Join{{Column: "order_id", Other: "id"}}, Sort: []relmap.SortKey{{Field: "qty", Desc: true}}}},
	}}, []string{orders, lines})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config(t)
	cfg.Topics = []string{orders, lines}
	cfg.Handler = sink.HandlerDebeziumRDBMS
	cfg.Mapping = m
	cfg.Find = func(ctx context.Context, ns Namespace, filter bson.D) ([]bson.D, error) {
		cur, err := e.mongo.Database(ns.Database).Collection(ns.Collection).Find(ctx, filter)
		if err != nil {
			return nil, err
		}
		var docs []bson.D
		return docs, cur.All(ctx, &docs)
	}
	cfg.Tolerance, cfg.DeadLetterTopic = ToleranceAll, "dlq"
	cfg.MaxBatch = 100
	p, stop := start(t, cfg)
	testenv.WaitFor(t, "all records", func() bool { s := p.Stats(); return s.Written+s.DeadLetter == int64(len(recs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Written != int64(len(recs)-2) || s.DeadLetter != 2 || s.DeadByClass[ClassInvalidRecord] != 2 {
		t.Fatalf("stats %+v, want %d written, 2 invalid records dead-lettered", s, len(recs)-2)
	}
	// Field order depends on which topic came first: compare sorted.
	cur, err := e.mongo.Database("shop").Collection("orders").Find(context.Background(), bson.D{},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.D
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatal(err)
	}
	got := bson.A{}
	for _, d := range docs {
		got = append(got, sortedFields(d))
	}
	text, err := bson.MarshalExtJSON(bson.D{{Key: "docs", Value: got}}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"docs":[{"_id":1,"id":1,"lines":[{"id":11,"order_id":1,"qty":5}],"status":"paid"},` +
		`{"_id":2,"id":2,"lines":[{"id":10,"order_id":2,"qty":3}],"status":"again"}]}`
	if string(text) != want {
		t.Fatalf("orders:\n got %s\nwant %s", text, want)
	}
}

// sortedFields orders a document's fields by name, at every depth.
func sortedFields(v any) any {
	switch x := v.(type) {
	case bson.D:
		d := make(bson.D, len(x))
		for i, e := range x {
			d[i] = bson.E{Key: e.Key, Value: sortedFields(e.Value)}
		}
		slices.SortFunc(d, func(a, b bson.E) int { return strings.Compare(a.Key, b.Key) })
		return d
	case bson.A:
		a := make(bson.A, len(x))
		for i, e := range x {
			a[i] = sortedFields(e)
		}
		return a
	}
	return v
}

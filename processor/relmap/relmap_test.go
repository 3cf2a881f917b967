package relmap

import (
	"context"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/sink"
)

var shopTopics = []string{"pg.public.customers", "pg.public.orders", "pg.public.order_lines"}

// shop is the example mapping: customers copied into orders,
// order lines embedded in them.
func shop() Config {
	return Config{Tables: map[string]Table{
		"public.customers": {Collection: "customers",
			Document: &Document{Into: "public.orders", Field: "customer", On: []Join{{"id", "customer_id"}}}},
		"public.orders": {Collection: "orders",
			Rename: []Rename{{"order_date", "placedAt"}}, Exclude: []string{"internal_note"}},
		"public.order_lines": {
			Array: &Array{Into: "public.orders", Field: "lines", On: []Join{{"order_id", "id"}}, Sort: []SortKey{{Field: "line_no"}}}},
	}}
}

// ev is one Debezium event in relaxed Extended JSON: the table's topic
// suffix, the key, and the envelope.
type ev struct{ table, key, value string }

func record(t testing.TB, e ev, offset int64) sink.Record {
	t.Helper()
	r := sink.Record{Topic: "pg." + e.table, Offset: offset}
	if e.key != "" {
		if err := bson.UnmarshalExtJSON([]byte(e.key), false, &r.Key); err != nil {
			t.Fatalf("key %s: %v", e.key, err)
		}
	}
	if e.value != "" {
		if err := bson.UnmarshalExtJSON([]byte(e.value), false, &r.Value); err != nil {
			t.Fatalf("value %s: %v", e.value, err)
		}
	}
	return r
}

// docs reads expected documents written as relaxed Extended JSON, in
// canonical form (fields sorted).
func docs(t testing.TB, texts []string) []string {
	t.Helper()
	var ds []bson.D
	for _, s := range texts {
		var d bson.D
		if err := bson.UnmarshalExtJSON([]byte(s), false, &d); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		ds = append(ds, d)
	}
	return canonical(t, ds)
}

func applyAll(t *testing.T, m *Mapper, st Store, events []ev) {
	t.Helper()
	for i, e := range events {
		if err := m.Apply(context.Background(), st, record(t, e, int64(i))); err != nil {
			t.Fatalf("event %d (%s %s): %v", i, e.table, e.value, err)
		}
	}
}

const (
	order1  = `{"id": 1, "customer_id": 7, "order_date": "2024-05-01", "internal_note": "vip"}`
	order2  = `{"id": 2, "customer_id": 8, "order_date": "2024-05-02", "internal_note": null}`
	line10  = `{"id": 10, "order_id": 1, "line_no": 2, "sku": "pen"}`
	line11  = `{"id": 11, "order_id": 1, "line_no": 1, "sku": "ink"}`
	line10b = `{"id": 10, "order_id": 2, "line_no": 2, "sku": "pen"}`
	cust7   = `{"id": 7, "name": "Ada"}`
	cust7b  = `{"id": 7, "name": "Ada L."}`
	cust8   = `{"id": 8, "name": "Bob"}`
)

func c(table, id, after string) ev {
	return ev{table, `{"id": ` + id + `}`, `{"op": "c", "before": null, "after": ` + after + `}`}
}
func u(table, id, before, after string) ev {
	return ev{table, `{"id": ` + id + `}`, `{"op": "u", "before": ` + before + `, "after": ` + after + `}`}
}
func d(table, id, before string) ev {
	return ev{table, `{"id": ` + id + `}`, `{"op": "d", "before": ` + before + `, "after": null}`}
}

const (
	o1     = `{"_id":1,"customer_id":7,"id":1,"placedAt":"2024-05-01"`
	o2     = `{"_id":2,"customer_id":8,"id":2,"placedAt":"2024-05-02"`
	l10    = `{"id":10,"line_no":2,"order_id":1,"sku":"pen"}`
	l11    = `{"id":11,"line_no":1,"order_id":1,"sku":"ink"}`
	l10at2 = `{"id":10,"line_no":2,"order_id":2,"sku":"pen"}`
	ada    = `"customer":{"id":7,"name":"Ada"}`
)

// Each rule and operation, on lungo: the events in the order given, then
// the collections' documents (fields sorted).
func TestRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		events    []ev
		orders    []string
		customers []string
	}{
		{name: "a parent, then its children, sorted by line_no",
			events: []ev{c("public.orders", "1", order1), c("public.order_lines", "10", line10), c("public.order_lines", "11", line11)},
			orders: []string{o1 + `,"lines":[` + l11 + `,` + l10 + `]}`}},
		{name: "children before their parent make it pending; its row fills it in",
			events: []ev{c("public.order_lines", "10", line10), c("public.orders", "1", order1)},
			orders: []string{o1 + `,"lines":[` + l10 + `]}`}},
		{name: "the pending parent alone",
			events: []ev{c("public.order_lines", "10", line10)},
			orders: []string{`{"__schemaflow_pending":true,"_id":1,"lines":[` + l10 + `]}`}},
		{name: "a snapshot read is an insert; a tombstone and a schema change are skipped",
			events: []ev{{"public.orders", `{"id": 1}`, `{"op": "r", "after": ` + order1 + `}`},
				{"public.orders", `{"id": 1}`, ``}, {"public.orders", `{"id": 1}`, `{"ddl": "ALTER TABLE"}`}},
			orders: []string{o1 + `}`}},
		{name: "a parent's update keeps its array",
			events: []ev{c("public.orders", "1", order1), c("public.order_lines", "10", line10),
				u("public.orders", "1", order1, strings.Replace(order1, "2024-05-01", "2024-06-01", 1))},
			orders: []string{strings.Replace(o1, "2024-05-01", "2024-06-01", 1) + `,"lines":[` + l10 + `]}`}},
		{name: "a child's update replaces its element",
			events: []ev{c("public.orders", "1", order1), c("public.order_lines", "10", line10),
				u("public.order_lines", "10", line10, strings.Replace(line10, "pen", "pencil", 1))},
			orders: []string{o1 + `,"lines":[` + strings.Replace(l10, "pen", "pencil", 1) + `]}`}},
		{name: "a foreign-key move by before",
			events: []ev{c("public.orders", "1", order1), c("public.orders", "2", order2), c("public.order_lines", "10", line10),
				u("public.order_lines", "10", line10, line10b)},
			orders: []string{o1 + `}`, o2 + `,"lines":[` + l10at2 + `]}`}},
		{name: "a foreign-key move without before (replica identity default)",
			events: []ev{c("public.orders", "1", order1), c("public.orders", "2", order2), c("public.order_lines", "10", line10),
				u("public.order_lines", "10", "null", line10b)},
			orders: []string{o1 + `}`, o2 + `,"lines":[` + l10at2 + `]}`}},
		{name: "a child's delete by key alone",
			events: []ev{c("public.orders", "1", order1), c("public.order_lines", "10", line10), c("public.order_lines", "11", line11),
				d("public.order_lines", "10", `{"id": 10}`)},
			orders: []string{o1 + `,"lines":[` + l11 + `]}`}},
		{name: "a child's delete whose before has zero values but the key (Postgres, replica identity default)",
			events: []ev{c("public.orders", "1", order1), c("public.order_lines", "10", line10), c("public.order_lines", "11", line11),
				d("public.order_lines", "10", `{"id": 10, "order_id": 0, "line_no": 0, "sku": ""}`)},
			orders: []string{o1 + `,"lines":[` + l11 + `]}`}},
		{name: "a pending parent whose last child goes is deleted",
			events: []ev{c("public.order_lines", "10", line10), d("public.order_lines", "10", line10)},
			orders: nil},
		{name: "a deleted parent keeps the children not deleted yet, pending",
			events: []ev{c("public.orders", "1", order1), c("public.order_lines", "10", line10), d("public.orders", "1", order1)},
			orders: []string{`{"__schemaflow_pending":true,"_id":1,"lines":[` + l10 + `]}`}},
		{name: "a parent deleted and inserted again after its child arrived keeps the child",
			events: []ev{c("public.order_lines", "10", line10), c("public.orders", "1", order1), d("public.orders", "1", order1),
				c("public.orders", "1", order1)},
			orders: []string{o1 + `,"lines":[` + l10 + `]}`}},
		{name: "a deleted parent without children is gone",
			events: []ev{c("public.orders", "1", order1), c("public.order_lines", "10", line10), d("public.order_lines", "10", line10),
				d("public.orders", "1", order1)},
			orders: nil},
		{name: "a referencing document reads the copy that is there",
			events:    []ev{c("public.customers", "7", cust7), c("public.orders", "1", order1)},
			orders:    []string{o1 + `,` + ada + `}`},
			customers: []string{`{"_id":7,"id":7,"name":"Ada"}`}},
		{name: "a copy that comes later is filled in by the referenced row",
			events:    []ev{c("public.orders", "1", order1), c("public.customers", "7", cust7)},
			orders:    []string{o1 + `,` + ada + `}`},
			customers: []string{`{"_id":7,"id":7,"name":"Ada"}`}},
		{name: "a referenced row's update reaches every copy",
			events: []ev{c("public.customers", "7", cust7), c("public.orders", "1", order1),
				c("public.orders", "3", strings.Replace(order1, `"id": 1`, `"id": 3`, 1)), u("public.customers", "7", cust7, cust7b)},
			orders: []string{o1 + `,"customer":{"id":7,"name":"Ada L."}}`,
				`{"_id":3,"customer":{"id":7,"name":"Ada L."},"customer_id":7,"id":3,"placedAt":"2024-05-01"}`},
			customers: []string{`{"_id":7,"id":7,"name":"Ada L."}`}},
		{name: "a referencing document that moves gets the other copy",
			events: []ev{c("public.customers", "7", cust7), c("public.customers", "8", cust8), c("public.orders", "1", order1),
				u("public.orders", "1", order1, strings.Replace(order1, `"customer_id": 7`, `"customer_id": 8`, 1))},
			orders:    []string{`{"_id":1,"customer":{"id":8,"name":"Bob"},"customer_id":8,"id":1,"placedAt":"2024-05-01"}`},
			customers: []string{`{"_id":7,"id":7,"name":"Ada"}`, `{"_id":8,"id":8,"name":"Bob"}`}},
		{name: "a referenced row's delete takes its copies away",
			events: []ev{c("public.customers", "7", cust7), c("public.orders", "1", order1), d("public.customers", "7", `{"id": 7}`)},
			orders: []string{o1 + `}`}},
		{name: "a referencing document whose reference is null has no copy",
			events: []ev{c("public.customers", "7", cust7), c("public.orders", "1", strings.Replace(order1, `"customer_id": 7`, `"customer_id": null`, 1))},
			orders: []string{`{"_id":1,"customer_id":null,"id":1,"placedAt":"2024-05-01"}`}, customers: []string{`{"_id":7,"id":7,"name":"Ada"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := New(shop(), shopTopics)
			if err != nil {
				t.Fatal(err)
			}
			st := openStore(t)
			applyAll(t, m, st, tt.events)
			wantOrders, wantCustomers := docs(t, tt.orders), docs(t, tt.customers)
			check := func(when string) {
				t.Helper()
				if got := st.dump(t, "orders"); !slices.Equal(got, wantOrders) {
					t.Errorf("%s: orders\n got %s\nwant %s", when, strings.Join(got, "\n     "), strings.Join(wantOrders, "\n     "))
				}
				if got := st.dump(t, "customers"); !slices.Equal(got, wantCustomers) {
					t.Errorf("%s: customers\n got %s\nwant %s", when, strings.Join(got, "\n     "), strings.Join(wantCustomers, "\n     "))
				}
			}
			check("once")
			// Idempotent: every suffix of the history applied again.
			for i := range tt.events {
				applyAll(t, m, st, tt.events[i:])
			}
			check("after replays")
		})
	}
}

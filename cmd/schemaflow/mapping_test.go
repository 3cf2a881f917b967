package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

// pgTable is a Postgres table as Debezium's Avro converter describes it:
// the key record (id) and the change envelope of its rows.
func pgTable(table, columns string) (key, value string) {
	ns := "pg.public." + table
	key = fmt.Sprintf(`{"type": "record", "name": "Key", "namespace": %q, "fields": [{"name": "id", "type": "int"}]}`, ns)
	value = fmt.Sprintf(`{"type": "record", "name": "Envelope", "namespace": %q, "fields": [
		{"name": "before", "type": ["null", {"type": "record", "name": "Value", "fields": [{"name": "id", "type": "int"}, %s]}], "default": null},
		{"name": "after", "type": ["null", "Value"], "default": null},
		{"name": "source", "type": {"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql", "fields": [
			{"name": "connector", "type": "string"}, {"name": "schema", "type": "string"}, {"name": "table", "type": "string"}]}},
		{"name": "op", "type": "string"},
		{"name": "ts_ms", "type": ["null", "long"], "default": null}]}`, ns, columns)
	return key, value
}

// schemaflow run with examples/postgres-to-mongodb-embedded.yaml, the real
// binary in a child process, maps three Debezium Postgres topics —
// customers, orders, order_lines as framed Avro through the registry,
// children produced before their parents — into orders documents with
// their lines (sorted, filtered, one moved to another order by an update
// without before, one deleted by its key) and a copy of their customer
// (updated after the orders were written, and followed when an order
// changes customer); SIGTERM ends it with exit 0 within a second.
func TestRunDebeziumMappingIntoLungoAcrossSIGTERM(t *testing.T) {
	t.Parallel()
	topics := []string{"pg.public.customers", "pg.public.orders", "pg.public.order_lines"}
	kafka, reg := kafkaAndRegistry(t, topics...)
	client, err := registry.NewClient(reg.URL, registry.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	codec := func(subject, schema string) *serde.Serde {
		id, err := client.Register(context.Background(), subject, registry.RegisterRequest{Schema: schema}, false)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := serde.New([]byte(schema), serde.Options{Format: schemas.Avro, ID: uint32(id)})
		if err != nil {
			t.Fatal(err)
		}
		return sd
	}
	columns := map[string]string{
		"customers": `{"name": "name", "type": "string"}, {"name": "email", "type": ["null", "string"], "default": null}`,
		"orders": `{"name": "customer_id", "type": ["null", "int"], "default": null}, {"name": "order_date", "type": "string"},
			{"name": "status", "type": ["null", "string"], "default": null}, {"name": "internal_note", "type": ["null", "string"], "default": null}`,
		"order_lines": `{"name": "order_id", "type": "int"}, {"name": "line_no", "type": "int"}, {"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}`,
	}
	keys, values := map[string]*serde.Serde{}, map[string]*serde.Serde{}
	for table, cols := range columns {
		k, v := pgTable(table, cols)
		keys[table], values[table] = codec("pg.public."+table+"-key", k), codec("pg.public."+table+"-value", v)
	}
	encode := func(sd *serde.Serde, doc bson.D) []byte {
		raw, err := bson.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		b, err := sd.Encode(nil, raw)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	event := func(table, op string, id int32, before, after any) *kgo.Record {
		value := encode(values[table], bson.D{{Key: "before", Value: before}, {Key: "after", Value: after},
			{Key: "source", Value: bson.D{{Key: "connector", Value: "postgresql"}, {Key: "schema", Value: "public"}, {Key: "table", Value: table}}},
			{Key: "op", Value: op}, {Key: "ts_ms", Value: int64(1700000000000)}})
		return &kgo.Record{Topic: "pg.public." + table, Key: encode(keys[table], bson.D{{Key: "id", Value: id}}), Value: value}
	}
	tombstone := func(table string, id int32) *kgo.Record {
		return &kgo.Record{Topic: "pg.public." + table, Key: encode(keys[table], bson.D{{Key: "id", Value: id}})}
	}
	line := func(id, order, no int32, sku string, qty int32) bson.D {
		return bson.D{{Key: "id", Value: id}, {Key: "order_id", Value: order}, {Key: "line_no", Value: no}, {Key: "sku", Value: sku}, {Key: "qty", Value: qty}}
	}
	order := func(id int32, customer any, date string, status any, note any) bson.D {
		return bson.D{{Key: "id", Value: id}, {Key: "customer_id", Value: customer}, {Key: "order_date", Value: date},
			{Key: "status", Value: status}, {Key: "internal_note", Value: note}}
	}
	customer := func(id int32, name string, email any) bson.D {
		return bson.D{{Key: "id", Value: id}, {Key: "name", Value: name}, {Key: "email", Value: email}}
	}
	keyOnly := func(id int32) bson.D {
		return line(id, 0, 0, "", 0)
	}
	recs := []*kgo.Record{
		// Children first: their orders are made pending, holding the lines.
		event("order_lines", "r", 10, nil, line(10, 1, 2, "pen", 1)),
		event("order_lines", "c", 11, nil, line(11, 1, 1, "ink", 3)),
		event("order_lines", "c", 12, nil, line(12, 1, 3, "gift wrap", 0)), // filtered out: qty 0
		event("order_lines", "c", 13, nil, line(13, 1, 4, "stamp", 1)),
		event("order_lines", "u", 10, nil, line(10, 2, 2, "pen", 1)), // moves to order 2, without before
		event("order_lines", "d", 13, keyOnly(13), nil),              // replica identity default: the key alone
		tombstone("order_lines", 13),
		// Orders before their customers.
		event("orders", "r", 1, nil, order(1, int32(7), "2024-05-01", "paid", "vip")),
		event("orders", "c", 2, nil, order(2, int32(8), "2024-05-02", nil, nil)),
		event("orders", "c", 3, nil, order(3, int32(8), "2024-05-03", "new", nil)),
		event("orders", "d", 3, order(3, int32(8), "2024-05-03", "new", nil), nil),
		tombstone("orders", 3),
		event("customers", "r", 7, nil, customer(7, "Ada", "ada@example.com")),
		event("customers", "c", 8, nil, customer(8, "Bob", nil)),
		event("customers", "u", 7, customer(7, "Ada", "ada@example.com"), customer(7, "Ada L.", "ada@example.com")),
		// An order changing customer after the customers came.
		event("orders", "u", 2, nil, order(2, int32(7), "2024-05-02", "paid", nil)),
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	dir := t.TempDir()
	storeFile := filepath.Join(dir, "mongodb.lungo")
	metrics := freeAddr(t)
	args := []string{"run", "-f", "../../examples/postgres-to-mongodb-embedded.yaml", "--http-addr", metrics, "--log-format", "json"}
	p := startRun(t, args, metrics, "KAFKA_BROKERS="+kafka.ListenAddrs()[0], "REGISTRY_URL="+reg.URL, "MONGODB_URI=lungo:"+storeFile)
	p.waitFor(t, "every event mapped", func(c map[string]int64) bool { return c["pg-shop"] == int64(len(recs)) })

	p.termWithinASecond(t)

	orders, customers := collectionDocs(t, storeFile, "shop", "orders", "customers")
	for _, c := range []struct {
		name string
		docs []bson.D
		want string
	}{
		{"orders", orders, `[` +
			`{"_id":1,"customer":{"email":"ada@example.com","id":7,"name":"Ada L."},"customer_id":7,"id":1,` +
			`"lines":[{"id":11,"line_no":1,"order_id":1,"qty":3,"sku":"ink"}],"placedAt":"2024-05-01","status":"paid"},` +
			`{"_id":2,"customer":{"email":"ada@example.com","id":7,"name":"Ada L."},"customer_id":7,"id":2,` +
			`"lines":[{"id":10,"line_no":2,"order_id":2,"qty":1,"sku":"pen"}],"placedAt":"2024-05-02","status":"paid"}]`},
		{"customers", customers, `[{"_id":7,"email":"ada@example.com","id":7,"name":"Ada L."},{"_id":8,"email":null,"id":8,"name":"Bob"}]`},
	} {
		docs := bson.A{}
		for _, d := range c.docs {
			docs = append(docs, sorted(d))
		}
		got, err := bson.MarshalExtJSON(bson.D{{Key: "docs", Value: docs}}, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"docs":` + c.want + `}`; string(got) != want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", p.out)
	}
}

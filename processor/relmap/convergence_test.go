package relmap

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/internal/ferret"
	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/sink"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

var (
	histories = flag.Int("relmap.histories", 200, "random histories of the convergence property test")
	seed      = flag.Int64("relmap.seed", 1, "first seed of the convergence property test")
)

// column is a column of a model table: its name and Avro type.
type column struct{ name, avro string }

// modelTable is a table of the relational model.
type modelTable struct {
	name string // schema.table; the topic is "pg." + name
	cols []column
}

// The model: customers (one side of orders), orders, and two child
// tables of orders, one of them also a collection of its own and
// filtered.
var model = []modelTable{
	{"public.customers", []column{{"id", `"int"`}, {"name", `["null", "string"]`}, {"tier", `["null", "string"]`}}},
	{"public.orders", []column{{"id", `"int"`}, {"customer_id", `["null", "int"]`}, {"status", `["null", "string"]`},
		{"note", `["null", "string"]`}, {"total", `["null", "long"]`}}},
	{"public.order_lines", []column{{"id", `"int"`}, {"order_id", `["null", "int"]`}, {"line_no", `["null", "int"]`}, {"sku", `["null", "string"]`}}},
	{"public.payments", []column{{"id", `"int"`}, {"order_id", `["null", "int"]`}, {"amount", `["null", "long"]`}}},
}

// modelMapping maps the model: customers copied into orders, lines sorted
// in orders, payments with a positive amount both in orders and in their
// own collection; orders renamed, a column excluded, nulls omitted.
func modelMapping() Config {
	return Config{Tables: map[string]Table{
		"public.customers": {Collection: "customers",
			Document: &Document{Into: "public.orders", Field: "customer", On: []Join{{"id", "customer_id"}}}},
		"public.orders": {Collection: "orders", Rename: []Rename{{"status", "state"}}, Exclude: []string{"note"}, OmitNulls: true},
		"public.order_lines": {Array: &Array{Into: "public.orders", Field: "lines", On: []Join{{"order_id", "id"}},
			Sort: []SortKey{{Field: "line_no"}}}},
		"public.payments": {Collection: "payments", Filter: bson.D{{Key: "amount", Value: bson.D{{Key: "$gt", Value: int64(0)}}}},
			Array: &Array{Into: "public.orders", Field: "payments", On: []Join{{"order_id", "id"}}}},
	}}
}

func (t modelTable) schemas() (key, value string) {
	ns := "pg." + t.name
	key = fmt.Sprintf(`{"type": "record", "name": "Key", "namespace": %q, "fields": [{"name": "id", "type": "int"}]}`, ns)
	var fields []string
	for _, c := range t.cols {
		f := fmt.Sprintf(`{"name": %q, "type": %s}`, c.name, c.avro)
		if strings.HasPrefix(c.avro, "[") {
			f = fmt.Sprintf(`{"name": %q, "type": %s, "default": null}`, c.name, c.avro)
		}
		fields = append(fields, f)
	}
	value = fmt.Sprintf(`{"type": "record", "name": "Envelope", "namespace": %q, "fields": [
		{"name": "before", "type": ["null", {"type": "record", "name": "Value", "fields": [%s]}], "default": null},
		{"name": "after", "type": ["null", "Value"], "default": null},
		{"name": "source", "type": {"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql", "fields": [
			{"name": "connector", "type": "string"}, {"name": "schema", "type": "string"}, {"name": "table", "type": "string"}]}},
		{"name": "op", "type": "string"},
		{"name": "ts_ms", "type": ["null", "long"], "default": null}]}`, ns, strings.Join(fields, ", "))
	return key, value
}

// codecs registers the model's Avro schemas, as Debezium's Avro converter
// does, and returns their serdes by table, with a decoder reading through
// the same registry.
type codecs struct {
	keys, values map[string]*serde.Serde
	dec          *decode.Decoder
}

func newCodecs(t testing.TB) *codecs {
	t.Helper()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewServer(srv)
	t.Cleanup(reg.Close)
	client, err := registry.NewClient(reg.URL, registry.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := &codecs{keys: map[string]*serde.Serde{}, values: map[string]*serde.Serde{},
		dec: decode.New(decode.Options{Registry: client, KeyFormat: decode.FormatRegistry, ValueFormat: decode.FormatRegistry,
			Logger: slog.New(slog.DiscardHandler)})}
	for _, mt := range model {
		k, v := mt.schemas()
		for _, s := range []struct {
			subject, schema string
			to              map[string]*serde.Serde
		}{{"pg." + mt.name + "-key", k, c.keys}, {"pg." + mt.name + "-value", v, c.values}} {
			id, err := client.Register(context.Background(), s.subject, registry.RegisterRequest{Schema: s.schema}, false)
			if err != nil {
				t.Fatal(err)
			}
			sd, err := serde.New([]byte(s.schema), serde.Options{Format: schemas.Avro, ID: uint32(id)})
			if err != nil {
				t.Fatal(err)
			}
			s.to[mt.name] = sd
		}
	}
	return c
}

func (c *codecs) encode(t testing.TB, sd *serde.Serde, doc bson.D) []byte {
	t.Helper()
	raw, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sd.Encode(nil, raw)
	if err != nil {
		t.Fatalf("encode %v: %v", doc, err)
	}
	return b
}

// kafkaRecord is a record on a topic: framed key and value (nil value: a
// tombstone).
type kafkaRecord struct{ key, value []byte }

// history is a random DML history: the final rows by table and id, and
// the Debezium records of each table's topic.
type history struct {
	rows   map[string]map[int32]bson.D
	topics map[string][]kafkaRecord
	ops    int
}

func (h *history) col(tbl string, id int32, name string) any {
	v, _ := sink.Lookup(h.rows[tbl][id], name)
	return v
}

func (h *history) referenced(child string, fk string, id int32) bool {
	for _, r := range h.rows[child] {
		if v, _ := sink.Lookup(r, fk); v == id {
			return true
		}
	}
	return false
}

// randomHistory makes n statements that keep the foreign keys: snapshot
// reads first, then inserts, updates (foreign-key moves included) and
// deletes, ids reused so rows come back.
func randomHistory(t testing.TB, rnd *rand.Rand, c *codecs, n int) *history {
	h := &history{rows: map[string]map[int32]bson.D{}, topics: map[string][]kafkaRecord{}}
	for _, mt := range model {
		h.rows[mt.name] = map[int32]bson.D{}
	}
	pool := map[string]int32{"public.customers": 4, "public.orders": 5, "public.order_lines": 8, "public.payments": 5}
	pick := func(tbl string) (int32, bool) {
		ids := make([]int32, 0, len(h.rows[tbl]))
		for id := range h.rows[tbl] {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return 0, false
		}
		slices.Sort(ids)
		return ids[rnd.Intn(len(ids))], true
	}
	str := func(prefix string) any {
		if rnd.Intn(5) == 0 {
			return nil
		}
		return fmt.Sprintf("%s%d", prefix, rnd.Intn(4))
	}
	newRow := func(tbl string, id int32) (bson.D, bool) {
		switch tbl {
		case "public.customers":
			return bson.D{{Key: "id", Value: id}, {Key: "name", Value: fmt.Sprintf("c%d-%d", id, rnd.Intn(100))}, {Key: "tier", Value: str("t")}}, true
		case "public.orders":
			var cust any
			if cid, ok := pick("public.customers"); ok && rnd.Intn(4) > 0 {
				cust = cid
			}
			return bson.D{{Key: "id", Value: id}, {Key: "customer_id", Value: cust}, {Key: "status", Value: str("s")},
				{Key: "note", Value: str("n")}, {Key: "total", Value: int64(rnd.Intn(1000))}}, true
		case "public.order_lines":
			oid, ok := pick("public.orders")
			return bson.D{{Key: "id", Value: id}, {Key: "order_id", Value: oid}, {Key: "line_no", Value: int32(rnd.Intn(3))}, {Key: "sku", Value: str("sku")}}, ok
		default:
			oid, ok := pick("public.orders")
			return bson.D{{Key: "id", Value: id}, {Key: "order_id", Value: oid}, {Key: "amount", Value: int64(rnd.Intn(5) - 1)}}, ok
		}
	}
	emit := func(tbl, op string, id int32, before, after bson.D) {
		key := bson.D{{Key: "id", Value: id}}
		env := bson.D{{Key: "before", Value: nilIfEmpty(before)}, {Key: "after", Value: nilIfEmpty(after)},
			{Key: "source", Value: bson.D{{Key: "connector", Value: "postgresql"}, {Key: "schema", Value: "public"}, {Key: "table", Value: strings.TrimPrefix(tbl, "public.")}}},
			{Key: "op", Value: op}, {Key: "ts_ms", Value: int64(1700000000000 + h.ops)}}
		h.topics[tbl] = append(h.topics[tbl], kafkaRecord{key: c.encode(t, c.keys[tbl], key), value: c.encode(t, c.values[tbl], env)})
		if op == "d" && rnd.Intn(2) == 0 {
			h.topics[tbl] = append(h.topics[tbl], kafkaRecord{key: c.encode(t, c.keys[tbl], key)}) // the tombstone
		}
		h.ops++
	}
	// The before of an update is the old row, or absent (replica identity
	// default); a delete's is the old row, or its key alone.
	updateBefore := func(old bson.D) bson.D {
		if rnd.Intn(2) == 0 {
			return nil
		}
		return old
	}
	deleteBefore := func(tbl string, old bson.D) bson.D {
		if rnd.Intn(2) == 0 {
			return old
		}
		// The other columns are null, or zero values as Debezium gives
		// required columns it was not sent.
		zero := rnd.Intn(2) == 0
		d := bson.D{}
		for _, c := range old {
			v := c.Value
			if c.Key != "id" {
				switch v.(type) {
				case int32:
					v = int32(0)
				case int64:
					v = int64(0)
				case string:
					v = ""
				}
				if !zero {
					v = nil
				}
			}
			d = append(d, bson.E{Key: c.Key, Value: v})
		}
		return d
	}
	snapshot := rnd.Intn(6)
	for step := 0; step < n; step++ {
		tbl := model[rnd.Intn(len(model))].name
		id := int32(1 + rnd.Intn(int(pool[tbl])))
		old, exists := h.rows[tbl][id]
		switch {
		case !exists:
			row, ok := newRow(tbl, id)
			if !ok {
				continue
			}
			op := "c"
			if step < snapshot {
				op = "r"
			}
			h.rows[tbl][id] = row
			emit(tbl, op, id, nil, row)
		case rnd.Intn(3) > 0: // update
			row, ok := newRow(tbl, id)
			if !ok {
				continue
			}
			if tbl == "public.orders" && rnd.Intn(2) == 0 {
				row[1].Value = old[1].Value // keep the customer, change the rest
			}
			h.rows[tbl][id] = row
			emit(tbl, "u", id, updateBefore(old), row)
		default: // delete, when nothing references the row
			if tbl == "public.customers" && h.referenced("public.orders", "customer_id", id) ||
				tbl == "public.orders" && (h.referenced("public.order_lines", "order_id", id) || h.referenced("public.payments", "order_id", id)) {
				continue
			}
			delete(h.rows[tbl], id)
			emit(tbl, "d", id, deleteBefore(tbl, old), nil)
		}
	}
	return h
}

func nilIfEmpty(d bson.D) any {
	if d == nil {
		return nil
	}
	return d
}

// expected is the mapping of the final relational state, computed from
// the rows alone: the documents of each collection.
func (h *history) expected() map[string][]bson.D {
	out := map[string][]bson.D{}
	for _, id := range sortedIDs(h.rows["public.customers"]) {
		r := h.rows["public.customers"][id]
		out["customers"] = append(out["customers"], append(bson.D{{Key: "_id", Value: id}}, r...))
	}
	for _, id := range sortedIDs(h.rows["public.payments"]) {
		r := h.rows["public.payments"][id]
		if h.col("public.payments", id, "amount").(int64) > 0 {
			out["payments"] = append(out["payments"], append(bson.D{{Key: "_id", Value: id}}, r...))
		}
	}
	for _, id := range sortedIDs(h.rows["public.orders"]) {
		doc := bson.D{{Key: "_id", Value: id}, {Key: "id", Value: id}}
		cust := h.col("public.orders", id, "customer_id")
		if cust != nil {
			doc = append(doc, bson.E{Key: "customer_id", Value: cust})
		}
		if s := h.col("public.orders", id, "status"); s != nil {
			doc = append(doc, bson.E{Key: "state", Value: s})
		}
		doc = append(doc, bson.E{Key: "total", Value: h.col("public.orders", id, "total")})
		if cust != nil {
			doc = append(doc, bson.E{Key: "customer", Value: h.rows["public.customers"][cust.(int32)]})
		}
		lines := bson.A{}
		for _, lid := range sortedIDs(h.rows["public.order_lines"]) {
			if h.col("public.order_lines", lid, "order_id") == id {
				lines = append(lines, h.rows["public.order_lines"][lid])
			}
		}
		sort.SliceStable(lines, func(i, j int) bool {
			li, _ := sink.Lookup(lines[i].(bson.D), "line_no")
			lj, _ := sink.Lookup(lines[j].(bson.D), "line_no")
			return li.(int32) < lj.(int32)
		})
		payments := bson.A{}
		for _, pid := range sortedIDs(h.rows["public.payments"]) {
			if h.col("public.payments", pid, "order_id") == id && h.col("public.payments", pid, "amount").(int64) > 0 {
				payments = append(payments, h.rows["public.payments"][pid])
			}
		}
		if len(lines) > 0 {
			doc = append(doc, bson.E{Key: "lines", Value: lines})
		}
		if len(payments) > 0 {
			doc = append(doc, bson.E{Key: "payments", Value: payments})
		}
		out["orders"] = append(out["orders"], doc)
	}
	return out
}

func sortedIDs(m map[int32]bson.D) []int32 {
	ids := make([]int32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// normalized is a collection for comparison: fields sorted, and the
// payments array (in order of arrival, which the history decides) by id.
func normalized(t testing.TB, docs []bson.D) []string {
	t.Helper()
	out := make([]bson.D, 0, len(docs))
	for _, d := range docs {
		d = append(bson.D{}, d...)
		for i, e := range d {
			if a, ok := e.Value.(bson.A); ok && e.Key == "payments" {
				a = append(bson.A{}, a...)
				sort.SliceStable(a, func(x, y int) bool {
					ix, _ := sink.Lookup(a[x].(bson.D), "id")
					iy, _ := sink.Lookup(a[y].(bson.D), "id")
					return ix.(int32) < iy.(int32)
				})
				d[i].Value = a
			}
		}
		out = append(out, d)
	}
	return canonical(t, out)
}

// deliver plays a history's topics into a fresh engine the way a sink
// group sees them: topics interleaved at random, a batch at a time,
// offsets committed now and then; crashes (also in the middle of a
// record's writes) restart the mapper from the committed offsets, and
// offsets are sometimes rewound further, replaying any suffix.
func deliver(t testing.TB, rnd *rand.Rand, c *codecs, h *history, st *lungoStore) {
	topics := make([]string, 0, len(h.topics))
	for tbl := range h.topics {
		topics = append(topics, tbl)
	}
	slices.Sort(topics)
	allTopics := make([]string, 0, len(model))
	for _, mt := range model {
		allTopics = append(allTopics, "pg."+mt.name)
	}
	newMapper := func() *Mapper {
		m, err := New(modelMapping(), allTopics)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := newMapper()
	pos, committed := map[string]int{}, map[string]int{}
	crash := func() {
		for _, tbl := range topics {
			pos[tbl] = committed[tbl]
		}
		m = newMapper()
	}
	ctx := context.Background()
	for rounds := 0; ; rounds++ {
		var open []string
		for _, tbl := range topics {
			if pos[tbl] < len(h.topics[tbl]) {
				open = append(open, tbl)
			}
		}
		if len(open) == 0 {
			break
		}
		if rounds > 100000 {
			t.Fatal("delivery does not end")
		}
		tbl := open[rnd.Intn(len(open))]
		// Sometimes the next call to the store fails: the sink dies with a
		// record half written.
		if rnd.Intn(8) == 0 {
			left := rnd.Intn(6)
			st.fail = func() error {
				if left == 0 {
					return errCrash
				}
				left--
				return nil
			}
		}
		for n := 1 + rnd.Intn(4); n > 0 && pos[tbl] < len(h.topics[tbl]); n-- {
			kr := h.topics[tbl][pos[tbl]]
			key, err := c.dec.Read(ctx, "pg."+tbl, decode.PartKey, kr.key)
			if err != nil {
				t.Fatal(err)
			}
			value, err := c.dec.Read(ctx, "pg."+tbl, decode.PartValue, kr.value)
			if err != nil {
				t.Fatal(err)
			}
			keyDoc, err := key.D()
			if err != nil {
				t.Fatal(err)
			}
			valueDoc, err := value.Document()
			if err != nil {
				t.Fatal(err)
			}
			r := sink.Record{Topic: "pg." + tbl, Offset: int64(pos[tbl]), Key: keyDoc, RawValue: valueDoc}
			if err := m.Apply(ctx, st, r); err != nil {
				if !errors.Is(err, errCrash) {
					t.Fatalf("%s: %v", r.Where(), err)
				}
				break
			}
			pos[tbl]++
		}
		crashed := st.fail != nil && st.fail() != nil
		st.fail = nil
		switch {
		case crashed:
			crash()
		case rnd.Intn(3) == 0:
			committed[tbl] = pos[tbl]
		case rnd.Intn(20) == 0:
			// An offset reset: the topic is read again from any earlier point.
			committed[tbl] = rnd.Intn(committed[tbl] + 1)
			pos[tbl] = committed[tbl]
		case rnd.Intn(30) == 0:
			crash()
		}
	}
}

// The convergence property: for random DML histories over four tables
// with foreign keys, turned into Debezium Avro envelopes on one topic per
// table and delivered with random interleaving, replays and restarts
// (some in the middle of a record), the collections end equal to the
// mapping of the final relational state, computed from the rows alone.
// On lungo.
func TestConvergence(t *testing.T) {
	t.Parallel()
	convergence(t, *histories, func(int) *lungoStore { return openStore(t) })
}

// The same property over the wire, on FerretDB (SQLite): fewer histories,
// each in a database of its own. The model holds no Decimal128.
func TestConvergenceFerretDB(t *testing.T) {
	if testing.Short() {
		t.Skip("FerretDB in -short")
	}
	t.Parallel()
	client := ferret.Client(t)
	convergence(t, max(1, *histories/25), func(i int) *lungoStore {
		return &lungoStore{db: client.Database(fmt.Sprintf("h%d", i))}
	})
}

// The same property on a real MongoDB replica set, when
// SCHEMAFLOW_TEST_MONGODB_URI names one, in databases dropped afterwards.
func TestConvergenceRealMongoDB(t *testing.T) {
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
	prefix := fmt.Sprintf("schemaflow_relmap_%d_", time.Now().UnixNano())
	convergence(t, *histories, func(i int) *lungoStore {
		db := client.Database(fmt.Sprintf("%s%d", prefix, i))
		t.Cleanup(func() { _ = db.Drop(context.Background()) })
		return &lungoStore{db: db}
	})
}

func convergence(t *testing.T, n int, open func(i int) *lungoStore) {
	c := newCodecs(t)
	for i := 0; i < n; i++ {
		s := *seed + int64(i)
		rnd := rand.New(rand.NewSource(s))
		h := randomHistory(t, rnd, c, 15+rnd.Intn(35))
		st := open(i)
		deliver(t, rnd, c, h, st)
		want := h.expected()
		for _, coll := range []string{"customers", "orders", "payments"} {
			got := normalized(t, mustFind(t, st, coll))
			exp := normalized(t, want[coll])
			if !slices.Equal(got, exp) {
				t.Fatalf("seed %d (-relmap.seed=%d -relmap.histories=1), %d statements: %s\n got %s\nwant %s", s, s, h.ops, coll,
					strings.Join(got, "\n     "), strings.Join(exp, "\n     "))
			}
		}
	}
}

func mustFind(t testing.TB, st *lungoStore, coll string) []bson.D {
	t.Helper()
	docs, err := st.Find(context.Background(), coll, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

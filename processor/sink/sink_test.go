package sink

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
)

func d(t *testing.T, ext string) bson.D {
	t.Helper()
	if ext == "" {
		return nil
	}
	var out bson.D
	if err := bson.UnmarshalExtJSON([]byte(ext), false, &out); err != nil {
		t.Fatalf("%s: %v", ext, err)
	}
	return out
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	return string(m["v"])
}

// describe renders a write model as "kind filter body upsert".
func describe(t *testing.T, m mongo.WriteModel) string {
	t.Helper()
	switch x := m.(type) {
	case nil:
		return "none"
	case *mongo.ReplaceOneModel:
		return "replace " + js(t, x.Filter) + " " + js(t, x.Replacement) + upsert(x.Upsert)
	case *mongo.UpdateOneModel:
		return "update " + js(t, x.Filter) + " " + js(t, x.Update) + upsert(x.Upsert)
	case *mongo.InsertOneModel:
		return "insert " + js(t, x.Document)
	case *mongo.DeleteOneModel:
		return "delete " + js(t, x.Filter)
	}
	t.Fatalf("unexpected model %T", m)
	return ""
}

func upsert(b *bool) string {
	if b != nil && *b {
		return " upsert"
	}
	return ""
}

var when = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func rec(t *testing.T, key, value string) Record {
	return Record{Topic: "orders", Partition: 2, Offset: 41, Timestamp: when, Key: d(t, key), Value: d(t, value)}
}

// recs is the record of rec twice: its value as a bson.D, and as the
// BSON bytes the decoders write ("raw").
func recs(t *testing.T, key, value string) map[string]Record {
	t.Helper()
	r := rec(t, key, value)
	raw := r
	if r.Value != nil {
		b, err := bson.Marshal(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		raw.Value, raw.RawValue = nil, b
	}
	return map[string]Record{"bson.D": r, "raw": raw}
}

var generatedOID = regexp.MustCompile(`\{"\$oid":"[0-9a-f]{24}"\}`)

// sameModel reports whether a described model is want. In want,
// {"$oid":"*"} stands for a generated ObjectId: every one in got must be
// the same id.
func sameModel(got, want string) bool {
	if strings.Contains(want, `{"$oid":"*"}`) {
		ids := generatedOID.FindAllString(got, -1)
		for _, id := range ids {
			if id != ids[0] {
				return false
			}
		}
		got = generatedOID.ReplaceAllString(got, `{"$$oid":"*"}`)
	}
	return got == want
}

func TestModel(t *testing.T) {
	t.Parallel()
	now := func() time.Time { return when }
	tests := []struct {
		name       string
		key, value string
		opts       Options
		want       string // the whole model described, or an error text
		err        bool
	}{
		{"replace by value _id", `{"id": 1}`, `{"_id": 7, "a": 1}`, Options{ID: IDValue}, `replace {"_id":7} {"_id":7,"a":1} upsert`, false},
		{"existing _id kept", ``, `{"_id": 7, "a": 1}`, Options{}, `replace {"_id":7} {"_id":7,"a":1} upsert`, false},
		{"key _id", `{"_id": "k"}`, `{"a": 1}`, Options{ID: IDKey}, `replace {"_id":"k"} {"_id":"k","a":1} upsert`, false},
		{"key _id overwrites", `{"_id": "k"}`, `{"_id": 9, "a": 1}`, Options{ID: IDKey, OverwriteID: true}, `replace {"_id":"k"} {"_id":"k","a":1} upsert`, false},
		{"full key", `{"region": "eu", "n": 3}`, `{"a": 1}`, Options{ID: IDFullKey}, `replace {"_id":{"region":"eu","n":3}} {"_id":{"region":"eu","n":3},"a":1} upsert`, false},
		{"partial key", `{"region": "eu", "n": 3, "x": 0}`, `{"a": 1}`, Options{ID: IDPartialKey, PartialKey: Projection{Allow: true, Paths: []string{"region", "n"}}}, `replace {"_id":{"region":"eu","n":3}} {"_id":{"region":"eu","n":3},"a":1} upsert`, false},
		{"partial value", ``, `{"sku": "A", "store": 4, "qty": 2}`, Options{ID: IDPartialValue, PartialValue: Projection{Allow: true, Paths: []string{"sku", "store"}}}, `replace {"_id":{"sku":"A","store":4}} {"_id":{"sku":"A","store":4},"sku":"A","store":4,"qty":2} upsert`, false},
		{"kafka coordinates", ``, `{"a": 1}`, Options{ID: IDKafka}, `replace {"_id":"orders#2#41"} {"_id":"orders#2#41","a":1} upsert`, false},
		{"new ObjectId", ``, `{"a": 1}`, Options{}, `replace {"_id":{"$oid":"*"}} {"_id":{"$oid":"*"},"a":1} upsert`, false},
		{"new ObjectId replaces the value's", ``, `{"a": 1, "_id": 3, "b": 2}`, Options{OverwriteID: true}, `replace {"_id":{"$oid":"*"}} {"_id":{"$oid":"*"},"a":1,"b":2} upsert`, false},
		{"value _id moved first", `{"_id": "k"}`, `{"a": 1, "_id": 3}`, Options{ID: IDValue, OverwriteID: true}, `replace {"_id":3} {"_id":3,"a":1} upsert`, false},
		{"value without _id", ``, `{"a": 1}`, Options{ID: IDValue}, `orders/2/41: the value has no _id`, true},
		{"value with a null _id", ``, `{"a": 1, "_id": null}`, Options{ID: IDValue, OverwriteID: true}, `orders/2/41: the value has no _id`, true},
		{"insert with a key _id", `{"_id": {"r": "eu"}}`, `{"a": 1}`, Options{ID: IDKey, Write: WriteInsert}, `insert {"_id":{"r":"eu"},"a":1}`, false},
		{"replace with post processors", ``, `{"_id": 7, "a": null, "b": 1}`, Options{PostProcess: []PostProcessor{RemoveNulls, AddKafkaMetadata}}, `replace {"_id":7} {"_id":7,"b":1,"topic-partition-offset":"orders-2-41","CREATE_TIME":1767323045000} upsert`, false},
		{"update $set", ``, `{"_id": 7, "a": 1}`, Options{Write: WriteUpdate}, `update {"_id":7} {"$set":{"a":1}} upsert`, false},
		{"insert", ``, `{"_id": 7, "a": 1}`, Options{Write: WriteInsert}, `insert {"_id":7,"a":1}`, false},
		{"timestamps", ``, `{"_id": 7, "a": 1}`, Options{Write: WriteUpdateTimestamps, Now: now}, `update {"_id":7} {"$set":{"a":1,"_modifiedTS":{"$date":"2026-01-02T03:04:05Z"}},"$setOnInsert":{"_insertedTS":{"$date":"2026-01-02T03:04:05Z"}}} upsert`, false},
		{"business key replace", ``, `{"sku": "A", "store": {"id": 4}, "qty": 2}`, Options{ID: IDPartialValue, OverwriteID: true, PartialValue: Projection{Allow: true, Paths: []string{"sku", "store.id"}}, Write: WriteReplaceBusinessKey}, `replace {"sku":"A","store.id":4} {"sku":"A","store":{"id":4},"qty":2} upsert`, false},
		{"business key update with timestamps", ``, `{"sku": "A", "qty": 2}`, Options{ID: IDPartialValue, OverwriteID: true, PartialValue: Projection{Allow: true, Paths: []string{"sku"}}, Write: WriteUpdateBusinessKeyTimestamps, Now: now}, `update {"sku":"A"} {"$set":{"sku":"A","qty":2,"_modifiedTS":{"$date":"2026-01-02T03:04:05Z"}},"$setOnInsert":{"_insertedTS":{"$date":"2026-01-02T03:04:05Z"}}} upsert`, false},
		{"business key needs a document", ``, `{"_id": 3, "qty": 2}`, Options{Write: WriteReplaceBusinessKey}, `business-key strategy needs _id to be a document`, true},
		{"tombstone deletes by key", `{"_id": "k"}`, ``, Options{ID: IDKey, DeleteOnTombstone: true}, `delete {"_id":"k"}`, false},
		{"tombstone deletes by full key", `{"a": 1}`, ``, Options{ID: IDFullKey, DeleteOnTombstone: true}, `delete {"_id":{"a":1}}`, false},
		{"tombstone without delete", `{"_id": "k"}`, ``, Options{ID: IDKey}, `a record with a key and no value cannot be written`, true},
		{"tombstone with an objectid strategy", `{"_id": "k"}`, ``, Options{DeleteOnTombstone: true}, `the objectid id strategy cannot make an id from a key`, true},
		{"key _id missing", `{"x": 1}`, `{"a": 1}`, Options{ID: IDKey}, `orders/2/41: the key has no _id`, true},
		{"nothing at all", ``, ``, Options{}, `none`, false},
	}
	for _, tt := range tests {
		for form, r := range recs(t, tt.key, tt.value) {
			m, err := Model(r, tt.opts)
			check(t, tt.name+" ("+form+")", m, err, tt.want, tt.err)
		}
	}
}

func TestGeneratedIDs(t *testing.T) {
	t.Parallel()
	m, err := Model(rec(t, "", `{"a": 1}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*mongo.ReplaceOneModel).Replacement.(bson.D)[0].Value.(primitive.ObjectID); !ok {
		t.Fatal("the default id is not an ObjectId")
	}
	m, _ = Model(rec(t, "", `{"a": 1}`), Options{ID: IDUUID})
	if s, ok := m.(*mongo.ReplaceOneModel).Replacement.(bson.D)[0].Value.(string); !ok || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(s) {
		t.Fatalf("uuid string: %v", s)
	}
	m, _ = Model(rec(t, "", `{"a": 1}`), Options{ID: IDUUID, UUIDBinary: true})
	if b, ok := m.(*mongo.ReplaceOneModel).Replacement.(bson.D)[0].Value.(primitive.Binary); !ok || b.Subtype != 4 || len(b.Data) != 16 {
		t.Fatalf("uuid binary: %v", b)
	}
}

func TestProjection(t *testing.T) {
	t.Parallel()
	doc := `{"a": 1, "b": {"c": 2, "d": {"e": 3, "f": 4}}, "items": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 2}], "price_eur": 5, "price_usd": 6}`
	tests := []struct {
		allow bool
		paths []string
		want  string
	}{
		{true, []string{"a", "b.d.e"}, `{"a":1,"b":{"d":{"e":3}}}`},
		{true, []string{"b.**"}, `{"b":{"c":2,"d":{"e":3,"f":4}}}`},
		{true, []string{"**"}, `{"a":1,"b":{"c":2,"d":{"e":3,"f":4}},"items":[{"sku":"x","qty":1},{"sku":"y","qty":2}],"price_eur":5,"price_usd":6}`},
		{true, []string{"b.*.e"}, `{"b":{"d":{"e":3}}}`},
		{true, []string{"price*"}, `{"price_eur":5,"price_usd":6}`},
		{true, []string{"items.sku"}, `{"items":[{"sku":"x"},{"sku":"y"}]}`},
		{false, []string{"b.d", "price*"}, `{"a":1,"b":{"c":2},"items":[{"sku":"x","qty":1},{"sku":"y","qty":2}]}`},
		{false, []string{"items.qty", "b.*.f"}, `{"a":1,"b":{"c":2,"d":{"e":3}},"items":[{"sku":"x"},{"sku":"y"}],"price_eur":5,"price_usd":6}`},
	}
	for _, tt := range tests {
		got := js(t, Projection{Allow: tt.allow, Paths: tt.paths}.Apply(d(t, doc)))
		if got != tt.want {
			t.Errorf("allow=%v %v:\n got %s\nwant %s", tt.allow, tt.paths, got, tt.want)
		}
	}
}

func TestPostProcessors(t *testing.T) {
	t.Parallel()
	r := rec(t, "", "")
	v := d(t, `{"_id": 1, "first-name": "a", "address": {"zip-code": "1", "city": null}, "tags": [null], "gone": null, "secret": "s"}`)
	chain := []PostProcessor{
		Project(Projection{Paths: []string{"secret"}}),
		RenameByMapping([]Rename{{Old: "address.city", New: "town"}, {Old: "_id", New: "first-name"}}),
		RenameByRegexp([]RegexpRename{{Match: regexp.MustCompile(`-`), Pattern: regexp.MustCompile(`-`), Replace: "_"}}),
		RemoveNulls,
		AddKafkaMetadata,
	}
	for _, pp := range chain {
		var err error
		if v, err = pp(r, v); err != nil {
			t.Fatal(err)
		}
	}
	want := `{"_id":1,"first_name":"a","address":{"zip_code":"1"},"tags":[null],"topic-partition-offset":"orders-2-41","CREATE_TIME":1767323045000}`
	if got := js(t, v); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	// An allow list never drops the _id.
	out, _ := Project(Projection{Allow: true, Paths: []string{"a"}})(r, d(t, `{"_id": 5, "a": 1, "b": 2}`))
	if got := js(t, out); got != `{"_id":5,"a":1}` {
		t.Fatalf("allow list: %s", got)
	}
}

package sink

import (
	"context"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func openLungo(t *testing.T) lungo.ICollection {
	t.Helper()
	client, engine, err := lungo.Open(context.Background(), lungo.Options{Store: lungo.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	return client.Database("shop").Collection("orders")
}

func state(t *testing.T, coll lungo.ICollection) string {
	t.Helper()
	cur, err := coll.Find(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.D
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatal(err)
	}
	return js(t, docs)
}

func apply(t *testing.T, coll lungo.ICollection, models ...mongo.WriteModel) {
	t.Helper()
	var ms []mongo.WriteModel
	for _, m := range models {
		if m != nil {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return
	}
	if _, err := coll.BulkWrite(context.Background(), ms); err != nil {
		t.Fatal(err)
	}
}

// The write models do what they mean on a real engine: a Debezium row's
// life and a MongoDB document's life end in the right collection state.
func TestModelsOnLungo(t *testing.T) {
	t.Parallel()
	coll := openLungo(t)
	events := []struct{ key, value string }{
		{`{"id": 1}`, `{"after": {"id": 1, "status": "new", "total": 5}, "op": "c"}`},
		{`{"id": 2}`, `{"after": {"id": 2, "status": "new", "total": 7}, "op": "r"}`},
		{`{"id": 1}`, `{"before": {"id": 1}, "after": {"id": 1, "status": "paid", "total": 5}, "op": "u"}`},
		{`{"id": 2}`, `{"before": {"id": 2}, "after": null, "op": "d"}`},
		{`{"id": 2}`, ``}, // the tombstone after the delete
	}
	for _, e := range events {
		m, err := CDCModel(rec(t, e.key, e.value), HandlerDebeziumRDBMS, false)
		if err != nil {
			t.Fatal(err)
		}
		apply(t, coll, m)
	}
	if got := state(t, coll); got != `[{"_id":{"id":1},"status":"paid","total":5}]` {
		t.Fatalf("debezium: %s", got)
	}

	// lungo does not know $push modifiers, so truncatedArrays ($push with
	// $each/$slice) is covered by the unit tests only.
	docs := openLungo(t)
	changes := []string{
		`{"operationType": "insert", "documentKey": {"_id": 1}, "fullDocument": {"_id": 1, "tags": ["a", "b", "c"], "n": 1, "x": true}}`,
		`{"operationType": "update", "documentKey": {"_id": 1}, "updateDescription": {"updatedFields": {"n": 2}, "removedFields": ["x"]}}`,
		`{"operationType": "insert", "documentKey": {"_id": 2}, "fullDocument": {"_id": 2}}`,
		`{"operationType": "replace", "documentKey": {"_id": 2}, "fullDocument": {"_id": 2, "v": "new"}}`,
		`{"operationType": "insert", "documentKey": {"_id": 3}, "fullDocument": {"_id": 3}}`,
		`{"operationType": "delete", "documentKey": {"_id": 3}}`,
	}
	for _, c := range changes {
		m, err := CDCModel(rec(t, ``, c), HandlerMongoDB, false)
		if err != nil {
			t.Fatal(err)
		}
		apply(t, docs, m)
	}
	if got := state(t, docs); got != `[{"_id":1,"tags":["a","b","c"],"n":2},{"_id":2,"v":"new"}]` {
		t.Fatalf("change events: %s", got)
	}

	// Write strategies: replace twice is idempotent; update keeps fields.
	plain := openLungo(t)
	for range 2 {
		m, _ := Model(rec(t, ``, `{"_id": 1, "a": 1, "b": 1}`), Options{})
		apply(t, plain, m)
	}
	m, _ := Model(rec(t, ``, `{"_id": 1, "a": 2}`), Options{Write: WriteUpdate})
	apply(t, plain, m)
	if got := state(t, plain); got != `[{"_id":1,"a":2,"b":1}]` {
		t.Fatalf("strategies: %s", got)
	}
}

// The embedded engine takes writes by a document or binary _id through the
// driver's API: replace, update and delete match by it, an upsert inserts
// it, and changing it is an error, not a panic. (lungo v0.3.7 compared
// _ids with ==, which panics on documents; third_party/lungo fixes that.)
func TestLungoDocumentIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	coll := openLungo(t)
	compound := bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: "x"}}
	single := bson.D{{Key: "id", Value: int32(1)}}
	uuid := primitive.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}
	byID := func(id any) bson.D { return bson.D{{Key: "_id", Value: id}} }
	with := func(id any, k string, v any) bson.D { return bson.D{{Key: "_id", Value: id}, {Key: k, Value: v}} }
	for _, id := range []any{compound, single, uuid} {
		if _, err := coll.InsertOne(ctx, with(id, "n", int32(1))); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.ReplaceOne(ctx, byID(id), with(id, "n", int32(2))); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.UpdateOne(ctx, byID(id), bson.D{{Key: "$set", Value: bson.D{{Key: "m", Value: true}}}}); err != nil {
			t.Fatal(err)
		}
	}
	// A replacement without _id keeps the matched one.
	if _, err := coll.ReplaceOne(ctx, byID(single), bson.D{{Key: "n", Value: int32(3)}}); err != nil {
		t.Fatal(err)
	}
	// Bulk writes: an upsert of a new compound _id, a replace and a delete.
	other := bson.D{{Key: "a", Value: int32(2)}, {Key: "b", Value: "y"}}
	if _, err := coll.BulkWrite(ctx, []mongo.WriteModel{
		mongo.NewReplaceOneModel().SetFilter(byID(other)).SetReplacement(with(other, "n", int32(1))).SetUpsert(true),
		mongo.NewReplaceOneModel().SetFilter(byID(other)).SetReplacement(with(other, "n", int32(5))).SetUpsert(true),
		mongo.NewUpdateOneModel().SetFilter(byID(compound)).SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int32(10)}}}}).SetUpsert(true),
		mongo.NewDeleteOneModel().SetFilter(byID(uuid)),
	}); err != nil {
		t.Fatal(err)
	}
	// Changing a document _id is refused, as MongoDB refuses it.
	if _, err := coll.ReplaceOne(ctx, byID(compound), with(other, "n", int32(0))); err == nil {
		t.Fatal("a replace that changes the _id succeeded")
	}
	if _, err := coll.UpdateOne(ctx, byID(compound), bson.D{{Key: "$set", Value: bson.D{{Key: "_id.a", Value: int32(9)}}}}); err == nil {
		t.Fatal("an update that changes the _id succeeded")
	}
	want := `[{"_id":{"a":1,"b":"x"},"n":12,"m":true},{"_id":{"id":1},"n":3},{"_id":{"a":2,"b":"y"},"n":5}]`
	if got := state(t, coll); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	if n, err := coll.CountDocuments(ctx, byID(uuid)); err != nil || n != 0 {
		t.Fatalf("the binary _id was not deleted: %d, %v", n, err)
	}
}

// Every write strategy and CDC handler, with compound keys as _id, on the
// embedded engine: a record written, then written again changed, then
// deleted where the strategy or handler deletes; the collection ends as
// MongoDB would leave it.
func TestDocumentIDsOnLungo(t *testing.T) {
	t.Parallel()
	now := func() time.Time { return when }
	const key = `{"a": 1, "b": "x"}`
	const empty = `null` // state of an empty collection
	fullKey := Options{ID: IDFullKey, DeleteOnTombstone: true, Now: now}
	business := Options{ID: IDPartialValue, OverwriteID: true, PartialValue: Projection{Allow: true, Paths: []string{"a", "b"}}, Now: now}
	ts := `"_modifiedTS":{"$date":"2026-01-02T03:04:05Z"},"_insertedTS":{"$date":"2026-01-02T03:04:05Z"}`
	strategies := []struct {
		name   string
		opts   Options
		values []string // written in turn; "" is a tombstone
		want   string   // the documents, without _id when noID
		noID   bool
	}{
		{"replace", fullKey, []string{`{"v": 1, "w": 1}`, `{"v": 2}`}, `[{"_id":{"a":1,"b":"x"},"v":2}]`, false},
		{"replace then tombstone", fullKey, []string{`{"v": 1}`, `{"v": 2}`, ``}, empty, false},
		{"update", withWrite(fullKey, WriteUpdate), []string{`{"v": 1, "w": 1}`, `{"v": 2}`}, `[{"_id":{"a":1,"b":"x"},"v":2,"w":1}]`, false},
		{"update then tombstone", withWrite(fullKey, WriteUpdate), []string{`{"v": 1}`, `{"v": 2}`, ``}, empty, false},
		{"insert then tombstone", withWrite(fullKey, WriteInsert), []string{`{"v": 1}`, ``}, empty, false},
		{"update-timestamps", withWrite(fullKey, WriteUpdateTimestamps), []string{`{"v": 1, "w": 1}`, `{"v": 2}`}, `[{"_id":{"a":1,"b":"x"},"v":2,"w":1,` + ts + `}]`, false},
		{"replace-business-key", withWrite(business, WriteReplaceBusinessKey), []string{`{"a": 1, "b": "x", "v": 1, "w": 1}`, `{"a": 1, "b": "x", "v": 2}`}, `[{"a":1,"b":"x","v":2}]`, true},
		{"update-business-key-timestamps", withWrite(business, WriteUpdateBusinessKeyTimestamps), []string{`{"a": 1, "b": "x", "v": 1, "w": 1}`, `{"a": 1, "b": "x", "v": 2}`}, `[{"a":1,"b":"x","v":2,"w":1,` + ts + `}]`, true},
	}
	for _, s := range strategies {
		coll := openLungo(t)
		for _, v := range s.values {
			m, err := Model(rec(t, key, v), s.opts)
			if err != nil {
				t.Fatalf("%s: %s: %v", s.name, v, err)
			}
			apply(t, coll, m)
		}
		got := state(t, coll)
		if s.noID {
			got = stateWithoutID(t, coll)
		}
		if got != s.want {
			t.Errorf("%s:\n got %s\nwant %s", s.name, got, s.want)
		}
	}

	handlers := []struct {
		name    string
		handler Handler
		key     string
		values  []string
		want    string
	}{
		{"debezium-rdbms, one key column", HandlerDebeziumRDBMS, `{"id": 1}`, []string{
			`{"after": {"id": 1, "v": 1, "w": 1}, "op": "c"}`,
			`{"before": {"id": 1}, "after": {"id": 1, "v": 2}, "op": "u"}`,
			`{"after": {"id": 1, "v": 3}, "op": "r"}`,
		}, `[{"_id":{"id":1},"v":3}]`},
		{"debezium-rdbms, compound key, deleted", HandlerDebeziumRDBMS, key, []string{
			`{"after": {"a": 1, "b": "x", "v": 1}, "op": "c"}`,
			`{"before": {"a": 1, "b": "x"}, "after": {"a": 1, "b": "x", "v": 2}, "op": "u"}`,
			`{"before": {"a": 1, "b": "x"}, "after": null, "op": "d"}`,
			``,
		}, empty},
		{"mongodb change events", HandlerMongoDB, ``, []string{
			`{"operationType": "insert", "documentKey": {"_id": {"a": 1, "b": "x"}}, "fullDocument": {"_id": {"a": 1, "b": "x"}, "v": 1, "w": 1}}`,
			`{"operationType": "update", "documentKey": {"_id": {"a": 1, "b": "x"}}, "updateDescription": {"updatedFields": {"v": 2}, "removedFields": ["w"]}}`,
			`{"operationType": "insert", "documentKey": {"_id": {"a": 2, "b": "y"}}, "fullDocument": {"_id": {"a": 2, "b": "y"}, "v": 1}}`,
			`{"operationType": "replace", "documentKey": {"_id": {"a": 2, "b": "y"}}, "fullDocument": {"_id": {"a": 2, "b": "y"}, "v": 5}}`,
			`{"operationType": "update", "documentKey": {"_id": {"a": 2, "b": "y"}}, "fullDocument": {"_id": {"a": 2, "b": "y"}, "v": 6}, "updateDescription": {"updatedFields": {"v": 6}}}`,
			`{"operationType": "insert", "documentKey": {"_id": {"a": 3, "b": "z"}}, "fullDocument": {"_id": {"a": 3, "b": "z"}}}`,
			`{"operationType": "delete", "documentKey": {"_id": {"a": 3, "b": "z"}}}`,
		}, `[{"_id":{"a":1,"b":"x"},"v":2},{"_id":{"a":2,"b":"y"},"v":6}]`},
		{"debezium-mongodb", HandlerDebeziumMongoDB, `{"id": "{\"a\": 1, \"b\": \"x\"}"}`, []string{
			`{"after": "{\"_id\": {\"a\": 1, \"b\": \"x\"}, \"v\": 1}", "op": "c"}`,
			`{"after": "{\"_id\": {\"a\": 1, \"b\": \"x\"}, \"v\": 2}", "op": "u"}`,
		}, `[{"_id":{"a":1,"b":"x"},"v":2}]`},
		{"debezium-mongodb, deleted", HandlerDebeziumMongoDB, `{"id": "{\"a\": 1, \"b\": \"x\"}"}`, []string{
			`{"after": "{\"_id\": {\"a\": 1, \"b\": \"x\"}, \"v\": 1}", "op": "r"}`,
			`{"op": "d"}`,
		}, empty},
		{"debezium-mongodb-oplog", HandlerDebeziumMongoDBOplog, `{"id": "{\"a\": 1, \"b\": \"x\"}"}`, []string{
			`{"after": "{\"_id\": {\"a\": 1, \"b\": \"x\"}, \"v\": 1}", "op": "c"}`,
			`{"patch": "{\"$v\": 1, \"$set\": {\"v\": 2}}", "op": "u"}`,
			`{"patch": "{\"_id\": {\"a\": 1, \"b\": \"x\"}, \"v\": 3, \"w\": 1}", "op": "u"}`,
		}, `[{"_id":{"a":1,"b":"x"},"v":3,"w":1}]`},
	}
	for _, h := range handlers {
		coll := openLungo(t)
		for _, v := range h.values {
			m, err := CDCModel(rec(t, h.key, v), h.handler, false)
			if err != nil {
				t.Fatalf("%s: %s: %v", h.name, v, err)
			}
			apply(t, coll, m)
		}
		if got := state(t, coll); got != h.want {
			t.Errorf("%s:\n got %s\nwant %s", h.name, got, h.want)
		}
	}
}

func withWrite(o Options, w WriteStrategy) Options { o.Write = w; return o }

// stateWithoutID is state without the _ids, for strategies whose upserts
// make ObjectIds.
func stateWithoutID(t *testing.T, coll lungo.ICollection) string {
	t.Helper()
	cur, err := coll.Find(context.Background(), bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.D
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatal(err)
	}
	return js(t, docs)
}

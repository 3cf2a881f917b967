package sink

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/mongo"
)

func TestCDCMongoDB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value, want string
		dropNulls         bool
		err               bool
	}{
		{"insert", `{"operationType": "insert", "documentKey": {"_id": 1}, "fullDocument": {"_id": 1, "a": 1}}`, `replace {"_id":1} {"_id":1,"a":1} upsert`, false, false},
		{"replace", `{"operationType": "replace", "documentKey": {"_id": 1}, "fullDocument": {"_id": 1, "a": 2}}`, `replace {"_id":1} {"_id":1,"a":2} upsert`, false, false},
		{"update with the full document", `{"operationType": "update", "documentKey": {"_id": 1}, "fullDocument": {"_id": 1, "a": 3}, "updateDescription": {"updatedFields": {"a": 3}}}`, `replace {"_id":1} {"_id":1,"a":3}`, false, false},
		{"update by description", `{"operationType": "update", "documentKey": {"_id": 1}, "updateDescription": {"updatedFields": {"a": 3, "b.c": 1}, "removedFields": ["x", "y.z"], "truncatedArrays": [{"field": "tags", "newSize": 2}]}}`,
			`update {"_id":1} {"$set":{"a":3,"b.c":1},"$unset":{"x":"","y.z":""},"$push":{"tags":{"$each":[],"$slice":2}}}`, false, false},
		{"update dropping nulls", `{"operationType": "update", "documentKey": {"_id": 1}, "updateDescription": {"updatedFields": {"a": null}}}`, `none`, true, false},
		{"insert dropping nulls", `{"operationType": "insert", "documentKey": {"_id": 1}, "fullDocument": {"_id": 1, "a": null, "b": {"c": null}}}`, `replace {"_id":1} {"_id":1,"b":{}} upsert`, true, false},
		{"delete", `{"operationType": "delete", "documentKey": {"_id": 1}}`, `delete {"_id":1}`, false, false},
		{"drop is not a document change", `{"operationType": "drop", "ns": {"db": "d", "coll": "c"}}`, `none`, false, false},
		{"unknown description key", `{"operationType": "update", "documentKey": {"_id": 1}, "updateDescription": {"updatedFields": {}, "mystery": 1}}`, `"mystery", which cannot be applied without risk of data loss`, false, true},
		{"no document key", `{"operationType": "insert", "fullDocument": {"_id": 1}}`, `no documentKey`, false, true},
		{"no operation", `{"documentKey": {"_id": 1}}`, `needs a string operationType`, false, true},
	}
	for _, tt := range tests {
		for form, r := range recs(t, `{"_id": {"_data": "token"}}`, tt.value) {
			m, err := CDCModel(r, HandlerMongoDB, tt.dropNulls)
			check(t, tt.name+" ("+form+")", m, err, tt.want, tt.err)
		}
	}
}

func check(t *testing.T, name string, m mongo.WriteModel, err error, want string, wantErr bool) {
	t.Helper()
	if wantErr {
		if err == nil || !IsDataError(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, want)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if got := describe(t, m); !sameModel(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", name, got, want)
	}
}

// Debezium relational envelopes, as Debezium documents them: the key holds
// the primary key columns, the value before, after, source and op.
func TestCDCDebeziumRDBMS(t *testing.T) {
	t.Parallel()
	src := `"source": {"connector": "postgresql", "db": "shop", "schema": "public", "table": "orders", "snapshot": "false", "lsn": 12}, "ts_ms": 1700000000000`
	tests := []struct {
		name, key, value, want string
		err                    bool
	}{
		{"create", `{"id": 7}`, `{"before": null, "after": {"id": 7, "status": "new", "total": 9.5}, ` + src + `, "op": "c"}`, `replace {"_id":{"id":7}} {"_id":{"id":7},"status":"new","total":9.5} upsert`, false},
		{"snapshot read", `{"id": 7}`, `{"before": null, "after": {"id": 7, "status": "new"}, ` + src + `, "op": "r"}`, `replace {"_id":{"id":7}} {"_id":{"id":7},"status":"new"} upsert`, false},
		{"update", `{"id": 7}`, `{"before": {"id": 7, "status": "new"}, "after": {"id": 7, "status": "paid"}, ` + src + `, "op": "u"}`, `replace {"_id":{"id":7}} {"_id":{"id":7},"status":"paid"} upsert`, false},
		{"compound key", `{"region": "eu", "id": 7}`, `{"after": {"region": "eu", "id": 7, "qty": 1}, "op": "c"}`, `replace {"_id":{"region":"eu","id":7}} {"_id":{"region":"eu","id":7},"qty":1} upsert`, false},
		{"delete", `{"id": 7}`, `{"before": {"id": 7, "status": "paid"}, "after": null, ` + src + `, "op": "d"}`, `delete {"_id":{"id":7}}`, false},
		{"tombstone", `{"id": 7}`, ``, `none`, false},
		{"schema change", ``, `{"ddl": "ALTER TABLE orders ADD COLUMN x int"}`, `none`, false},
		{"no key: update by before", ``, `{"before": {"a": 1}, "after": {"a": 2}, "op": "u"}`, `replace {"a":1} {"a":2} upsert`, false},
		{"no key: delete by before", ``, `{"before": {"a": 1}, "op": "d"}`, `delete {"a":1}`, false},
		{"no key: create", ``, `{"after": {"a": 1}, "op": "c"}`, `replace {"_id":{"$oid":"*"}} {"_id":{"$oid":"*"},"a":1} upsert`, false},
		{"truncate", `{"id": 7}`, `{"op": "t", ` + src + `}`, `unknown Debezium operation "t"`, true},
		{"create without after", `{"id": 7}`, `{"op": "c"}`, `the "c" event has no after`, true},
		{"no op", `{"id": 7}`, `{"after": {"id": 7}}`, `needs op`, true},
	}
	for _, tt := range tests {
		for form, r := range recs(t, tt.key, tt.value) {
			m, err := CDCModel(r, HandlerDebeziumRDBMS, false)
			check(t, tt.name+" ("+form+")", m, err, tt.want, tt.err)
		}
	}
}

func TestCDCDebeziumMongoDB(t *testing.T) {
	t.Parallel()
	key := `{"id": "{\"$oid\": \"64b7f0a1c2d3e4f5a6b7c8d9\"}"}`
	filter := `{"_id":{"$oid":"64b7f0a1c2d3e4f5a6b7c8d9"}}`
	tests := []struct {
		name, value, want string
		oplog, err        bool
	}{
		{"create", `{"after": "{\"_id\": {\"$oid\": \"64b7f0a1c2d3e4f5a6b7c8d9\"}, \"a\": 1}", "op": "c"}`, `replace ` + filter + ` {"_id":{"$oid":"64b7f0a1c2d3e4f5a6b7c8d9"},"a":1} upsert`, false, false},
		{"update, change-stream format", `{"after": "{\"_id\": {\"$oid\": \"64b7f0a1c2d3e4f5a6b7c8d9\"}, \"a\": 2}", "op": "u"}`, `replace ` + filter + ` {"_id":{"$oid":"64b7f0a1c2d3e4f5a6b7c8d9"},"a":2} upsert`, false, false},
		{"update, oplog patch", `{"patch": "{\"$v\": 1, \"$set\": {\"a\": 3}}", "op": "u"}`, `update ` + filter + ` {"$set":{"a":3}}`, true, false},
		{"update, oplog full patch", `{"patch": "{\"_id\": {\"$oid\": \"64b7f0a1c2d3e4f5a6b7c8d9\"}, \"a\": 4}", "op": "u"}`, `replace ` + filter + ` {"_id":{"$oid":"64b7f0a1c2d3e4f5a6b7c8d9"},"a":4} upsert`, true, false},
		{"delete", `{"op": "d"}`, `delete ` + filter, false, false},
		{"bad after", `{"after": "{not json", "op": "c"}`, `after:`, false, true},
	}
	for _, tt := range tests {
		h := HandlerDebeziumMongoDB
		if tt.oplog {
			h = HandlerDebeziumMongoDBOplog
		}
		for form, r := range recs(t, key, tt.value) {
			m, err := CDCModel(r, h, false)
			check(t, tt.name+" ("+form+")", m, err, tt.want, tt.err)
		}
	}
	if _, err := CDCModel(rec(t, `{"x": 1}`, `{"op": "d"}`), HandlerDebeziumMongoDB, false); err == nil || !strings.Contains(err.Error(), "needs a key with the _id in id") {
		t.Fatalf("no key: %v", err)
	}
}

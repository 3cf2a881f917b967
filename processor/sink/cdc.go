package sink

import (
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
)

// Handler names a change-data-capture format.
type Handler string

// The CDC handlers.
const (
	// HandlerMongoDB reads MongoDB change events, as schemaflow's source
	// and the MongoDB Kafka Connector write them.
	HandlerMongoDB Handler = "mongodb"
	// HandlerDebeziumRDBMS reads Debezium relational envelopes (Postgres,
	// MySQL, ...): the key holds the primary key, which becomes _id.
	HandlerDebeziumRDBMS Handler = "debezium-rdbms"
	// HandlerDebeziumMongoDB reads Debezium MongoDB change-stream events.
	HandlerDebeziumMongoDB Handler = "debezium-mongodb"
	// HandlerDebeziumMongoDBOplog reads Debezium MongoDB oplog events
	// (after, patch).
	HandlerDebeziumMongoDBOplog Handler = "debezium-mongodb-oplog"
)

// CDCModel makes the write model for a change event. A nil model with a nil
// error means the event needs no write (a tombstone, a DDL or an event
// about the collection rather than a document). With dropNulls, null
// fields are left out of replacements and $set.
func CDCModel(r Record, h Handler, dropNulls bool) (mongo.WriteModel, error) {
	if len(r.Value) == 0 && len(r.RawValue) <= 5 {
		return nil, nil // a tombstone after a delete (or an empty value)
	}
	var m mongo.WriteModel
	var err error
	if r.Value == nil {
		if h == HandlerMongoDB && !dropNulls {
			if m, err = rawMongoEvent(r); err == nil {
				return m, nil
			}
		}
		if r, err = asD(r); err != nil {
			return nil, err
		}
	}
	switch h {
	case HandlerMongoDB:
		m, err = mongoEvent(r)
	case HandlerDebeziumRDBMS:
		m, err = debeziumRDBMS(r)
	case HandlerDebeziumMongoDB, HandlerDebeziumMongoDBOplog:
		m, err = debeziumMongo(r, h == HandlerDebeziumMongoDBOplog)
	default:
		return nil, fmt.Errorf("sink: unknown CDC handler %q", h)
	}
	if err != nil || m == nil || !dropNulls {
		return m, err
	}
	switch x := m.(type) {
	case *mongo.ReplaceOneModel:
		x.Replacement = nullsRemoved(x.Replacement)
	case *mongo.UpdateOneModel:
		u := x.Update.(bson.D)
		for i, e := range u {
			if e.Key == "$set" {
				u[i].Value = removeNulls(e.Value.(bson.D))
				if len(u[i].Value.(bson.D)) == 0 {
					u = append(u[:i], u[i+1:]...)
				}
				break
			}
		}
		if len(u) == 0 {
			return nil, nil // nothing left to change
		}
		x.Update = u
	}
	return m, nil
}

func nullsRemoved(v any) any {
	if d, ok := v.(bson.D); ok {
		return removeNulls(d)
	}
	return v
}

func doc(r Record, d bson.D, key string) (bson.D, bool, error) {
	v, ok := get(d, key)
	if !ok || v == nil {
		return nil, false, nil
	}
	sub, isDoc := v.(bson.D)
	if !isDoc {
		return nil, true, dataErr(r, "%s is a %T, not a document", key, v)
	}
	return sub, true, nil
}

// mongoEvent handles a MongoDB change event.
func mongoEvent(r Record) (mongo.WriteModel, error) {
	op, _ := get(r.Value, "operationType")
	opName, ok := op.(string)
	if !ok {
		return nil, dataErr(r, "a MongoDB change event needs a string operationType")
	}
	switch opName {
	case "insert", "replace", "update", "delete":
	default:
		return nil, nil // drop, rename, invalidate, ...: nothing to write
	}
	key, has, err := doc(r, r.Value, "documentKey")
	if err != nil {
		return nil, err
	}
	if !has || len(key) == 0 {
		return nil, dataErr(r, "the %s event has no documentKey", opName)
	}
	full, hasFull, err := doc(r, r.Value, "fullDocument")
	if err != nil {
		return nil, err
	}
	switch opName {
	case "insert", "replace":
		if !hasFull {
			return nil, dataErr(r, "the %s event has no fullDocument", opName)
		}
		return mongo.NewReplaceOneModel().SetFilter(key).SetReplacement(full).SetUpsert(true), nil
	case "delete":
		return mongo.NewDeleteOneModel().SetFilter(key), nil
	}
	if hasFull {
		return mongo.NewReplaceOneModel().SetFilter(key).SetReplacement(full), nil
	}
	desc, has, err := doc(r, r.Value, "updateDescription")
	if err != nil {
		return nil, err
	}
	if !has {
		return nil, dataErr(r, "the update event has neither fullDocument nor updateDescription")
	}
	var update bson.D
	for _, e := range desc {
		switch e.Key {
		case "updatedFields":
			fields, ok := e.Value.(bson.D)
			if !ok {
				return nil, dataErr(r, "updatedFields is not a document")
			}
			if len(fields) > 0 {
				update = append(update, bson.E{Key: "$set", Value: fields})
			}
		case "removedFields":
			list, ok := e.Value.(bson.A)
			if !ok {
				return nil, dataErr(r, "removedFields is not an array")
			}
			var unset bson.D
			for _, f := range list {
				name, ok := f.(string)
				if !ok {
					return nil, dataErr(r, "removedFields holds a %T", f)
				}
				unset = append(unset, bson.E{Key: name, Value: ""})
			}
			if len(unset) > 0 {
				update = append(update, bson.E{Key: "$unset", Value: unset})
			}
		case "truncatedArrays":
			// Applied, where the MongoDB Kafka Connector drops them: an array
			// cut to newSize keeps its first newSize elements.
			list, ok := e.Value.(bson.A)
			if !ok {
				return nil, dataErr(r, "truncatedArrays is not an array")
			}
			var push bson.D
			for _, t := range list {
				td, ok := t.(bson.D)
				field, _ := get(td, "field")
				size, _ := get(td, "newSize")
				name, ok2 := field.(string)
				n, ok3 := toInt(size)
				if !ok || !ok2 || !ok3 {
					return nil, dataErr(r, "a truncatedArrays entry needs field and newSize")
				}
				push = append(push, bson.E{Key: name, Value: bson.D{{Key: "$each", Value: bson.A{}}, {Key: "$slice", Value: n}}})
			}
			if len(push) > 0 {
				update = append(update, bson.E{Key: "$push", Value: push})
			}
		case "disambiguatedPaths":
			// Describes updatedFields paths; nothing to apply.
		default:
			return nil, dataErr(r, "updateDescription holds %q, which cannot be applied without risk of data loss", e.Key)
		}
	}
	if len(update) == 0 {
		return nil, nil
	}
	return mongo.NewUpdateOneModel().SetFilter(key).SetUpdate(update), nil
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), n == float64(int64(n))
	}
	return 0, false
}

// debeziumRDBMS handles a Debezium relational envelope.
func debeziumRDBMS(r Record) (mongo.WriteModel, error) {
	op, hasOp := get(r.Value, "op")
	if !hasOp || op == nil {
		if _, ddl := get(r.Value, "ddl"); ddl {
			return nil, nil // a schema change
		}
		return nil, dataErr(r, "a Debezium event needs op")
	}
	opName, ok := op.(string)
	if !ok {
		return nil, dataErr(r, "op is a %T, not a string", op)
	}
	after, hasAfter, err := doc(r, r.Value, "after")
	if err != nil {
		return nil, err
	}
	before, _, err := doc(r, r.Value, "before")
	if err != nil {
		return nil, err
	}
	if r.KeyScalar != nil {
		return nil, dataErr(r, "a Debezium relational event needs a document key (the primary-key columns), and this key is %s", r.keyKind())
	}
	keyed := len(r.Key) > 0
	var id any
	if keyed {
		id = r.Key
	}
	switch opName {
	case "c", "r", "u":
		if !hasAfter || len(after) == 0 {
			return nil, dataErr(r, "the %q event has no after", opName)
		}
		if !keyed && opName == "u" {
			if len(before) == 0 {
				return nil, dataErr(r, "an update of a table without a key needs before")
			}
			return mongo.NewReplaceOneModel().SetFilter(before).SetReplacement(without(after, "_id")).SetUpsert(true), nil
		}
		if !keyed {
			id = primitive.NewObjectID()
		}
		// The primary-key columns live in the compound _id only.
		body := after
		if keyed {
			var keys []string
			for _, e := range r.Key {
				keys = append(keys, e.Key)
			}
			body = without(after, keys...)
		}
		replacement := append(bson.D{{Key: "_id", Value: id}}, without(body, "_id")...)
		return mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetReplacement(replacement).SetUpsert(true), nil
	case "d":
		if keyed {
			return mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}), nil
		}
		if len(before) == 0 {
			return nil, dataErr(r, "a delete from a table without a key needs before")
		}
		return mongo.NewDeleteOneModel().SetFilter(before), nil
	}
	return nil, dataErr(r, "unknown Debezium operation %q", opName)
}

// debeziumMongo handles Debezium MongoDB events: the key's id field holds
// the _id as Extended JSON, after (and patch, in the oplog format) hold
// documents as Extended JSON.
func debeziumMongo(r Record, oplog bool) (mongo.WriteModel, error) {
	keyJSON, ok := get(r.Key, "id")
	keyText, isText := keyJSON.(string)
	if !ok || !isText {
		return nil, dataErr(r, "a Debezium MongoDB event needs a key with the _id in id")
	}
	id, err := parseExtJSONValue(keyText)
	if err != nil {
		return nil, dataErr(r, "key id: %v", err)
	}
	op, hasOp := get(r.Value, "op")
	if !hasOp {
		if _, ddl := get(r.Value, "ddl"); ddl {
			return nil, nil
		}
		return nil, dataErr(r, "a Debezium event needs op")
	}
	filter := bson.D{{Key: "_id", Value: id}}
	parse := func(field string) (bson.D, error) {
		v, _ := get(r.Value, field)
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s is not Extended JSON text", field)
		}
		var d bson.D
		if err := bson.UnmarshalExtJSON([]byte(s), false, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return d, nil
	}
	switch op {
	case "c", "r":
		after, err := parse("after")
		if err != nil {
			return nil, dataErr(r, "%v", err)
		}
		return mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(after).SetUpsert(true), nil
	case "u":
		if !oplog {
			after, err := parse("after")
			if err != nil {
				return nil, dataErr(r, "%v", err)
			}
			return mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(after).SetUpsert(true), nil
		}
		patch, err := parse("patch")
		if err != nil {
			return nil, dataErr(r, "%v", err)
		}
		patch = without(patch, "$v")
		if _, has := get(patch, "_id"); has {
			return mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(patch).SetUpsert(true), nil
		}
		return mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(patch), nil
	case "d":
		return mongo.NewDeleteOneModel().SetFilter(filter), nil
	}
	return nil, dataErr(r, "unknown Debezium operation %v", op)
}

// parseExtJSONValue parses one Extended JSON value, such as a key's _id.
func parseExtJSONValue(text string) (any, error) {
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(`{"v":`+text+`}`), false, &d); err != nil {
		return nil, err
	}
	return d[0].Value, nil
}

package sink

import (
	"errors"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/schemaflow/schemaflow/schemas/rawbson"
)

// A record's value may come as BSON bytes (Record.RawValue), as the
// decoders write it. The strategies that write a document as it is —
// replace and insert without post processors, and MongoDB change events'
// inserts, replaces and deletes — make their write models from those bytes
// without unmarshalling them: an _id the value lacks is added by copying
// the bytes once behind it. Every other strategy unmarshals the value into
// a bson.D first and edits that. Both ways make the same writes.

// checkRaw makes sure a raw value is a well-formed BSON document before
// anything reads it (the driver's readers panic on some malformed bytes),
// unless the decoder that wrote it vouched for it (RawValueChecked).
func checkRaw(r Record) error {
	if r.RawValueChecked {
		return nil
	}
	if err := rawbson.Validate(r.RawValue); err != nil {
		return dataErr(r, "value: %v", err)
	}
	return nil
}

// ValueD returns the value as a bson.D: Value, or RawValue unmarshalled;
// nil for a tombstone.
func (r Record) ValueD() (bson.D, error) {
	if r.Value != nil || r.RawValue == nil {
		return r.Value, nil
	}
	if err := checkRaw(r); err != nil {
		return nil, err
	}
	var d bson.D
	if err := bson.Unmarshal(r.RawValue, &d); err != nil {
		return nil, dataErr(r, "value: %v", err)
	}
	if d == nil {
		d = bson.D{}
	}
	return d, nil
}

// hasValue reports whether the record has a value (it is not a tombstone).
func (r Record) hasValue() bool { return r.Value != nil || r.RawValue != nil }

// asD makes a record with a raw value into one with a bson.D value.
func asD(r Record) (Record, error) {
	d, err := r.ValueD()
	if err != nil {
		return r, err
	}
	r.Value, r.RawValue = d, nil
	return r, nil
}

// LookupValue returns the value at a dotted path of the record's value,
// read from the bytes when the value is raw: a document there comes back
// as a bson.D, as Lookup returns it.
func (r Record) LookupValue(path ...string) (any, bool) {
	if r.Value != nil || r.RawValue == nil {
		return lookup(r.Value, path)
	}
	if checkRaw(r) != nil {
		return nil, false
	}
	rv, err := r.RawValue.LookupErr(path...)
	if err != nil {
		return nil, false
	}
	var v any
	if err := rv.Unmarshal(&v); err != nil {
		return nil, false
	}
	return v, true
}

// rawModel makes the write model of a raw value for replace and insert
// without post processors. ok is false when the strategy needs the value
// as a bson.D.
func rawModel(r Record, o Options) (m mongo.WriteModel, ok bool, err error) {
	if len(o.PostProcess) > 0 || (o.Write != WriteReplace && o.Write != WriteInsert) || o.ID == IDPartialValue {
		return nil, false, nil
	}
	if err := checkRaw(r); err != nil {
		return nil, true, err
	}
	doc := r.RawValue
	var id any
	if rv, err := doc.LookupErr("_id"); err == nil && !o.OverwriteID {
		id = rv
	} else {
		if o.ID == IDValue {
			if err != nil || rv.Type == bson.TypeNull {
				return nil, true, dataErr(r, "the value has no _id")
			}
			id = rv
		} else if id, err = newID(r, nil, o); err != nil {
			return nil, true, err
		}
		if doc, err = withID(doc, id); err != nil {
			return nil, true, dataErr(r, "_id: %v", err)
		}
	}
	if o.Write == WriteInsert {
		return mongo.NewInsertOneModel().SetDocument(doc), true, nil
	}
	return mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetReplacement(doc).SetUpsert(true), true, nil
}

// withID returns doc with _id first, set to id, and the other fields after
// it in their order (an _id it held is dropped).
func withID(doc bson.Raw, id any) (bson.Raw, error) {
	var t bsontype.Type
	var data []byte
	if rv, ok := id.(bson.RawValue); ok {
		t, data = rv.Type, rv.Value
	} else {
		var err error
		if t, data, err = bson.MarshalValue(id); err != nil {
			return nil, err
		}
	}
	elems, err := bsoncore.Document(doc).Elements()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(doc)+len(data)+8)
	idx, out := bsoncore.AppendDocumentStart(out)
	out = bsoncore.AppendHeader(out, t, "_id")
	out = append(out, data...)
	for _, e := range elems {
		if e.Key() != "_id" {
			out = append(out, e...)
		}
	}
	out, err = bsoncore.AppendDocumentEnd(out, idx)
	return bson.Raw(out), err
}

// errFallback says the raw path leaves a change event to the bson.D path.
var errFallback = errors.New("fallback")

// rawMongoEvent makes the write model of a MongoDB change event held as
// bytes, for inserts, replaces, deletes and updates that carry the full
// document: the document key and full document are written as they are.
// Every other event, and every event with something wrong with it, returns
// errFallback: the bson.D path handles it and names the problem.
func rawMongoEvent(r Record) (mongo.WriteModel, error) {
	if checkRaw(r) != nil {
		return nil, errFallback // ValueD names the problem
	}
	op, ok := r.RawValue.Lookup("operationType").StringValueOK()
	if !ok {
		return nil, errFallback
	}
	switch op {
	case "insert", "replace", "update", "delete":
	default:
		return nil, errFallback
	}
	key, ok := r.RawValue.Lookup("documentKey").DocumentOK()
	if !ok || len(key) <= 5 {
		return nil, errFallback
	}
	if op == "delete" {
		return mongo.NewDeleteOneModel().SetFilter(key), nil
	}
	full, ok := r.RawValue.Lookup("fullDocument").DocumentOK()
	if !ok {
		return nil, errFallback
	}
	m := mongo.NewReplaceOneModel().SetFilter(key).SetReplacement(full)
	if op != "update" {
		m.SetUpsert(true)
	}
	return m, nil
}

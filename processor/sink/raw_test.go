package sink

import (
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
)

// The strategies that write a document as it is make their models from the
// decoder's bytes: no copy when the value has its _id, one copy with the
// _id first when it has not. (TestModel and the TestCDC tests check that
// both forms of a record make the same models.)
func TestRawValueWrittenAsIs(t *testing.T) {
	t.Parallel()
	raw := recs(t, "", `{"_id": 7, "a": {"b": [1, 2]}}`)["raw"]
	sameBytes := func(name string, got any, want bson.Raw) {
		t.Helper()
		b, ok := got.(bson.Raw)
		if !ok || len(b) != len(want) || &b[0] != &want[0] {
			t.Errorf("%s: %T is not the value's own bytes", name, got)
		}
	}
	m, err := Model(raw, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes("replace", m.(*mongo.ReplaceOneModel).Replacement, raw.RawValue)
	m, err = Model(raw, Options{Write: WriteInsert})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes("insert", m.(*mongo.InsertOneModel).Document, raw.RawValue)

	event := recs(t, "", `{"operationType": "insert", "documentKey": {"_id": 1}, "fullDocument": {"_id": 1, "a": 1}}`)["raw"]
	m, err = CDCModel(event, HandlerMongoDB, false)
	if err != nil {
		t.Fatal(err)
	}
	full := event.RawValue.Lookup("fullDocument").Document()
	sameBytes("change event", m.(*mongo.ReplaceOneModel).Replacement, full)

	// A generated _id goes first, of the strategy's type.
	m, err = Model(recs(t, "", `{"a": 1, "b": "x"}`)["raw"], Options{ID: IDUUID, UUIDBinary: true})
	if err != nil {
		t.Fatal(err)
	}
	doc := m.(*mongo.ReplaceOneModel).Replacement.(bson.Raw)
	elems, err := doc.Elements()
	if err != nil || len(elems) != 3 || elems[0].Key() != "_id" {
		t.Fatalf("replacement %v (%v), want _id first and two fields", doc, err)
	}
	st, data, ok := elems[0].Value().BinaryOK()
	if !ok || st != 4 || len(data) != 16 {
		t.Fatalf("_id %v, want a binary UUID", elems[0].Value())
	}
	filter := m.(*mongo.ReplaceOneModel).Filter.(bson.D)
	if b, ok := filter[0].Value.(primitive.Binary); !ok || string(b.Data) != string(data) {
		t.Fatalf("filter %v does not hold the replacement's _id", filter)
	}
}

// Malformed bytes are a DataError naming the record, never a panic.
func TestRawValueMalformed(t *testing.T) {
	t.Parallel()
	bad := Record{Topic: "orders", Partition: 2, Offset: 41, RawValue: bson.Raw{9, 0, 0, 0, 2, 'a', 0, 0xff, 0}}
	for _, o := range []Options{{}, {Write: WriteUpdate}, {ID: IDKafka}} {
		if _, err := Model(bad, o); err == nil || !IsDataError(err) {
			t.Errorf("%+v: got %v, want a DataError", o, err)
		}
	}
	if _, err := CDCModel(bad, HandlerMongoDB, false); err == nil || !IsDataError(err) {
		t.Errorf("change event: got %v, want a DataError", err)
	}
}

// Any bytes as a raw value make a model or a DataError, never a panic, in
// every strategy that reads raw values and in the MongoDB handler.
func FuzzRawValue(f *testing.F) {
	for _, ext := range []string{`{"_id": 7, "a": {"b": [1, 2]}}`, `{"a": 1}`,
		`{"operationType": "insert", "documentKey": {"_id": 1}, "fullDocument": {"_id": 1, "a": 1}}`,
		`{"operationType": "delete", "documentKey": {"_id": 1}}`} {
		var v bson.D
		if err := bson.UnmarshalExtJSON([]byte(ext), false, &v); err != nil {
			f.Fatal(err)
		}
		b, _ := bson.Marshal(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := Record{Topic: "t", Key: bson.D{{Key: "_id", Value: 1}}, RawValue: b}
		for _, o := range []Options{{}, {Write: WriteInsert}, {ID: IDValue}, {ID: IDKey, OverwriteID: true}, {Write: WriteUpdate}} {
			if _, err := Model(r, o); err != nil && !IsDataError(err) {
				t.Fatalf("%+v: %v is not a DataError", o, err)
			}
		}
		if _, err := CDCModel(r, HandlerMongoDB, false); err != nil && !IsDataError(err) {
			t.Fatalf("change event: %v is not a DataError", err)
		}
		r.LookupValue("a", "b")
	})
}

// A raw value its decoder vouched for (RawValueChecked) is not validated
// again: the models are those of the same value unchecked, for every
// strategy and the MongoDB handler.
func TestRawValueChecked(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{`{"_id": 7, "a": {"b": [1, 2]}}`, `{"a": 1, "b": "x"}`,
		`{"operationType": "insert", "documentKey": {"_id": 1}, "fullDocument": {"_id": 1, "a": 1}}`} {
		r := recs(t, "", ext)["raw"]
		checked := r
		checked.RawValueChecked = true
		// Generated ObjectIds differ from model to model.
		describe := func(t *testing.T, m mongo.WriteModel) string {
			return generatedOID.ReplaceAllString(describe(t, m), "ObjectId")
		}
		for _, o := range []Options{{}, {Write: WriteInsert}, {ID: IDValue}, {ID: IDKafka}, {Write: WriteUpdate}} {
			want, werr := Model(r, o)
			got, gerr := Model(checked, o)
			if (werr == nil) != (gerr == nil) || describe(t, got) != describe(t, want) {
				t.Errorf("%s %+v: checked %s (%v), unchecked %s (%v)", ext, o, describe(t, got), gerr, describe(t, want), werr)
			}
		}
		want, werr := CDCModel(r, HandlerMongoDB, false)
		got, gerr := CDCModel(checked, HandlerMongoDB, false)
		if (werr == nil) != (gerr == nil) || describe(t, got) != describe(t, want) {
			t.Errorf("%s change event: checked %s (%v), unchecked %s (%v)", ext, describe(t, got), gerr, describe(t, want), werr)
		}
	}
	// The check is skipped, not merely passed: bytes that do not validate
	// (a string that is not UTF-8) but that the reader can walk go
	// through when vouched for, and are refused when not.
	notUTF8 := Record{Topic: "t", RawValue: bson.Raw{14, 0, 0, 0, 2, 's', 0, 2, 0, 0, 0, 0xff, 0, 0}}
	if _, err := Model(notUTF8, Options{ID: IDKafka}); err == nil || !IsDataError(err) {
		t.Fatalf("unchecked non-UTF-8 string: got %v, want a DataError", err)
	}
	notUTF8.RawValueChecked = true
	if _, err := Model(notUTF8, Options{ID: IDKafka}); err != nil {
		t.Fatalf("checked value validated again: %v", err)
	}
}

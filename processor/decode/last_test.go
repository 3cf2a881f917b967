package decode

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
	"github.com/schemaflow/schemaflow/schemas/wire"
)

// TestReadSchemaChanges reads keys and values whose schema ids change from
// record to record and back (the decoder remembers the last per part):
// each record is decoded with its own schema, each schema fetched once,
// and every other read counted as a cache hit. Avro documents of a schema
// that bounds their nesting are Checked; JSON Schema ones are not.
func TestReadSchemaChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := newRegistry(t)
	frame := func(subject, text string, doc bson.D) []byte {
		t.Helper()
		id := register(t, c, subject, registry.RegisterRequest{Schema: text})
		sd, err := serde.New([]byte(text), serde.Options{Format: schemas.Avro, ID: uint32(id)})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := bson.Marshal(doc)
		f, err := sd.Encode(nil, raw)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	key := frame("k-key", `{"type":"record","name":"K","fields":[{"name":"id","type":"long"}]}`, bson.D{{Key: "id", Value: int64(7)}})
	v1 := frame("v-value", `{"type":"record","name":"V","fields":[{"name":"a","type":"string"}]}`, bson.D{{Key: "a", Value: "one"}})
	v2 := frame("v-value", `{"type":"record","name":"V","fields":[{"name":"a","type":"string"},{"name":"b","type":["null","long"],"default":null}]}`,
		bson.D{{Key: "a", Value: "two"}, {Key: "b", Value: int64(2)}})
	jsonID := register(t, c, "j-value", registry.RegisterRequest{Schema: `{"type": "object"}`, SchemaType: registry.TypeJSON})
	j := append(wire.AppendHeader(nil, uint32(jsonID)), `{"j": true}`...)

	d := New(Options{Registry: c})
	reads := []struct {
		part    Part
		data    []byte
		want    string
		checked bool
	}{
		{PartKey, key, `{"id":{"$numberLong":"7"}}`, true},
		{PartValue, v1, `{"a":"one"}`, true},
		{PartKey, key, `{"id":{"$numberLong":"7"}}`, true},
		{PartValue, v2, `{"a":"two","b":{"$numberLong":"2"}}`, true},
		{PartValue, v1, `{"a":"one"}`, true},
		{PartValue, j, `{"j":true}`, false},
		{PartValue, v2, `{"a":"two","b":{"$numberLong":"2"}}`, true},
		{PartKey, key, `{"id":{"$numberLong":"7"}}`, true},
		{PartValue, j, `{"j":true}`, false},
	}
	for i, r := range reads {
		v, err := d.Read(ctx, "t", r.part, r.data)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		doc, err := v.D()
		if err != nil {
			t.Fatal(err)
		}
		if got := js(t, doc); got != r.want || v.Checked != r.checked {
			t.Fatalf("read %d: %s checked %v, want %s checked %v", i, got, v.Checked, r.want, r.checked)
		}
	}
	if s := d.Stats(); s.Misses != 4 || s.Hits != int64(len(reads)-4) {
		t.Fatalf("stats: %d hits, %d misses; want %d, 4", s.Hits, s.Misses, len(reads)-4)
	}
	var keys, values int64
	for _, f := range d.Stats().Formats {
		switch f.Part {
		case PartKey:
			keys += f.N
		case PartValue:
			values += f.N
		}
	}
	if keys != 3 || values != 6 {
		t.Fatalf("formats count %d keys and %d values, want 3 and 6", keys, values)
	}
}

package serde_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/serde"
	"github.com/schemaflow/schemaflow/schemas/wire"
)

const (
	avroNumbers  = `{"type":"record","name":"D","fields":[{"name":"n","type":["int","long","double"]}]}`
	protoNumbers = `syntax = "proto3";
message D { oneof n { int32 n_int32 = 1; int64 n_int64 = 2; double n_double = 3; } }`
	avroLong   = `{"type":"record","name":"D","fields":[{"name":"n","type":"long"}]}`
	avroDouble = `{"type":"record","name":"D","fields":[{"name":"n","type":"double"}]}`
	protoLong  = `syntax = "proto3";
message D { optional int64 n = 1; }`
	protoDouble = `syntax = "proto3";
message D { optional double n = 1; }`
)

// Under NumbersExact the encoders write each BSON number to the union
// branch or oneof member of its own type, and decoding restores the type.
// The payload is checked byte for byte and, for Avro, against goavro.
func TestExactNumbersPickTheirOwnBranch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc     string
		avro    []byte // branch index, then the value
		goavro  map[string]any
		proto   []byte // the member's tag, then the value
		bsonTyp string
	}{
		{`{"n": {"$numberInt": "5"}}`, []byte{0x00, 0x0a}, map[string]any{"int": int32(5)}, []byte{0x08, 0x05}, "$numberInt"},
		{`{"n": {"$numberLong": "5"}}`, []byte{0x02, 0x0a}, map[string]any{"long": int64(5)}, []byte{0x10, 0x05}, "$numberLong"},
		{`{"n": {"$numberDouble": "5.0"}}`, []byte{0x04, 0, 0, 0, 0, 0, 0, 0x14, 0x40}, map[string]any{"double": 5.0}, []byte{0x19, 0, 0, 0, 0, 0, 0, 0x14, 0x40}, "$numberDouble"},
	}
	ref, err := goavro.NewCodec(avroNumbers)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		for _, c := range []struct {
			format schemas.Format
			text   string
			want   []byte
		}{
			{schemas.Avro, avroNumbers, tt.avro},
			{schemas.Protobuf, protoNumbers, append([]byte{0x00}, tt.proto...)}, // message index [0] first
		} {
			s, err := serde.New([]byte(c.text), serde.Options{Format: c.format, Numbers: schemas.NumbersExact})
			if err != nil {
				t.Fatal(err)
			}
			doc, _ := extjson.Parse([]byte(tt.doc))
			frame, err := s.Encode(nil, doc)
			if err != nil {
				t.Fatalf("%s %s: %v", c.format, tt.doc, err)
			}
			if payload := frame[wire.HeaderSize:]; !bytes.Equal(payload, c.want) {
				t.Errorf("%s %s: payload % x, want % x", c.format, tt.doc, payload, c.want)
			}
			if c.format == schemas.Avro {
				native, _, err := ref.NativeFromBinary(frame[wire.HeaderSize:])
				if err != nil || !reflect.DeepEqual(native.(map[string]any)["n"], tt.goavro) {
					t.Errorf("goavro reads %v (%v), want %v", native, err, tt.goavro)
				}
			}
			back, _, err := s.Decode(frame)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := extjson.Canonical(back)
			want, _ := extjson.Canonical(doc)
			if !bytes.Equal(got, want) || !strings.Contains(string(got), tt.bsonTyp) {
				t.Errorf("%s: decoded %s, want %s", c.format, got, want)
			}
		}
	}
}

// A number the schema carries only by conversion is refused under
// NumbersExact, naming the field, and converted under NumbersWiden.
func TestExactNumbersRefuseConversions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format schemas.Format
		schema string
		doc    string
		widen  string // what NumbersWiden decodes
	}{
		{schemas.Avro, avroLong, `{"n": {"$numberInt": "5"}}`, `{"n":{"$numberLong":"5"}}`},
		{schemas.Avro, avroDouble, `{"n": {"$numberInt": "5"}}`, `{"n":{"$numberDouble":"5.0"}}`},
		{schemas.Avro, avroDouble, `{"n": {"$numberLong": "5"}}`, `{"n":{"$numberDouble":"5.0"}}`},
		{schemas.Avro, `{"type":"record","name":"D","fields":[{"name":"n","type":"int"}]}`, `{"n": {"$numberLong": "5"}}`, `{"n":{"$numberInt":"5"}}`},
		{schemas.Protobuf, protoLong, `{"n": {"$numberInt": "5"}}`, `{"n":{"$numberLong":"5"}}`},
		{schemas.Protobuf, protoDouble, `{"n": {"$numberLong": "5"}}`, `{"n":{"$numberDouble":"5.0"}}`},
		{schemas.Protobuf, "syntax = \"proto3\";\nmessage D { optional int32 n = 1; }", `{"n": {"$numberLong": "5"}}`, `{"n":{"$numberInt":"5"}}`},
	}
	for _, tt := range tests {
		doc, _ := extjson.Parse([]byte(tt.doc))
		exact, err := serde.New([]byte(tt.schema), serde.Options{Format: tt.format, Numbers: schemas.NumbersExact})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := exact.Encode(nil, doc); err == nil || !strings.Contains(err.Error(), `field "n"`) {
			t.Errorf("%s %s into %s: exact encode gave %v, want an error naming field \"n\"", tt.format, tt.doc, tt.schema, err)
		}
		widen, err := serde.New([]byte(tt.schema), serde.Options{Format: tt.format})
		if err != nil {
			t.Fatal(err)
		}
		frame, err := widen.Encode(nil, doc)
		if err != nil {
			t.Fatalf("%s %s: widen: %v", tt.format, tt.doc, err)
		}
		back, _, err := widen.Decode(frame)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := extjson.Canonical(back); string(got) != tt.widen {
			t.Errorf("%s %s: widen decodes %s, want %s", tt.format, tt.doc, got, tt.widen)
		}
	}
}

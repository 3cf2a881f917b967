package evolution

import (
	"fmt"
	"strings"
	"testing"

	"github.com/schemaflow/schemaflow/schemas"
)

// Diff lists every field-level change between two versions, including
// removals and renames that evolution never makes itself.
func TestDiff(t *testing.T) {
	t.Parallel()
	avroRec := func(fields string) Schema {
		return Schema{Format: schemas.Avro, Text: []byte(`{"type":"record","name":"Order","fields":[` + fields + `]}`)}
	}
	proto := func(body string) Schema {
		return Schema{Format: schemas.Protobuf, Name: "order.proto", Text: []byte("syntax = \"proto3\";\npackage shop;\nmessage Order {\n" + body + "\n}\n")}
	}
	tests := []struct {
		name      string
		old, next Schema
		want      []string
	}{
		{"avro added", avroRec(`{"name":"id","type":"string"}`),
			avroRec(`{"name":"id","type":"string"},{"name":"coupon","type":["null","string"],"default":null}`),
			[]string{`added coupon: [null, string]`}},
		{"avro removed", avroRec(`{"name":"id","type":"string"},{"name":"note","type":"string"}`),
			avroRec(`{"name":"id","type":"string"}`),
			[]string{`removed note: string`}},
		{"avro widened and made optional", avroRec(`{"name":"qty","type":"int"},{"name":"tag","type":"string"}`),
			avroRec(`{"name":"qty","type":"long"},{"name":"tag","type":["null","string"],"default":null}`),
			[]string{`widened qty: int -> long`, `made optional tag: string -> [null, string]`}},
		{"avro renamed by alias", avroRec(`{"name":"id","type":"string"},{"name":"total","type":"double"}`),
			avroRec(`{"name":"id","type":"string"},{"name":"amount","aliases":["total"],"type":"double"}`),
			[]string{`renamed amount: total -> amount`}},
		{"avro nested removal", avroRec(`{"name":"ship","type":{"type":"record","name":"Ship","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string"}]}}`),
			avroRec(`{"name":"ship","type":{"type":"record","name":"Ship","fields":[{"name":"city","type":"string"}]}}`),
			[]string{`removed ship.zip: string`}},
		{"avro removal inside an array", avroRec(`{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}}`),
			avroRec(`{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[{"name":"sku","type":"string"}]}}}`),
			[]string{`removed items[].qty: int`}},
		{"avro unchanged", avroRec(`{"name":"id","type":"string"}`), avroRec(`{"name":"id","type":"string"}`), nil},
		{"protobuf added and removed", proto("string id = 1;\nstring note = 2;"), proto("string id = 1;\nint64 qty = 3;"),
			[]string{`added qty: int64`, `removed note: string`}},
		{"protobuf renamed by number", proto("string id = 1;\ndouble total = 2;"), proto("string id = 1;\ndouble amount = 2;"),
			[]string{`renamed amount: total -> amount`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Diff(tc.old, tc.next)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, c := range got {
				lines = append(lines, c.String())
			}
			if fmt.Sprint(lines) != fmt.Sprint(tc.want) {
				t.Errorf("Diff:\n got %q\nwant %q", lines, tc.want)
			}
		})
	}
}

// Schemas that do not parse are errors that say which one.
func TestDiffBadSchema(t *testing.T) {
	t.Parallel()
	good := Schema{Format: schemas.Avro, Text: []byte(`{"type":"record","name":"R","fields":[]}`)}
	bad := Schema{Format: schemas.Avro, Text: []byte(`{"type":"record"`), Name: "version 2"}
	if _, err := Diff(good, bad); err == nil {
		t.Fatal("no error for an unparsable schema")
	}
	if _, err := Diff(good, Schema{Format: schemas.Protobuf, Text: []byte("syntax = \"proto3\";")}); err == nil || !strings.Contains(err.Error(), "changes between") {
		t.Fatalf("formats differ: %v", err)
	}
}

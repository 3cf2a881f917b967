package avro_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/schemas/avro"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/infer"
)

type doc struct {
	line int
	raw  bson.Raw
}

func readDocs(t testing.TB, name string) []doc {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []doc
	if err := extjson.Read(f, name, func(d bson.Raw, line int) error {
		out = append(out, doc{line, d})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func inferAvro(t testing.TB, docs ...bson.Raw) []byte {
	t.Helper()
	in := infer.New()
	for _, d := range docs {
		if err := in.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	s, err := in.Avro(infer.Options{Name: "Doc", Namespace: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCodec(t testing.TB, text []byte) *avro.Codec {
	t.Helper()
	s, err := avro.Parse(text)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	c, err := avro.NewCodec(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func canonical(t testing.TB, d bson.Raw) string {
	t.Helper()
	b, err := extjson.Canonical(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// roundTrip encodes with our codec, checks goavro reads the bytes and
// writes the same bytes back, and decodes to the same canonical Extended JSON.
// nullFor names top-level fields that, when missing, come back as explicit
// nulls because the merged schema saw them both null and missing.
func roundTrip(t *testing.T, schema []byte, d doc, nullFor ...string) {
	t.Helper()
	c := mustCodec(t, schema)
	bin, err := c.Encode(nil, d.raw)
	if err != nil {
		t.Fatalf("line %d: encode: %v", d.line, err)
	}
	back, err := c.Decode(bin)
	if err != nil {
		t.Fatalf("line %d: decode: %v", d.line, err)
	}
	want := d.raw
	for _, k := range nullFor {
		if _, err := d.raw.LookupErr(k); err != nil {
			want = appendNull(t, want, k)
		}
	}
	if len(nullFor) > 0 {
		back, want = sortTop(t, back), sortTop(t, want)
	}
	if got, want := canonical(t, back), canonical(t, want); got != want {
		t.Fatalf("line %d: round trip differs\n got: %s\nwant: %s", d.line, got, want)
	}
	// Interoperability: goavro reads what we write, and its encoding of
	// what it read is byte-identical, so our decoder reads goavro's bytes.
	gc, err := goavro.NewCodec(string(schema))
	if err != nil {
		t.Fatalf("goavro rejects the schema: %v", err)
	}
	native, rest, err := gc.NativeFromBinary(bin)
	if err != nil || len(rest) != 0 {
		t.Fatalf("line %d: goavro decode: %v (%d bytes left)", d.line, err, len(rest))
	}
	again, err := gc.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatalf("line %d: goavro encode: %v", d.line, err)
	}
	if !bytes.Equal(again, bin) {
		t.Fatalf("line %d: goavro re-encoding differs\n ours: % x\ntheirs: % x", d.line, bin, again)
	}
}

func TestRoundTripEachType(t *testing.T) {
	t.Parallel()
	for _, d := range readDocs(t, "roundtrip/alltypes.jsonl") {
		roundTrip(t, inferAvro(t, d.raw), d)
	}
}

func TestRoundTripMergedSchema(t *testing.T) {
	t.Parallel()
	docs := readDocs(t, "roundtrip/alltypes.jsonl")
	raws := make([]bson.Raw, len(docs))
	for i, d := range docs {
		raws[i] = d.raw
	}
	schema := inferAvro(t, raws...)
	for _, d := range docs {
		roundTrip(t, schema, d, "null")
	}
}

// sortTop sorts the top-level fields, for comparisons where only the
// position of added nulls may differ.
func sortTop(t testing.TB, d bson.Raw) bson.Raw {
	t.Helper()
	var m bson.D
	if err := bson.Unmarshal(d, &m); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(m, func(a, b bson.E) int { return strings.Compare(a.Key, b.Key) })
	b, err := bson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appendNull(t testing.TB, d bson.Raw, key string) bson.Raw {
	t.Helper()
	var m bson.D
	if err := bson.Unmarshal(d, &m); err != nil {
		t.Fatal(err)
	}
	m = append(m, bson.E{Key: key, Value: nil})
	b, err := bson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWideningKeepsValues(t *testing.T) {
	t.Parallel()
	docs := []string{
		`{"n": 1}`,
		`{"n": {"$numberLong": "4"}}`,
		`{"n": 2.5}`,
	}
	var raws []bson.Raw
	for _, s := range docs {
		r, err := extjson.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, r)
	}
	c := mustCodec(t, inferAvro(t, raws...))
	want := []string{`{"n":{"$numberDouble":"1.0"}}`, `{"n":{"$numberDouble":"4.0"}}`, `{"n":{"$numberDouble":"2.5"}}`}
	for i, r := range raws {
		bin, err := c.Encode(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Decode(bin)
		if err != nil {
			t.Fatal(err)
		}
		if got := canonical(t, back); got != want[i] {
			t.Errorf("doc %d: got %s, want %s", i, got, want[i])
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	schema := []byte(`{"type":"record","name":"R","fields":[
		{"name":"a","type":"int"},
		{"name":"b","type":["null","double"],"default":null},
		{"name":"c","type":{"type":"record","name":"C","fields":[{"name":"d","type":{"type":"array","items":"string"}}]}, "default": {"d": []}}
	]}`)
	c := mustCodec(t, schema)
	tests := []struct {
		doc  string
		want string
	}{
		{`{"a": "x"}`, `field "a": cannot encode BSON string as Avro int`},
		{`{"a": {"$numberLong": "3000000000"}}`, `field "a": cannot encode BSON 64-bit integer as Avro int`},
		{`{"b": 1}`, `field "a": missing, and the schema gives it no default`},
		{`{"a": 1, "b": {"$numberLong": "9007199254740993"}}`, `field "b": cannot encode BSON 64-bit integer as union [null, double]`},
		{`{"a": 1, "c": {"d": ["x", 2]}}`, `field "c.d[1]": cannot encode BSON 32-bit integer as Avro string`},
		{`{"a": 1, "zz": 1}`, `field "zz": not in the schema (record "R")`},
		{`{"a": 1, "c": {"d": [], "e": 1}}`, `field "c.e": not in the schema (record "C")`},
	}
	for _, tt := range tests {
		r, err := extjson.Parse([]byte(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Encode(nil, r)
		var de *avro.DataError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.doc, err, tt.want)
		}
	}
	// Missing fields take their defaults; int32 widens into the double.
	r, _ := extjson.Parse([]byte(`{"b": 2, "a": 7}`))
	bin, err := c.Encode(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := c.Decode(bin)
	if err != nil {
		t.Fatal(err)
	}
	if got := canonical(t, back); got != `{"a":{"$numberInt":"7"},"b":{"$numberDouble":"2.0"},"c":{"d":[]}}` {
		t.Fatalf("got %s", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, []byte(`{"type":"record","name":"R","fields":[
		{"name":"s","type":"string"},
		{"name":"u","type":["null","int"]},
		{"name":"a","type":{"type":"array","items":"null"}}]}`))
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "unexpected end of data"},
		{"string past end", []byte{0x08, 'a'}, "runs past the end"},
		{"negative length", []byte{0x01}, "negative length"},
		{"bad utf8", []byte{0x02, 0xff}, "not valid UTF-8"},
		{"union index", []byte{0x00, 0x06}, "union branch 3 out of range"},
		{"huge null block", []byte{0x00, 0x00, 0xfe, 0xff, 0xff, 0xff, 0x0f}, "larger than the data can hold"},
		{"trailing", []byte{0x00, 0x00, 0x00, 0x07}, "1 bytes left"},
		{"long varint", []byte{0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "varint longer than 10 bytes"},
	}
	for _, tt := range tests {
		_, err := c.Decode(tt.data)
		var de *avro.DataError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestOmitNull(t *testing.T) {
	t.Parallel()
	docs := []string{`{"_id": 1, "a": 1}`, `{"_id": 2}`, `{"_id": 3, "b": null}`, `{"_id": 4, "b": 2}`}
	var raws []bson.Raw
	for _, s := range docs {
		r, _ := extjson.Parse([]byte(s))
		raws = append(raws, r)
	}
	c := mustCodec(t, inferAvro(t, raws...))
	// "a" was seen missing and never null: null decodes as missing. "b" was
	// seen null: a null stays null, and a missing "b" comes back as null.
	want := []string{
		`{"_id":{"$numberInt":"1"},"a":{"$numberInt":"1"},"b":null}`,
		`{"_id":{"$numberInt":"2"},"b":null}`,
		`{"_id":{"$numberInt":"3"},"b":null}`,
		`{"_id":{"$numberInt":"4"},"b":{"$numberInt":"2"}}`,
	}
	for i, r := range raws {
		bin, err := c.Encode(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Decode(bin)
		if err != nil {
			t.Fatal(err)
		}
		if got := canonical(t, back); got != want[i] {
			t.Errorf("doc %d: got %s, want %s", i, got, want[i])
		}
	}
}

package protobuf_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
	"github.com/schemaflow/schemaflow/schemas/wire"
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

func inferProto(t testing.TB, docs ...bson.Raw) []byte {
	t.Helper()
	in := infer.New()
	for _, d := range docs {
		if err := in.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	s, err := in.Proto(infer.Options{Name: "Doc", Namespace: "test.v1"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCodec(t testing.TB, text []byte) *protobuf.Codec {
	t.Helper()
	s, err := protobuf.Compile("doc.proto", text, protobuf.Options{})
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, text)
	}
	md, err := s.Message("")
	if err != nil {
		t.Fatal(err)
	}
	return protobuf.NewCodec(md)
}

func canonical(t testing.TB, d bson.Raw) string {
	t.Helper()
	b, err := extjson.Canonical(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func roundTrip(t *testing.T, schema []byte, d doc) {
	t.Helper()
	c := mustCodec(t, schema)
	bin, err := c.Encode(nil, d.raw)
	if err != nil {
		t.Fatalf("line %d: encode: %v\n%s", d.line, err, schema)
	}
	back, err := c.Decode(bin)
	if err != nil {
		t.Fatalf("line %d: decode: %v", d.line, err)
	}
	if got, want := canonical(t, back), canonical(t, d.raw); got != want {
		t.Fatalf("line %d: round trip differs\n got: %s\nwant: %s\n%s", d.line, got, want, schema)
	}
}

func TestRoundTripEachType(t *testing.T) {
	t.Parallel()
	for _, d := range readDocs(t, "roundtrip/alltypes.jsonl") {
		roundTrip(t, inferProto(t, d.raw), d)
	}
}

func TestRoundTripMergedSchema(t *testing.T) {
	t.Parallel()
	docs := readDocs(t, "roundtrip/alltypes.jsonl")
	var raws []bson.Raw
	for _, d := range docs {
		raws = append(raws, d.raw)
	}
	schema := inferProto(t, raws...)
	for _, d := range docs {
		roundTrip(t, schema, d)
	}
}

// Presence: zero values, empty arrays, nulls and missing fields stay apart.
func TestPresence(t *testing.T) {
	t.Parallel()
	lines := []string{
		`{"n": 0, "s": "", "a": [], "z": null}`,
		`{"a": [0]}`,
		`{"n": 5, "z": 1}`,
		`{}`,
	}
	var docs []doc
	for i, l := range lines {
		r, err := extjson.Parse([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc{i + 1, r})
	}
	var raws []bson.Raw
	for _, d := range docs {
		raws = append(raws, d.raw)
	}
	schema := inferProto(t, raws...)
	for _, d := range docs {
		roundTrip(t, schema, d)
	}
}

func TestMessageIndexes(t *testing.T) {
	t.Parallel()
	s, err := protobuf.Compile("x.proto", []byte(`syntax = "proto3";
package p;
message A { message B { message C {} } message D {} }
enum E { E0 = 0; }
message F { message G {} }`), protobuf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want []int
	}{{"A", []int{0}}, {"A.B", []int{0, 0}}, {"A.B.C", []int{0, 0, 0}}, {"A.D", []int{0, 1}}, {"F", []int{1}}, {"p.F.G", []int{1, 0}}}
	for _, tt := range tests {
		md, err := s.Message(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		got := protobuf.Indexes(md)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		back, err := s.MessageAt(got)
		if err != nil || back.FullName() != md.FullName() {
			t.Errorf("%s: MessageAt(%v) = %v, %v", tt.name, got, back, err)
		}
	}
	_, err = s.MessageAt([]int{0, 5})
	if !errors.Is(err, &wire.FrameError{Reason: wire.IndexOutOfRange}) {
		t.Fatalf("got %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	_, err := protobuf.Compile("bad.proto", []byte("syntax = \"proto3\";\nmessage A {\n  strin x = 1;\n  int32 y = 1;\n}\n"), protobuf.Options{})
	var ce *protobuf.CompileError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "bad.proto:4:13: message A: fields x and y both have the same tag 1") {
		t.Fatalf("got %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, []byte(`syntax = "proto3";
message M { optional int32 a = 1; repeated string tags = 2; N n = 3; message N { optional bool b = 1; } }`))
	tests := []struct{ doc, want string }{
		{`{"a": "x"}`, `field "a": cannot encode BSON string as int32`},
		{`{"a": {"$numberLong": "3000000000"}}`, `field "a": cannot encode BSON 64-bit integer as int32`},
		{`{"tags": ["a", 1]}`, `field "tags[1]": cannot encode BSON 32-bit integer as string`},
		{`{"n": {"b": true, "c": 1}}`, `field "n.c": not in the schema (message M.N)`},
		{`{"zz": 1}`, `field "zz": not in the schema (message M)`},
	}
	for _, tt := range tests {
		r, err := extjson.Parse([]byte(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Encode(nil, r)
		var de *protobuf.DataError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.doc, err, tt.want)
		}
	}
}

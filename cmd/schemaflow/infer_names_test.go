package main

import (
	"strings"
	"testing"

	"github.com/schemaflow/schemaflow/internal/protoctest"
)

// Issue 12's reproduction through the command line: infer --format
// protobuf, over documents whose field names collide under protoc's rules,
// prints a schema protoc compiles, and encode then decode with it give the
// documents back with their original field names and values.
func TestInferProtobufNamesProtoc(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	input := `{"first_name":"a","firstName":"b","FirstName":"c","first-name":"d","$price":1,"price":2,"Value":1,"value":2,"_":1,"__":2}
{"[a]":1,"google":{"protobuf":{"Timestamp":{"$date":"2024-01-02T03:04:05Z"}}},"x":null}
{"x":"s","x_string":"t","xString":"u"}
`
	docs := writeFile(t, dir, "n.jsonl", input)
	r := run(t, "", "infer", "--format", "protobuf", "--name", "Doc", docs)
	if r.code != 0 {
		t.Fatalf("infer: %+v", r)
	}
	if err := protoctest.Compile(t, protoctest.Path(t), map[string][]byte{"n.proto": []byte(r.stdout)}); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	schema := writeFile(t, dir, "n.proto", r.stdout)
	enc := run(t, "", "encode", "--schema", schema, docs)
	if enc.code != 0 {
		t.Fatalf("encode: %+v\n%s", enc, r.stdout)
	}
	dec := run(t, enc.stdout, "decode", "--schema", schema)
	if dec.code != 0 {
		t.Fatalf("decode: %+v", dec)
	}
	got := strings.Split(strings.TrimSpace(dec.stdout), "\n")
	want := canonicalLines(t, docs)
	if len(got) != len(want) {
		t.Fatalf("%d documents in, %d out", len(want), len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("document %d:\n got: %s\nwant: %s\n%s", i+1, got[i], want[i], r.stdout)
		}
	}
}

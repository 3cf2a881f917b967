package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/versioncmd"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
	"github.com/schemaflow/schemaflow/schemas/extjson"
)

type result struct {
	code           int
	stdout, stderr string
}

// run runs schemaflow in process from the repository root.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &cli.Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errOut,
		Getenv: func(string) string { return "" },
		Dir:    "../..",
	}
	code := cli.Main(context.Background(), Root(versioncmd.Info{Version: "1.2.3", Commit: "abc123"}), args, env)
	return result{code, out.String(), errOut.String()}
}

func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/infer", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHelpAndUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		code     int
		stdout   string
		stderr   string
		noStdout bool
	}{
		{args: []string{"--help"}, code: 0, stdout: "Commands:\n  check"},
		{args: nil, code: 0, stdout: "print one schema that covers every input document"},
		{args: []string{"infer", "--help"}, code: 0, stdout: "--format FORMAT"},
		{args: []string{"encode", "-h"}, code: 0, stdout: "--id ID"},
		{args: []string{"decode", "--help"}, code: 0, stdout: "--schema FILE"},
		{args: []string{"version", "--help"}, code: 0, stdout: "print the version and the commit"},
		{args: []string{"nope"}, code: 2, stderr: `unknown command "nope"`, noStdout: true},
		{args: []string{"infer", "--bogus"}, code: 2, stderr: "flag provided but not defined: -bogus", noStdout: true},
		{args: []string{"infer", "--format", "xml"}, code: 2, stderr: `--format must be avro or protobuf, not "xml"`, noStdout: true},
		{args: []string{"encode", "testdata/infer/optional.jsonl"}, code: 2, stderr: "--schema is required", noStdout: true},
		{args: []string{"version", "extra"}, code: 2, stderr: "version takes no arguments", noStdout: true},
	}
	for _, tt := range tests {
		r := run(t, "", tt.args...)
		if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) || (tt.noStdout && r.stdout != "") {
			t.Errorf("%v: got code %d\nstdout: %s\nstderr: %s", tt.args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := run(t, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "schemaflow 1.2.3\ncommit abc123\n") {
		t.Fatalf("got %+v", r)
	}
}

func TestInferMatchesGolden(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"types", "arrays", "names", "union"} {
		r := run(t, "", "infer", "--name", "Doc", "--namespace", "golden", "testdata/infer/"+c+".jsonl")
		if r.code != 0 || r.stdout != golden(t, c+".avsc") {
			t.Errorf("%s avro: code %d stderr %s", c, r.code, r.stderr)
		}
		// Flags may follow the file.
		r = run(t, "", "infer", "testdata/infer/"+c+".jsonl", "--format", "protobuf", "--name", "Doc", "--namespace", "golden")
		if r.code != 0 || r.stdout != golden(t, c+".proto") {
			t.Errorf("%s proto: code %d stderr %s", c, r.code, r.stderr)
		}
		r = run(t, "", "infer", "--key", "--name", "Doc", "--namespace", "golden", "testdata/infer/"+c+".jsonl")
		if r.code != 0 || r.stdout != golden(t, c+".key.avsc") {
			t.Errorf("%s key: code %d stderr %s", c, r.code, r.stderr)
		}
	}
}

func TestInferStdinAndSeveralFiles(t *testing.T) {
	t.Parallel()
	in := golden(t, "optional.jsonl")
	fromStdin := run(t, in, "infer", "--name", "Doc", "--namespace", "golden")
	if fromStdin.code != 0 || fromStdin.stdout != golden(t, "optional.avsc") {
		t.Fatalf("stdin: %+v", fromStdin)
	}
	// Splitting the input over a file and stdin gives the same schema.
	dir := t.TempDir()
	lines := strings.SplitAfter(in, "\n")
	first := writeFile(t, dir, "first.jsonl", lines[0])
	split := run(t, strings.Join(lines[1:], ""), "infer", "--name", "Doc", "--namespace", "golden", first, "-")
	if split.code != 0 || split.stdout != fromStdin.stdout {
		t.Fatalf("split: %+v", split)
	}
}

func TestInferBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, text, want string
	}{
		{"bad.jsonl", "{\"a\": 1}\n{\"a\": }\n", "bad.jsonl:2: invalid Extended JSON"},
		{"notobj.jsonl", "{\"a\": 1}\n\n[1]\n", "notobj.jsonl:3: not a JSON object"},
		{"arr.json", "[\n  {\"a\": 1},\n  {\"a\": {\"$numberLong\": \"x\"}}\n]\n", "arr.json:3: invalid Extended JSON"},
		{"empty.jsonl", "\n", "no documents to infer a schema from"},
	}
	for _, tt := range tests {
		p := writeFile(t, dir, tt.name, tt.text)
		r := run(t, "", "infer", p)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
			t.Errorf("%s: got %+v, want exit 1 and %q", tt.name, r, tt.want)
		}
	}
	r := run(t, "", "infer", filepath.Join(dir, "missing.jsonl"))
	if r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("missing file: %+v", r)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	docs := "testdata/roundtrip/alltypes.jsonl"
	for _, format := range []string{"avro", "protobuf"} {
		r := run(t, "", "infer", "--format", format, docs)
		if r.code != 0 {
			t.Fatalf("infer: %+v", r)
		}
		ext := map[string]string{"avro": ".avsc", "protobuf": ".proto"}[format]
		schema := writeFile(t, dir, "all"+ext, r.stdout)
		enc := run(t, "", "encode", "--schema", schema, "--id", "42", docs)
		if enc.code != 0 {
			t.Fatalf("%s encode: %+v", format, enc)
		}
		lines := strings.Split(strings.TrimSpace(enc.stdout), "\n")
		frame, err := base64.StdEncoding.DecodeString(lines[0])
		if err != nil || frame[0] != 0 || frame[4] != 42 {
			t.Fatalf("%s: frame header % x (%v)", format, frame[:5], err)
		}
		if format == "protobuf" && frame[5] != 0 {
			t.Fatalf("message index of the first message must be the single byte 0, got % x", frame[5])
		}
		dec := run(t, enc.stdout, "decode", "--schema", schema)
		if dec.code != 0 {
			t.Fatalf("%s decode: %+v", format, dec)
		}
		got := strings.Split(strings.TrimSpace(dec.stdout), "\n")
		if len(got) != len(lines) {
			t.Fatalf("%s: %d records in, %d documents out", format, len(lines), len(got))
		}
		if format == "protobuf" {
			// Protobuf keeps every value exactly: compare with the input.
			want := canonicalLines(t, "../../"+docs)
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("document %d:\n got: %s\nwant: %s", i+1, got[i], want[i])
				}
			}
		}
	}
}

func canonicalLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	err = extjson.Read(f, path, func(d bson.Raw, _ int) error {
		c, err := extjson.Canonical(d)
		out = append(out, string(c))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEncodeDecodeErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	schema := writeFile(t, dir, "s.avsc", `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":{"type":"array","items":"string"}}]}`)
	input := writeFile(t, dir, "in.jsonl", "{\"a\": 1, \"b\": [\"x\"]}\n{\"a\": 2, \"b\": [\"y\", 3]}\n")
	r := run(t, "", "encode", "--schema", schema, input)
	if r.code != 1 || !strings.Contains(r.stderr, `in.jsonl:2: avro: field "b[1]": cannot encode BSON 32-bit integer as Avro string`) {
		t.Fatalf("encode: %+v", r)
	}
	// The good line was written before the bad one stopped the command.
	if strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("stdout %q", r.stdout)
	}
	good := strings.TrimSpace(r.stdout)
	frame, _ := base64.StdEncoding.DecodeString(good)
	badMagic := base64.StdEncoding.EncodeToString(append([]byte{1}, frame[1:]...))
	truncated := base64.StdEncoding.EncodeToString(frame[:len(frame)-2])
	records := writeFile(t, dir, "rec.b64", good+"\n"+"%%%\n")
	tests := []struct{ in, want string }{
		{good + "\n%%%\n", "rec.b64:2: invalid base64"},
		{good + "\n\n" + badMagic + "\n", "rec.b64:3: wire: wrong magic byte at byte 0"},
		{truncated + "\n", `rec.b64:1: avro: at byte`},
		{base64.StdEncoding.EncodeToString([]byte{0, 0, 0}) + "\n", "rec.b64:1: wire: short frame"},
	}
	for _, tt := range tests {
		if err := os.WriteFile(records, []byte(tt.in), 0o644); err != nil {
			t.Fatal(err)
		}
		r := run(t, "", "decode", "--schema", schema, records)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("decode %q: got %+v, want %q", tt.in, r, tt.want)
		}
	}
	// A schema that does not parse names the file.
	bad := writeFile(t, dir, "bad.avsc", `{"type":"record","name":"R","fields":[{"name":"a","type":"nope"}]}`)
	r = run(t, "", "encode", "--schema", bad, input)
	if r.code != 1 || !strings.Contains(r.stderr, `bad.avsc: avro schema: /fields/0/type: unknown type "nope"`) {
		t.Fatalf("bad schema: %+v", r)
	}
	badProto := writeFile(t, dir, "bad.proto", "syntax = \"proto3\";\nmessage M {\n  int32 a = 1\n}\n")
	r = run(t, "", "encode", "--schema", badProto, input)
	if r.code != 1 || !strings.Contains(r.stderr, "bad.proto:4:1") {
		t.Fatalf("bad proto: %+v", r)
	}
}

func TestCompat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v1 := writeFile(t, dir, "v1.avsc", `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"},{"name":"c","type":"string"}]}`)
	v2 := writeFile(t, dir, "v2.avsc", `{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"},{"name":"c","type":"string"}]}`)
	bad := writeFile(t, dir, "v3.avsc", `{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"},{"name":"c","type":"long"}]}`)
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"compat", "--type", "avro", "--level", "BACKWARD", v2, v1}, 0, "", ""},
		{[]string{"compat", "--level", "FORWARD", v2, v1}, 100, `/fields/0/type: reader type "int" cannot read writer type "long" [TYPE_MISMATCH]`, ""},
		{[]string{"compat", "--level", "backward", bad, v1, v2}, 100, "v2.avsc: /fields/2/type: reader type \"long\" cannot read writer type \"string\" [TYPE_MISMATCH]\n", ""},
		{[]string{"compat", "--level", "NONE", bad, v1}, 0, "", ""},
		{[]string{"compat", "--level", "FULL", "--output", "json", v2, v1}, 100, `{"compatible":false,"messages":["`, ""},
		{[]string{"compat", "--level", "BACKWARD", "--output", "json", v2, v1}, 0, `{"compatible":true,"messages":[]}`, ""},
		{[]string{"compat", "--level", "SIDEWAYS", v2, v1}, 1, "", `unknown compatibility level "SIDEWAYS"`},
		{[]string{"compat", v2}, 2, "", "need NEW and at least one OLD"},
		{[]string{"compat", v2, filepath.Join(dir, "missing.avsc")}, 1, "", "no such file"},
		{[]string{"compat", "--type", "protobuf", v2, v1}, 1, "", "v2.avsc"},
	}
	for _, tt := range tests {
		r := run(t, "", tt.args...)
		if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("%v: got code %d\nstdout: %s\nstderr: %s", tt.args[1:], r.code, r.stdout, r.stderr)
		}
	}
	// One line per problem.
	r := run(t, "", "compat", "--level", "FULL", v2, v1)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], v1+": ") {
		t.Errorf("lines %q", r.stdout)
	}
}

func TestCompatProtobufAndJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p1 := writeFile(t, dir, "p1.proto", "syntax = \"proto3\";\nmessage M { string a = 1; int32 b = 2; }\n")
	p2 := writeFile(t, dir, "p2.proto", "syntax = \"proto3\";\nmessage M { string a = 1; string b = 2; int64 c = 3; }\n")
	r := run(t, "", "compat", "--level", "BACKWARD", p2, p1)
	if r.code != 100 || !strings.Contains(r.stdout, "p1.proto: #/M/2: the field's scalar type changed to one that is not wire-compatible [FIELD_SCALAR_KIND_CHANGED]") {
		t.Errorf("protobuf: %+v", r)
	}
	j1 := writeFile(t, dir, "j1.json", `{"type":"object","properties":{"a":{"type":"integer"}}}`)
	j2 := writeFile(t, dir, "j2.json", `{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"string"}},"required":["b"]}`)
	r = run(t, "", "compat", "--level", "BACKWARD", j2, j1)
	if r.code != 100 || !strings.Contains(r.stdout, `j1.json: #/properties/b: reader adds required property "b", which the open writer may have written as anything [REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL]`) {
		t.Errorf("json: %+v", r)
	}
	r = run(t, "", "compat", "--level", "FORWARD", j2, j1)
	if r.code != 100 || !strings.Contains(r.stdout, `reader type integer cannot read writer type "number" [TYPE_CHANGED]`) {
		t.Errorf("json forward: %+v", r)
	}
	badJSON := writeFile(t, dir, "bad.json", `{"type": 12}`)
	r = run(t, "", "compat", badJSON, j1)
	if r.code != 1 || !strings.Contains(r.stderr, "bad.json: json schema") {
		t.Errorf("bad json schema: %+v", r)
	}
}

// kafkaAndRegistry starts a one-broker kfake cluster seeded with topics
// (one partition each) and our registry server over HTTP on a memory
// store; both close when the test ends.
func kafkaAndRegistry(t testing.TB, topics ...string) (*kfake.Cluster, *httptest.Server) {
	t.Helper()
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kafka.Close)
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewServer(srv)
	t.Cleanup(reg.Close)
	return kafka, reg
}

package protobuf_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/internal/protoctest"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// protoc returns the path of the reference compiler; see protoctest.Path.
func protoc(t *testing.T) string { return protoctest.Path(t) }

func runProtoc(t *testing.T, bin, dir string, stdin []byte, args ...string) []byte {
	t.Helper()
	return protoctest.Run(t, bin, dir, stdin, args...)
}

// TestProtocCompilesGoldenFiles checks every inferred .proto with protoc.
func TestProtocCompilesGoldenFiles(t *testing.T) {
	t.Parallel()
	bin := protoc(t)
	files, err := filepath.Glob("../../testdata/infer/*.proto")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden .proto files: %v", err)
	}
	for _, f := range files {
		runProtoc(t, bin, filepath.Dir(f), nil, "--descriptor_set_out="+os.DevNull, filepath.Base(f))
	}
}

// TestProtocInterop checks both directions for documents of every BSON
// type: protoc decodes the bytes we write (to its text format), and bytes
// protoc encodes from that text decode here to the original document.
func TestProtocInterop(t *testing.T) {
	t.Parallel()
	bin := protoc(t)
	docs := readDocs(t, "roundtrip/alltypes.jsonl")
	var raws []bson.Raw
	for _, d := range docs {
		raws = append(raws, d.raw)
	}
	schema := inferProto(t, raws...)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "doc.proto"), schema, 0o644); err != nil {
		t.Fatal(err)
	}
	c := mustCodec(t, schema)
	for _, d := range docs {
		ours, err := c.Encode(nil, d.raw)
		if err != nil {
			t.Fatal(err)
		}
		text := runProtoc(t, bin, dir, ours, "--decode=test.v1.Doc", "doc.proto")
		if len(ours) > 0 && len(text) == 0 {
			t.Fatalf("line %d: protoc decoded nothing", d.line)
		}
		theirs := runProtoc(t, bin, dir, text, "--encode=test.v1.Doc", "doc.proto")
		back, err := c.Decode(theirs)
		if err != nil {
			t.Fatalf("line %d: decoding protoc's bytes: %v\ntext format:\n%s", d.line, err, text)
		}
		if got, want := canonical(t, back), canonical(t, d.raw); got != want {
			t.Fatalf("line %d: via protoc\n got: %s\nwant: %s", d.line, got, want)
		}
	}
	// protoc's raw decoding shows the field numbers we wrote.
	raw := runProtoc(t, bin, dir, mustEncode(t, c, docs[0].raw), "--decode_raw")
	if !strings.Contains(string(raw), "1 {") {
		t.Fatalf("decode_raw: %s", raw)
	}
}

func mustEncode(t *testing.T, c *protobuf.Codec, d bson.Raw) []byte {
	t.Helper()
	b, err := c.Encode(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

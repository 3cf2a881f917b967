package infer_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/infer")

const goldenDir = "../../testdata/infer"

func readDocs(t *testing.T, path string) []bson.Raw {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []bson.Raw
	if err := extjson.Read(f, path, func(d bson.Raw, _ int) error {
		docs = append(docs, d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return docs
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./schemas/infer -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./schemas/infer -update to accept):\n%s", path, got)
	}
}

// numberCases are the golden inputs that mix BSON number types in a field.
// Besides the default (widen) goldens, each has NAME.exact.* goldens
// inferred under schemas.NumbersExact, with which every document must
// come back with each number's BSON type.
var numberCases = []string{"numbers", "widen_int", "widen_double", "no_widen_inexact"}

// TestGolden infers each testdata/infer/*.jsonl and compares the Avro and
// Protobuf schemas (value and key) with the golden files. Every schema must
// also be valid, and every input document must encode and decode with it.
// The inputs of numberCases are inferred under both number modes.
func TestGolden(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob(filepath.Join(goldenDir, "*.jsonl"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, input := range inputs {
		name := filepath.Base(strings.TrimSuffix(input, ".jsonl"))
		modes := []schemas.Numbers{schemas.NumbersWiden}
		if slices.Contains(numberCases, name) {
			modes = append(modes, schemas.NumbersExact)
		}
		for _, mode := range modes {
			goldenCase(t, name, input, mode)
		}
	}
}

func goldenCase(t *testing.T, name, input string, mode schemas.Numbers) {
	t.Helper()
	base := strings.TrimSuffix(input, ".jsonl")
	if mode == schemas.NumbersExact {
		base += ".exact"
	}
	t.Run(filepath.Base(base), func(t *testing.T) {
		docs := readDocs(t, input)
		in := infer.NewWith(infer.Config{Numbers: mode})
		for _, d := range docs {
			if err := in.Add(d); err != nil {
				t.Fatal(err)
			}
		}
		opts := infer.Options{Name: "Doc", Namespace: "golden"}
		outputs := []struct {
			ext    string
			render func(infer.Options) ([]byte, error)
			format schemas.Format
			key    bool
		}{
			{".avsc", in.Avro, schemas.Avro, false},
			{".proto", in.Proto, schemas.Protobuf, false},
			{".key.avsc", in.AvroKey, schemas.Avro, true},
			{".key.proto", in.ProtoKey, schemas.Protobuf, true},
		}
		for _, o := range outputs {
			got, err := o.render(opts)
			if err != nil {
				t.Fatalf("%s: %v", o.ext, err)
			}
			checkGolden(t, base+o.ext, got)
			// Rendering again gives the same bytes.
			again, _ := o.render(opts)
			if !bytes.Equal(got, again) {
				t.Fatalf("%s: output is not deterministic", o.ext)
			}
			if o.format == schemas.Avro {
				if _, err := goavro.NewCodec(string(got)); err != nil {
					t.Fatalf("%s: goavro rejects the schema: %v", o.ext, err)
				}
			}
			s, err := serde.New(got, serde.Options{Format: o.format, ID: 1, Numbers: mode})
			if err != nil {
				t.Fatalf("%s: %v", o.ext, err)
			}
			for i, d := range docs {
				if o.key {
					d = keyOf(t, d)
				}
				frame, err := s.Encode(nil, d)
				if err != nil {
					t.Fatalf("%s: doc %d: encode: %v", o.ext, i+1, err)
				}
				back, _, err := s.Decode(frame)
				if err != nil {
					t.Fatalf("%s: doc %d: decode: %v", o.ext, i+1, err)
				}
				if exact(name, o.format, mode) {
					got, want := canonical(t, back), canonical(t, d)
					if got != want {
						t.Fatalf("%s: doc %d: round trip differs\n got: %s\nwant: %s", o.ext, i+1, got, want)
					}
				}
			}
		}
	})
}

// exact reports whether documents of a case must come back unchanged. The
// widening cases change numeric types by design unless the numbers are
// exact, field_order reorders fields, and in Avro a field seen both null
// and missing (nulls) decodes a missing value as null. The comparison is of
// canonical Extended JSON, which tells int32, int64 and double apart.
func exact(name string, f schemas.Format, mode schemas.Numbers) bool {
	if mode == schemas.NumbersExact && slices.Contains(numberCases, name) {
		return true
	}
	switch name {
	case "numbers", "widen_int", "widen_double", "no_widen_inexact", "field_order":
		return false
	case "nulls":
		return f == schemas.Protobuf
	}
	return true
}

func canonical(t *testing.T, d bson.Raw) string {
	t.Helper()
	b, err := extjson.Canonical(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func keyOf(t *testing.T, d bson.Raw) bson.Raw {
	t.Helper()
	id, err := d.LookupErr("_id")
	if err != nil {
		t.Fatal(err)
	}
	out, err := bson.Marshal(bson.D{{Key: "_id", Value: id}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The same documents in another order give the same fields, in first-seen
// order of that input; the schema depends only on the input.
func TestDeterministicAcrossRuns(t *testing.T) {
	t.Parallel()
	docs := readDocs(t, filepath.Join(goldenDir, "arrays.jsonl"))
	render := func() []byte {
		in := infer.New()
		for _, d := range docs {
			if err := in.Add(d); err != nil {
				t.Fatal(err)
			}
		}
		out, err := in.Proto(infer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := render()
	for range 5 {
		if !bytes.Equal(render(), first) {
			t.Fatal("different output for the same input")
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	in := infer.New()
	if _, err := in.Avro(infer.Options{}); !errors.Is(err, infer.ErrNoDocuments) {
		t.Fatalf("empty: %v", err)
	}
	d, _ := extjson.Parse([]byte(`{"a": 1}`))
	if err := in.Add(d); err != nil {
		t.Fatal(err)
	}
	if _, err := in.AvroKey(infer.Options{}); !errors.Is(err, infer.ErrNoID) {
		t.Fatalf("no _id: %v", err)
	}
	if _, err := in.Avro(infer.Options{Name: "bad-name"}); err == nil || !strings.Contains(err.Error(), `"bad-name"`) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := in.Proto(infer.Options{Namespace: "a..b"}); err == nil {
		t.Fatal("bad namespace accepted")
	}
	// A document repeating a field is rejected and leaves no trace.
	dup := bson.Raw(bsonDup())
	if err := in.Add(dup); err == nil || !strings.Contains(err.Error(), `field "x" appears twice`) {
		t.Fatalf("duplicate: %v", err)
	}
	if in.Count() != 1 {
		t.Fatalf("count %d after a rejected document", in.Count())
	}
	// Nesting deeper than MaxDepth is rejected.
	deep := bson.D{{Key: "v", Value: 1}}
	for range infer.MaxDepth + 1 {
		deep = bson.D{{Key: "d", Value: deep}}
	}
	raw, err := bson.Marshal(deep)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Add(raw); err == nil || !strings.Contains(err.Error(), "nesting deeper") {
		t.Fatalf("deep: %v", err)
	}
}

// bsonDup builds {x: 1, x: 2}, which BSON allows and Avro cannot express.
func bsonDup() []byte {
	d := bson.D{{Key: "x", Value: int32(1)}, {Key: "x", Value: int32(2)}}
	b, _ := bson.Marshal(d)
	return b
}

// FuzzAdd feeds arbitrary bytes as documents: Add must reject bad BSON
// cleanly, and the schema of what it accepts must encode that document.
func FuzzAdd(f *testing.F) {
	for _, d := range readDocsF(f, filepath.Join(goldenDir, "types.jsonl")) {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		in := infer.New()
		if err := in.Add(doc); err != nil {
			return
		}
		for _, format := range []schemas.Format{schemas.Avro, schemas.Protobuf} {
			var text []byte
			var err error
			if format == schemas.Avro {
				text, err = in.Avro(infer.Options{})
			} else {
				text, err = in.Proto(infer.Options{})
			}
			if err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			s, err := serde.New(text, serde.Options{Format: format})
			if err != nil {
				t.Fatalf("%s schema does not compile: %v\n%s", format, err, text)
			}
			frame, err := s.Encode(nil, doc)
			if err != nil {
				t.Fatalf("%s: the document does not fit its own schema: %v\n%s", format, err, text)
			}
			if _, _, err := s.Decode(frame); err != nil {
				t.Fatalf("%s: decode: %v", format, err)
			}
		}
	})
}

func readDocsF(f *testing.F, path string) []bson.Raw {
	raw, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	var docs []bson.Raw
	if err := extjson.Read(bytes.NewReader(raw), path, func(d bson.Raw, _ int) error {
		docs = append(docs, d)
		return nil
	}); err != nil {
		f.Fatal(err)
	}
	return docs
}

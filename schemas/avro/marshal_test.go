package avro_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/schemaflow/schemaflow/schemas/avro"
)

// Marshal output parses to a schema that marshals to the same bytes, and
// other Avro implementations accept it.
func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../testdata/infer/*.avsc")
	conf, _ := filepath.Glob(filepath.Join(conformanceRoot("..", "..", "..", "shared", "conformance"), "apache-avro", "lang", "c", "tests", "schema_tests", "pass", "*"))
	if len(conf) == 0 && os.Getenv("SCHEMAFLOW_REQUIRE_CONFORMANCE") != "" {
		t.Fatal("conformance vectors missing: no apache-avro/lang/c/tests/schema_tests/pass/* under the conformance directory")
	}
	files = append(files, conf...)
	if len(files) == 0 {
		t.Fatal("no schemas")
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := avro.Parse(text)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out, err := avro.Marshal(s.Root)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s2, err := avro.Parse(out)
		if err != nil {
			t.Fatalf("%s: marshalled schema does not parse: %v\n%s", f, err, out)
		}
		again, _ := avro.Marshal(s2.Root)
		if !bytes.Equal(out, again) {
			t.Fatalf("%s: not stable:\n%s\n%s", f, out, again)
		}
		if _, err := goavro.NewCodec(string(text)); err != nil {
			continue // goavro cannot read the original either (null namespaces)
		}
		if _, err := goavro.NewCodec(string(out)); err != nil {
			t.Fatalf("%s: goavro rejects the output: %v\n%s", f, err, out)
		}
	}
}

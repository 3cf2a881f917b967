package avro_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/schemaflow/schemaflow/schemas/avro"
)

// conformanceDir returns the Apache Avro test vectors, which CI keeps beside
// the project (../shared/conformance); they are read in place, not copied.
func conformanceDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(conformanceRoot("..", "..", "..", "shared", "conformance"), "apache-avro", "lang")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("SCHEMAFLOW_REQUIRE_CONFORMANCE") != "" {
			t.Fatalf("conformance vectors missing: %v", err)
		}
		t.Skip("conformance vectors not found: put them beside the project (../shared/conformance) or set SCHEMAFLOW_CONFORMANCE_DIR")
	}
	return dir
}

// TestAvroParserConformance runs Apache Avro's schema-parser vectors: every
// schema the C implementation must accept parses, every one it must reject
// is rejected, and the C++ vectors parse except the two meant to fail.
func TestAvroParserConformance(t *testing.T) {
	t.Parallel()
	dir := conformanceDir(t)
	cases := []struct {
		glob   string
		accept bool
	}{
		{"c/tests/schema_tests/pass/*", true},
		{"c/tests/schema_tests/fail/*", false},
		{"c++/jsonschemas/*", true},
	}
	// nested.error names an undefined type; verboseint is not JSON (the C++
	// parser tolerates unquoted keys).
	mustFail := map[string]bool{"nested.error": true, "verboseint": true}
	total := 0
	for _, c := range cases {
		files, err := filepath.Glob(filepath.Join(dir, c.glob))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no files (%v)", c.glob, err)
		}
		for _, f := range files {
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = avro.Parse(text)
			want := c.accept && !mustFail[filepath.Base(f)]
			if (err == nil) != want {
				t.Errorf("%s: accept=%v, got error %v", f, want, err)
			}
			total++
		}
	}
	t.Logf("%d Avro parser vectors", total)
}

// conformanceRoot is SCHEMAFLOW_CONFORMANCE_DIR, or the default path of the
// shared conformance vectors beside the project.
func conformanceRoot(def ...string) string {
	if dir := os.Getenv("SCHEMAFLOW_CONFORMANCE_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(def...)
}

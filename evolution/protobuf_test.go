package evolution

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/schemaflow/schemaflow/schemas"
)

// conformance returns the path of a file in Confluent's test vectors, which
// CI keeps beside the project; they are read in place, not copied.
func conformance(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(conformanceRoot("..", "..", "shared", "conformance"), "confluentinc-schema-registry", rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("SCHEMAFLOW_REQUIRE_CONFORMANCE") != "" {
			t.Fatalf("conformance vectors missing: %v", err)
		}
		t.Skip("conformance vectors not found: put them beside the project (../shared/conformance) or set SCHEMAFLOW_CONFORMANCE_DIR")
	}
	return p
}

type protoCase struct {
	Description          string     `json:"description"`
	OriginalSchema       string     `json:"original_schema"`
	UpdateSchema         string     `json:"update_schema"`
	OriginalDependencies []protoDep `json:"original_dependencies"`
	UpdateDependencies   []protoDep `json:"update_dependencies"`
	OriginalReferences   []protoRef `json:"original_references"`
	UpdateReferences     []protoRef `json:"update_references"`
	Changes              []string   `json:"changes"`
	Compatible           bool       `json:"compatible"`
}

type protoDep struct {
	Name       string `json:"name"`
	Dependency string `json:"dependency"`
}

func deps(list []protoDep) map[string]string {
	out := map[string]string{}
	for _, d := range list {
		out[d.Name] = d.Dependency
	}
	return out
}

type protoRef struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

func refs(list []protoRef) map[string]Reference {
	out := map[string]Reference{}
	for _, r := range list {
		out[r.Name] = Reference{Subject: r.Subject, Version: r.Version}
	}
	return out
}

// TestConfluentProtobufVectors gives every case of Confluent's
// diff-schema-examples.json Confluent's verdict at BACKWARD and Confluent's
// change list.
func TestConfluentProtobufVectors(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(conformance(t, "protobuf-provider/src/test/resources/diff-schema-examples.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []protoCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	passed := 0
	for i, c := range cases {
		orig := Schema{Format: schemas.Protobuf, Name: "original.proto", Text: []byte(c.OriginalSchema), Dependencies: deps(c.OriginalDependencies), References: refs(c.OriginalReferences)}
		upd := Schema{Format: schemas.Protobuf, Name: "update.proto", Text: []byte(c.UpdateSchema), Dependencies: deps(c.UpdateDependencies), References: refs(c.UpdateReferences)}
		diffs, err := DiffProtobuf(orig, upd)
		if err != nil {
			t.Errorf("case %d %q: %v", i, c.Description, err)
			continue
		}
		got := make([]string, len(diffs))
		for j, d := range diffs {
			got[j] = d.String()
		}
		want := slices.Clone(c.Changes)
		slices.Sort(got)
		slices.Sort(want)
		res, err := Check(Backward, upd, []Schema{orig})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) || res.Compatible != c.Compatible {
			t.Errorf("case %d %q:\n got %v compatible=%v\nwant %v compatible=%v", i, c.Description, got, res.Compatible, want, c.Compatible)
			continue
		}
		passed++
	}
	t.Logf("%d of %d Confluent Protobuf cases give Confluent's verdict and change list", passed, len(cases))
}

// conformanceRoot is SCHEMAFLOW_CONFORMANCE_DIR, or the default path of the
// shared conformance vectors beside the project.
func conformanceRoot(def ...string) string {
	if dir := os.Getenv("SCHEMAFLOW_CONFORMANCE_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(def...)
}

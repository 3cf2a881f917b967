package examples_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/schemaflow/schemaflow/examples"
	"github.com/schemaflow/schemaflow/processor/spec"
)

// The embedded quickstart is the file, and it is a valid spec with the
// two pipelines schemaflow dev reports on.
func TestQuickstart(t *testing.T) {
	disk, err := os.ReadFile("quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk, examples.Quickstart) {
		t.Fatal("the embedded quickstart differs from quickstart.yaml")
	}
	f, err := spec.Parse(examples.QuickstartPath, examples.Quickstart, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range f.Pipelines {
		names = append(names, p.Name)
	}
	if len(names) != 2 || names[0] != "orders-to-kafka" || names[1] != "orders-to-mongodb" {
		t.Errorf("pipelines %v", names)
	}
}

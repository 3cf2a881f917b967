package main

import (
	"context"
	"strings"
	"testing"

	"github.com/schemaflow/schemaflow/registry"
)

// TestEvolveThroughRoot runs `schemaflow evolve` from the command tree on
// documents from standard input, against a subject registered by hand: the
// planned version keeps the hand-written text and gives the reserved name
// another field name; --apply registers it; exit 100 at FULL for a new
// kind, 2 without --subject.
func TestEvolveThroughRoot(t *testing.T) {
	t.Parallel()
	url := testRegistry(t)
	c, err := registry.NewClient(url, registry.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const v1 = "syntax = \"proto3\";\n\npackage shop.v1;\n\noption go_package = \"example.com/shop\";\n\n// An order.\nmessage Order {\n  reserved \"legacy\";\n  string _id = 1; // the order number\n}\n"
	if _, err := c.Register(context.Background(), "orders-value", registry.RegisterRequest{Schema: v1, SchemaType: registry.TypeProtobuf}, false); err != nil {
		t.Fatal(err)
	}
	r := run(t, `{"_id": "o1", "legacy": 1}`, "evolve", "--registry", url, "--subject", "orders-value", "-")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"subject orders-value: version 2 planned after version 1 (id 1), level BACKWARD",
		"  added legacy: int32\n",
		"  string _id = 1; // the order number\n  optional int32 legacy_2 = 2 [json_name = \"legacy\"];\n",
		"// An order.\n",
		"not registered (dry run; --apply registers it)\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := run(t, `{"_id": "o1", "legacy": 1}`, "evolve", "--registry", url, "--subject", "orders-value", "--level", "FORWARD", "--apply", "-"); r.code != 0 || !strings.Contains(r.stdout, "registered orders-value version 2, id 2") {
		t.Errorf("--apply at FORWARD (an added field is allowed): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, `{"_id": 5}`, "evolve", "--registry", url, "--subject", "orders-value", "--level", "FULL", "-"); r.code != 100 || !strings.Contains(r.stderr, `field "_id"`) {
		t.Errorf("a new kind at FULL: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "", "evolve", "--registry", url); r.code != 2 {
		t.Errorf("no subject: exit %d", r.code)
	}
}

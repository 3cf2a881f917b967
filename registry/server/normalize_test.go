package server_test

import (
	"testing"

	"github.com/riferrei/srclient"

	"github.com/schemaflow/schemaflow/registry/store"
)

// TestNormalizeJSONSchema: normalize=true stores a JSON Schema in
// Confluent's normalized form (compact, object keys sorted at every
// level), so the same schema written with its
// keys in another order is the same schema; without it, the text is kept as
// given (compacted) and the reordered schema is another. A subject whose
// config says normalize normalizes srclient's registrations too.
func TestNormalizeJSONSchema(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	a := `{"type":"object","properties":{"name":{"type":"string","maxLength":100},"note":{"description":"<b>é</b>","type":"string"}},"required":["name"]}`
	b := `{"required":["name"], "properties":{"note":{"type":"string","description":"<b>é</b>"},"name":{"maxLength":100,"type":"string"}},"type":"object"}`
	normalized := `{"properties":{"name":{"maxLength":100,"type":"string"},"note":{"description":"<b>é</b>","type":"string"}},"required":["name"],"type":"object"}`
	reg := func(subject, schema, query string) answer {
		t.Helper()
		got := httpCall(t, "POST", ts.URL+"/subjects/"+subject+"/versions"+query, map[string]any{"schema": schema, "schemaType": "JSON"})
		if got.status != 200 {
			t.Fatalf("register %s: %s", subject, got.raw)
		}
		return got
	}
	first := reg("n", a, "?normalize=true")
	if got := httpCall(t, "GET", ts.URL+"/subjects/n/versions/1", nil); got.body["schema"] != normalized {
		t.Fatalf("stored %v, want %s", got.body["schema"], normalized)
	}
	if again := reg("n", b, "?normalize=true"); again.id() != first.id() {
		t.Fatalf("the reordered schema got id %d, want %d", again.id(), first.id())
	}
	if vs := httpCall(t, "GET", ts.URL+"/subjects/n/versions", nil); vs.raw != "[1]\n" {
		t.Fatalf("versions %s", vs.raw)
	}
	plainA, plainB := reg("plain", a, ""), reg("plain2", b, "")
	if plainA.id() == plainB.id() || plainA.id() == first.id() {
		t.Fatalf("without normalize: ids %d and %d (normalized %d)", plainA.id(), plainB.id(), first.id())
	}
	// With normalize in the subject's config, srclient's registrations
	// are normalized.
	if got := httpCall(t, "PUT", ts.URL+"/config/viaclient", map[string]any{"compatibility": "BACKWARD", "normalize": true}); got.status != 200 {
		t.Fatalf("config: %s", got.raw)
	}
	s, err := client(ts).CreateSchema("viaclient", b, srclient.Json)
	if err != nil || s.ID() != first.id() {
		t.Fatalf("srclient under normalize: %v %v, want id %d", s, err, first.id())
	}
}

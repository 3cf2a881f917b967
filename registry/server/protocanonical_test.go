package server_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

// registerConfluentDeps registers the stand-in confluent/meta.proto and
// confluent/type/decimal.proto of testdata/confluentproto/deps and
// returns references to them.
func registerConfluentDeps(t *testing.T, url string) []map[string]any {
	t.Helper()
	var refs []map[string]any
	for _, dep := range []string{"confluent/meta.proto", "confluent/type/decimal.proto"} {
		text, err := os.ReadFile(filepath.Join("testdata", "confluentproto", "deps", dep))
		if err != nil {
			t.Fatal(err)
		}
		subject := strings.ReplaceAll(dep, "/", "_")
		if got := httpCall(t, "POST", url+"/subjects/"+subject+"/versions", map[string]any{"schema": string(text), "schemaType": "PROTOBUF", "references": refs}); got.status != 200 {
			t.Fatalf("%s: %s", dep, got.raw)
		}
		refs = append(refs, map[string]any{"name": dep, "subject": subject, "version": 1})
	}
	return refs
}

// TestProtobufConfluentText: over HTTP, a Protobuf schema registered with
// normalize=true is stored as Confluent stores it, byte for byte: its
// normalized string. Registered as given, it is stored as given (comments
// kept), and Confluent's canonical string of it, sent as a lookup or
// registered again, finds the same id, since schemas are compared by
// that string as in Confluent. format=ignore_extensions gives Confluent's
// text. The schemas are Confluent's own test schemas
// (testdata/confluentproto) that protoc compiles (the others Confluent
// accepts unchecked and this registry refuses); the expected text is what
// Confluent's tests assert. srclient reads the stored text.
func TestProtobufConfluentText(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	refs := registerConfluentDeps(t, ts.URL)
	inputs, _ := filepath.Glob(filepath.Join("testdata", "confluentproto", "*", "input.proto"))
	var registered, normalized, withoutExt []string
	for _, in := range inputs {
		dir := filepath.Dir(in)
		name := filepath.Base(dir)
		text, _ := os.ReadFile(in)
		body := map[string]any{"schema": string(text), "schemaType": "PROTOBUF", "references": refs}
		canonical, err := os.ReadFile(filepath.Join(dir, "canonical.proto"))
		if err == nil {
			got := httpCall(t, "POST", ts.URL+"/subjects/"+name+"/versions", body)
			if got.status == 422 {
				continue // protoc refuses it
			}
			if got.status != 200 {
				t.Fatalf("%s: %s", name, got.raw)
			}
			registered = append(registered, name)
			stored := httpCall(t, "GET", ts.URL+"/subjects/"+name+"/versions/1", nil)
			if stored.body["schema"] != strings.TrimSpace(string(text)) {
				t.Errorf("%s: stored\n%s\nwant the text as given", name, stored.body["schema"])
			}
			asConfluent := map[string]any{"schema": string(canonical), "schemaType": "PROTOBUF", "references": refs}
			if lk := httpCall(t, "POST", ts.URL+"/subjects/"+name, asConfluent); lk.status != 200 || lk.id() != got.id() {
				t.Errorf("%s: lookup by Confluent's canonical string: %s", name, lk.raw)
			}
			if again := httpCall(t, "POST", ts.URL+"/subjects/"+name+"/versions", asConfluent); again.status != 200 || again.id() != got.id() {
				t.Errorf("%s: registering Confluent's canonical string: %s", name, again.raw)
			}
			s, err := client(ts).GetSchema(got.id())
			if err != nil || s.Schema() != strings.TrimSpace(string(text)) {
				t.Errorf("%s: srclient: %v %v", name, s, err)
			}
		}
		if noext, err := os.ReadFile(filepath.Join(dir, "noext.proto")); err == nil {
			got := httpCall(t, "POST", ts.URL+"/subjects/"+name+"-noext/versions", body)
			if got.status == 200 {
				withoutExt = append(withoutExt, name)
				for _, path := range []string{fmt.Sprintf("/schemas/ids/%d?format=ignore_extensions", got.id()), "/subjects/" + name + "-noext/versions/1?format=ignore_extensions"} {
					if a := httpCall(t, "GET", ts.URL+path, nil); a.body["schema"] != string(noext) {
						t.Errorf("%s: GET %s\n%s\nwant Confluent's text\n%s", name, path, a.body["schema"], noext)
					}
				}
			}
		}
		want, err := os.ReadFile(filepath.Join(dir, "normalized.proto"))
		if err != nil {
			continue
		}
		got := httpCall(t, "POST", ts.URL+"/subjects/"+name+"-normalized/versions?normalize=true", body)
		if got.status == 422 {
			continue
		}
		if got.status != 200 {
			t.Fatalf("%s normalized: %s", name, got.raw)
		}
		normalized = append(normalized, name)
		if stored := httpCall(t, "GET", ts.URL+"/subjects/"+name+"-normalized/versions/1", nil); stored.body["schema"] != string(want) {
			t.Errorf("%s: stored with normalize\n%s\nwant Confluent's normalized string\n%s", name, stored.body["schema"], want)
		}
	}
	// The cases protoc compiles: each must have been registered.
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"as given", registered, []string{"extensions", "nested-options", "package-prefix", "ranges"}},
		{"with normalize", normalized, []string{"extensions", "nested-complex-options-normalization", "nested-options", "package-prefix", "ranges", "repeated-nested-options-normalization"}},
		{"for ignore_extensions", withoutExt, []string{"extensions-normalized"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("registered %s: %v, want %v", c.what, c.got, c.want)
		}
	}
}

// TestProtobufLayoutOneID: Protobuf schemas that differ only in layout,
// comments, quotes or how an option list is split get one id, as in
// Confluent (which compares canonical strings); the text stored is the
// first one's. A different order of fields is another schema unless
// normalized. A schema in the log before this comparison (its record
// holds its text as given) is found by the same schema in another layout
// and keeps its id and text; srclient registers under the same id.
func TestProtobufLayoutOneID(t *testing.T) {
	t.Parallel()
	raw := "syntax='proto3';package shop;  message Old{string id=1;}"
	rec := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	st := store.NewMemory()
	if err := st.Append(t.Context(), store.Record{
		Key:   rec(map[string]any{"keytype": "SCHEMA", "subject": "old", "version": 1, "magic": 1}),
		Value: rec(map[string]any{"subject": "old", "version": 1, "id": 1, "schema": raw, "schemaType": "PROTOBUF", "deleted": false}),
	}); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(st, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	// Confluent's canonical string of them all.
	canonical := "syntax = \"proto3\";\npackage shop;\n\nmessage Order {\n  string id = 1;\n  repeated string tags = 2 [\n    deprecated = true,\n    json_name = \"labels\"\n  ];\n}\n"
	variants := []string{
		"syntax = \"proto3\";\npackage shop;\nmessage Order {\n  string id = 1;\n  repeated string tags = 2 [deprecated = true, json_name = \"labels\"];\n}\n",
		"// orders\nsyntax = 'proto3'; package shop;\nmessage Order { string id = 1; /* the tags */ repeated string tags = 2 [deprecated=true,json_name='lab' \"els\"]; }",
		canonical,
	}
	var id int
	for i, v := range variants {
		got := httpCall(t, "POST", ts.URL+"/subjects/orders/versions", map[string]any{"schema": v, "schemaType": "PROTOBUF"})
		if got.status != 200 || (i > 0 && got.id() != id) {
			t.Fatalf("variant %d: %s (first id %d)", i, got.raw, id)
		}
		id = got.id()
	}
	if vs := httpCall(t, "GET", ts.URL+"/subjects/orders/versions", nil); strings.TrimSpace(vs.raw) != "[1]" {
		t.Errorf("versions: %s", vs.raw)
	}
	if got := httpCall(t, "GET", fmt.Sprintf("%s/schemas/ids/%d", ts.URL, id), nil); got.body["schema"] != strings.TrimSpace(variants[0]) {
		t.Errorf("stored text: %s", got.raw)
	}
	reordered := "syntax = \"proto3\";\npackage shop;\nmessage Order {\n  repeated string tags = 2 [deprecated = true, json_name = \"labels\"];\n  string id = 1;\n}\n"
	if got := httpCall(t, "POST", ts.URL+"/subjects/orders2/versions", map[string]any{"schema": reordered, "schemaType": "PROTOBUF"}); got.status != 200 || got.id() == id {
		t.Errorf("reordered, not normalized: %s (id %d)", got.raw, id)
	}
	// The raw record: the same schema in another layout finds it.
	got := httpCall(t, "POST", ts.URL+"/subjects/old/versions", map[string]any{"schema": "syntax = \"proto3\";\npackage shop;\n\nmessage Old {\n  string id = 1;\n}\n", "schemaType": "PROTOBUF"})
	if got.status != 200 || got.id() != 1 {
		t.Errorf("the schema stored as given: %s", got.raw)
	}
	if got := httpCall(t, "GET", ts.URL+"/subjects/old/versions/latest", nil); got.body["schema"] != raw || got.body["version"] != float64(1) {
		t.Errorf("the raw record changed: %s", got.raw)
	}
	s, err := client(ts).CreateSchema("orders-srclient", variants[1], srclient.Protobuf)
	if err != nil || s.ID() != id {
		t.Errorf("srclient: %v %v (want id %d)", s, err, id)
	}
}

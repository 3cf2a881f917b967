package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
// normalized string; a lookup with normalize=true finds it, and srclient
// reads the same text. format=ignore_extensions answers Confluent's text.
// The schemas are Confluent's own test schemas (testdata/confluentproto)
// that protoc compiles (the others Confluent accepts unchecked and this
// registry refuses); the expected text is what Confluent's tests assert.
func TestProtobufConfluentText(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	refs := registerConfluentDeps(t, ts.URL)
	inputs, _ := filepath.Glob(filepath.Join("testdata", "confluentproto", "*", "input.proto"))
	var normalized, withoutExt []string
	for _, in := range inputs {
		dir := filepath.Dir(in)
		name := filepath.Base(dir)
		text, _ := os.ReadFile(in)
		body := map[string]any{"schema": string(text), "schemaType": "PROTOBUF", "references": refs}
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
		if lk := httpCall(t, "POST", ts.URL+"/subjects/"+name+"-normalized?normalize=true", body); lk.status != 200 || lk.id() != got.id() {
			t.Errorf("%s: normalized lookup: %s", name, lk.raw)
		}
		if s, err := client(ts).GetSchema(got.id()); err != nil || s.Schema() != string(want) {
			t.Errorf("%s: srclient: %v %v", name, s, err)
		}
	}
	// The cases protoc compiles: each must have been registered.
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"with normalize", normalized, []string{"complex-options2", "extensions", "nested-complex-options-normalization", "nested-options", "package-prefix", "ranges", "repeated-nested-options-normalization"}},
		{"for ignore_extensions", withoutExt, []string{"extensions-normalized", "serializer-custom-options2"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("registered %s: %v, want %v", c.what, c.got, c.want)
		}
	}
}

package server_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

// jsonEq reports whether two JSON texts hold the same value.
func jsonEq(t *testing.T, a any, b string) bool {
	t.Helper()
	ab, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var av, bv any
	if json.Unmarshal(ab, &av) != nil || json.Unmarshal([]byte(b), &bv) != nil {
		return false
	}
	x, _ := json.Marshal(av)
	y, _ := json.Marshal(bv)
	return string(x) == string(y)
}

// TestMetadataAndRuleSet: Confluent's data-contract fields are accepted,
// stored, returned by version, by id and by lookup, kept across a restart
// of the file store, and part of the schema's identity: the same schema
// with other metadata is another id and version, the same metadata with
// its keys in another order is the same schema, and a registration or a
// lookup that leaves them out inherits the previous version's. srclient,
// which knows nothing of them, keeps working on the same subjects.
func TestMetadataAndRuleSet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := func() (*httptest.Server, func()) {
		st, err := store.OpenFile(dir)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(st, server.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		stop := func() { ts.Close(); st.Close() }
		t.Cleanup(stop)
		return ts, stop
	}
	ts, stop := open()
	const (
		metadata  = `{"properties":{"owner":"shop","pii":"false"},"tags":{"email":["PII"]}}`
		reordered = `{"tags":{"email":["PII"]},"properties":{"pii":"false","owner":"shop"}}`
		ruleSet   = `{"domainRules":[{"name":"checkEmail","kind":"CONDITION","type":"CEL","mode":"WRITE","expr":"message.email != ''"}]}`
		metadata2 = `{"properties":{"owner":"billing"}}`
	)
	body := func(meta, rules string) map[string]any {
		b := map[string]any{"schema": userV1}
		if meta != "" {
			b["metadata"] = json.RawMessage(meta)
		}
		if rules != "" {
			b["ruleSet"] = json.RawMessage(rules)
		}
		return b
	}
	first := httpCall(t, "POST", ts.URL+"/subjects/users-value/versions", body(metadata, ruleSet))
	if first.status != 200 || first.id() != 1 {
		t.Fatalf("register with metadata: %s", first.raw)
	}
	for _, tc := range []struct {
		name           string
		body           map[string]any
		wantID         int
		wantVersions   string
		lookupVersion  int
		lookupMetadata string
	}{
		{"same contract, keys reordered", body(reordered, ruleSet), 1, "[1]\n", 1, metadata},
		// As Confluent, what a registration leaves out it inherits from the
		// previous version: the same schema without a contract is version 1.
		{"no contract inherits version 1's", body("", ""), 1, "[1]\n", 1, metadata},
		{"other metadata keeps the rules", body(metadata2, ""), 2, "[1,2]\n", 2, metadata2},
	} {
		got := httpCall(t, "POST", ts.URL+"/subjects/users-value/versions", tc.body)
		if got.status != 200 || got.id() != tc.wantID {
			t.Fatalf("%s: register: %s", tc.name, got.raw)
		}
		if vs := httpCall(t, "GET", ts.URL+"/subjects/users-value/versions", nil); vs.raw != tc.wantVersions {
			t.Fatalf("%s: versions %s, want %s", tc.name, vs.raw, tc.wantVersions)
		}
		lk := httpCall(t, "POST", ts.URL+"/subjects/users-value", tc.body)
		if lk.status != 200 || lk.id() != tc.wantID || int(lk.body["version"].(float64)) != tc.lookupVersion {
			t.Fatalf("%s: lookup: %s", tc.name, lk.raw)
		}
		if _, has := lk.body["metadata"]; has != (tc.lookupMetadata != "") || has && !jsonEq(t, lk.body["metadata"], tc.lookupMetadata) {
			t.Fatalf("%s: lookup metadata: %s", tc.name, lk.raw)
		}
	}
	check := func(ts *httptest.Server, when string) {
		t.Helper()
		v := httpCall(t, "GET", ts.URL+"/subjects/users-value/versions/1", nil)
		if !jsonEq(t, v.body["metadata"], metadata) || !jsonEq(t, v.body["ruleSet"], ruleSet) {
			t.Fatalf("%s: version 1: %s", when, v.raw)
		}
		byID := httpCall(t, "GET", ts.URL+"/schemas/ids/1", nil)
		if !jsonEq(t, byID.body["metadata"], metadata) || !jsonEq(t, byID.body["ruleSet"], ruleSet) {
			t.Fatalf("%s: id 1: %s", when, byID.raw)
		}
		if v2 := httpCall(t, "GET", ts.URL+"/subjects/users-value/versions/2", nil); !jsonEq(t, v2.body["metadata"], metadata2) || !jsonEq(t, v2.body["ruleSet"], ruleSet) {
			t.Fatalf("%s: version 2 does not have its metadata and the inherited rules: %s", when, v2.raw)
		}
	}
	check(ts, "before the restart")
	for _, bad := range []map[string]any{
		{"schema": userV1, "metadata": json.RawMessage(`["not","an","object"]`)},
		{"schema": userV1, "ruleSet": json.RawMessage(`"rules"`)},
	} {
		if got := httpCall(t, "POST", ts.URL+"/subjects/users-value/versions", bad); got.status != 422 || got.code() != 42201 {
			t.Fatalf("bad contract answered %d %s", got.status, got.raw)
		}
	}

	// srclient reads the schema by id and registers alongside.
	c := client(ts)
	got, err := c.GetSchema(1)
	if err != nil || got.Schema() != userV1 {
		t.Fatalf("srclient by id: %v %v", got, err)
	}
	if s, err := c.CreateSchema("users-value", userV1, srclient.Avro); err != nil || s.ID() != 2 {
		t.Fatalf("srclient registering the schema without a contract (inherits version 2's): %v %v", s, err)
	}
	stop()
	again, _ := open()
	check(again, "after the restart")
}

package server_test

import (
	"encoding/json"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/schemaflow/schemaflow/registry/store"
)

// TestContractConfig: a config's defaultMetadata, overrideMetadata,
// defaultRuleSet and overrideRuleSet shape every new version as in
// Confluent: defaults under what the registration gives (or the previous
// version had), overrides over it; properties and tags merge key by key,
// rules by name. PUT /config keeps the fields it is not given, and a
// registration with an explicit version gets confluent:version. srclient
// registrations, which carry no contract, get the config's.
func TestContractConfig(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	url := ts.URL
	rule := func(name, expr string) string {
		return `{"name":"` + name + `","kind":"CONDITION","type":"CEL","mode":"WRITE","expr":"` + expr + `"}`
	}
	put := httpCall(t, "PUT", url+"/config/orders-value", map[string]any{
		"defaultMetadata":  json.RawMessage(`{"properties":{"owner":"team-a","tier":"gold"},"sensitive":["ssn"]}`),
		"overrideMetadata": json.RawMessage(`{"properties":{"tier":"silver"}}`),
		"defaultRuleSet":   json.RawMessage(`{"domainRules":[` + rule("r1", "true") + `]}`),
		"overrideRuleSet":  json.RawMessage(`{"domainRules":[` + rule("r2", "true") + `]}`),
	})
	if put.status != 200 {
		t.Fatalf("put config: %s", put.raw)
	}
	cfg := httpCall(t, "GET", url+"/config/orders-value", nil)
	if cfg.body["compatibilityLevel"] != "BACKWARD" || !jsonEq(t, cfg.body["overrideMetadata"], `{"properties":{"tier":"silver"}}`) {
		t.Fatalf("get config: %s", cfg.raw)
	}

	c := client(ts)
	if s, err := c.CreateSchema("orders-value", userV1, srclient.Avro); err != nil || s.ID() != 1 {
		t.Fatalf("srclient register: %v %v", s, err)
	}
	steps := []struct {
		name     string
		before   func()
		body     map[string]any
		version  int
		metadata string
		ruleSet  string
	}{
		{name: "srclient's registration gets the defaults and overrides", version: 1,
			metadata: `{"properties":{"owner":"team-a","tier":"silver"},"sensitive":["ssn"]}`,
			ruleSet:  `{"domainRules":[` + rule("r1", "true") + `,` + rule("r2", "true") + `]}`},
		{name: "the request's own merge between them", version: 2,
			body:     map[string]any{"schema": userV2, "metadata": json.RawMessage(`{"properties":{"owner":"team-b"},"sensitive":["email"]}`), "ruleSet": json.RawMessage(`{"domainRules":[` + rule("r1", "false") + `]}`)},
			metadata: `{"properties":{"owner":"team-b","tier":"silver"},"sensitive":["email","ssn"]}`,
			ruleSet:  `{"domainRules":[` + rule("r1", "false") + `,` + rule("r2", "true") + `]}`},
		{name: "PUT /config keeps what it is not given; an explicit version is recorded", version: 3,
			before: func() {
				if got := httpCall(t, "PUT", url+"/config/orders-value", map[string]any{"compatibility": "NONE"}); got.status != 200 {
					t.Fatalf("put level: %s", got.raw)
				}
			},
			body:     map[string]any{"schema": userV3, "version": 3},
			metadata: `{"properties":{"owner":"team-b","tier":"silver","confluent:version":"3"},"sensitive":["email","ssn"]}`,
			ruleSet:  `{"domainRules":[` + rule("r1", "false") + `,` + rule("r2", "true") + `]}`},
		{name: "without the config, the previous version's contract, confluent:version moved on", version: 4,
			before: func() {
				if got := httpCall(t, "DELETE", url+"/config/orders-value", nil); got.status != 200 || got.body["compatibilityLevel"] != "NONE" || got.body["defaultMetadata"] == nil {
					t.Fatalf("delete config: %s", got.raw)
				}
				if got := httpCall(t, "PUT", url+"/config/orders-value", map[string]any{"compatibility": "NONE"}); got.status != 200 {
					t.Fatalf("put level: %s", got.raw)
				}
			},
			body:     map[string]any{"schema": userV1},
			metadata: `{"properties":{"owner":"team-b","tier":"silver","confluent:version":"4"},"sensitive":["email","ssn"]}`,
			ruleSet:  `{"domainRules":[` + rule("r1", "false") + `,` + rule("r2", "true") + `]}`},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		if st.body != nil {
			if got := httpCall(t, "POST", url+"/subjects/orders-value/versions", st.body); got.status != 200 {
				t.Fatalf("%s: register: %s", st.name, got.raw)
			}
		}
		v := httpCall(t, "GET", url+"/subjects/orders-value/versions/latest", nil)
		if int(v.body["version"].(float64)) != st.version || !jsonEq(t, v.body["metadata"], st.metadata) || !jsonEq(t, v.body["ruleSet"], st.ruleSet) {
			t.Fatalf("%s: latest is %s\nwant version %d metadata %s ruleSet %s", st.name, v.raw, st.version, st.metadata, st.ruleSet)
		}
	}
	cfg = httpCall(t, "GET", url+"/config/orders-value", nil)
	if cfg.body["compatibilityLevel"] != "NONE" || cfg.body["defaultMetadata"] != nil {
		t.Fatalf("config after delete and put: %s", cfg.raw)
	}
	for _, bad := range []map[string]any{
		{"defaultMetadata": json.RawMessage(`[1]`)},
		{"overrideRuleSet": json.RawMessage(`"r"`)},
		{"compatibility": "SIDEWAYS"},
	} {
		if got := httpCall(t, "PUT", url+"/config", bad); got.status != 422 {
			t.Fatalf("bad config %v answered %s", bad, got.raw)
		}
	}
	if got := httpCall(t, "POST", url+"/subjects/orders-value", map[string]any{"schema": userV1}); got.status != 200 || got.id() != 4 {
		t.Fatalf("lookup: %s", got.raw)
	}
	// srclient's lookup, without a contract, finds the version whose
	// contract a registration would have given it.
	if s, err := c.LookupSchema("orders-value", userV1, srclient.Avro); err != nil || s.ID() != 4 || s.Version() != 4 {
		t.Fatalf("srclient lookup: %v %v", s, err)
	}
}

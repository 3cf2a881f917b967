package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

// produce reads Extended JSON and produces framed records; consume prints
// them back decoded through the registry, with schema ids.
func TestProduceConsume(t *testing.T) {
	t.Parallel()
	kafka, reg := kafkaAndRegistry(t, "orders")
	brokers := kafka.ListenAddrs()[0]

	dir := t.TempDir()
	r := run(t, "", "infer", "--name", "Order", "examples/orders.jsonl")
	if r.code != 0 {
		t.Fatalf("infer: %s", r.stderr)
	}
	schema := writeFile(t, dir, "order.avsc", r.stdout)
	r = run(t, "", "produce", "--brokers", brokers, "--topic", "orders", "--registry", reg.URL, "--schema", schema, "--key-field", "orderNo", "examples/orders.jsonl")
	if r.code != 0 || !strings.Contains(r.stderr, "produced ") || !strings.Contains(r.stderr, "to orders (subject orders-value, schema id 1)") {
		t.Fatalf("produce: exit %d: %s", r.code, r.stderr)
	}
	lines, err := os.ReadFile("../../examples/orders.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Count(strings.TrimSpace(string(lines)), "\n") + 1

	r = run(t, "", "consume", "--brokers", brokers, "--topic", "orders", "--registry", reg.URL, "--from-beginning", "-n", "3")
	if r.code != 0 {
		t.Fatalf("consume: exit %d: %s", r.code, r.stderr)
	}
	out := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(out) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(out), r.stdout)
	}
	var first struct {
		Topic         string
		Offset        int64
		ValueSchemaID uint32
		Key           json.RawMessage
		Value         map[string]any
	}
	if err := json.Unmarshal([]byte(out[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Topic != "orders" || first.Offset != 0 || first.ValueSchemaID != 1 || string(first.Key) != `{"$numberInt":"1001"}` && string(first.Key) != "1001" ||
		first.Value["orderNo"] == nil || first.Value["customer"].(map[string]any)["name"] != "Grace Hopper" {
		t.Fatalf("first record: %s", out[0])
	}

	// A document the schema cannot carry stops with its place; the ones
	// before it were produced.
	badFile := writeFile(t, dir, "bad.jsonl", strings.SplitN(string(lines), "\n", 2)[0]+"\n{\"_id\": \"not an ObjectId\"}\n")
	r = run(t, "", "produce", "--brokers", brokers, "--topic", "orders", "--registry", reg.URL, "--schema", schema, badFile)
	if r.code != 1 || !strings.Contains(r.stderr, "bad.jsonl:2:") || !strings.Contains(r.stderr, "produced 1 records") {
		t.Fatalf("bad input: exit %d: %s", r.code, r.stderr)
	}
	r = run(t, "", "consume", "--brokers", brokers, "--topic", "orders", "--registry", reg.URL, "--from-beginning", "-n", itoa(want+1))
	if r.code != 0 || strings.Count(r.stdout, "\n") != want+1 {
		t.Fatalf("consume all: exit %d, %d lines, want %d", r.code, strings.Count(r.stdout, "\n"), want+1)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// The console tools log in with SASL; a missing password is a usage
// error.
func TestConsoleSASL(t *testing.T) {
	t.Parallel()
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "ops", "pw"), kfake.SeedTopics(1, "audit"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewServer(srv)
	defer reg.Close()
	dir := t.TempDir()
	schema := writeFile(t, dir, "audit.avsc", `{"type":"record","name":"Audit","fields":[{"name":"who","type":"string"}]}`)
	input := writeFile(t, dir, "audit.jsonl", "{\"who\": \"ada\"}\n{\"who\": \"grace\"}\n")
	brokers := kafka.ListenAddrs()[0]
	login := []string{"--brokers", brokers, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "ops"}
	r := runEnv(t, map[string]string{"SCHEMAFLOW_SASL_PASSWORD": "pw"}, append([]string{"produce", "--topic", "audit", "--registry", reg.URL, "--schema", schema, input}, login...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "produced 2 records") {
		t.Fatalf("produce: exit %d: %s", r.code, r.stderr)
	}
	r = runEnv(t, nil, append([]string{"consume", "--topic", "audit", "--registry", reg.URL, "--from-beginning", "-n", "2", "--sasl-password", "pw"}, login...)...)
	if r.code != 0 || !strings.Contains(r.stdout, `"value":{"who":"ada"}`) || !strings.Contains(r.stdout, `"value":{"who":"grace"}`) {
		t.Fatalf("consume: exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runEnv(t, nil, append([]string{"consume", "--topic", "audit"}, login...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "--sasl-mechanism needs --sasl-user and a password") {
		t.Fatalf("no password: exit %d: %s", r.code, r.stderr)
	}
}

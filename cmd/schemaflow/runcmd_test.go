package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/versioncmd"
)

// schemaflow run, in process: a sink pipeline from a spec writes plain
// JSON records into a file-backed engine, serves metrics while it runs,
// logs JSON lines, and exits 0 when its context ends.
func TestRunCommand(t *testing.T) {
	t.Parallel()
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "events", Value: []byte(fmt.Sprintf(`{"_id": %d, "kind": "click"}`, i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()

	dir := t.TempDir()
	store := filepath.Join(dir, "mongo.lungo")
	spec := writeFile(t, dir, "events.yaml", `version: 1
kafka: {brokers: ["${BROKERS}"]}
mongodb: {uri: "lungo:`+store+`", database: analytics}
pipelines:
  - name: events-in
    mongodb: {collection: events}
    sink:
      topics: [events]
      plain_json: true
      id_strategy: value
      max_wait: 5ms
`)
	metrics := freeAddr(t)
	var out, errOut syncBuffer
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Dir: "../..",
		Getenv: func(k string) string { return map[string]string{"BROKERS": kafka.ListenAddrs()[0]}[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, Root(versioncmd.Info{}), []string{"run", "-f", spec, "--http-addr", metrics, "--log-format", "json"}, env)
	}()
	p := &devProcess{metrics: "http://" + metrics + "/metrics", out: &errOut}
	p.waitFor(t, "the records written", func(c map[string]int64) bool { return c["events-in"] == 5 })
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
	for _, line := range strings.Split(strings.TrimSpace(errOut.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil || entry["msg"] == nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
	}
	if !strings.Contains(errOut.String(), `"pipeline":"events-in"`) || !strings.Contains(errOut.String(), `"msg":"schemaflow: stopped"`) {
		t.Fatalf("logs:\n%s", errOut.String())
	}
	orders, _ := collectionDocs(t, store, "analytics", "events")
	if len(orders) != 5 {
		t.Fatalf("%d documents written, want 5", len(orders))
	}
}

// What schemaflow produce --key-field writes (a plain JSON key and a
// framed value) is read by a sink with the default formats: the key is
// the _id as it is under id_strategy key, the value decodes through the
// registry, and the metrics say what auto chose per part.
func TestProduceThenSinkWithDefaults(t *testing.T) {
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
	if r.code != 0 {
		t.Fatalf("produce: exit %d: %s", r.code, r.stderr)
	}
	lines, err := os.ReadFile("../../examples/orders.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Count(strings.TrimSpace(string(lines)), "\n") + 1

	lungoFile := filepath.Join(dir, "mongo.lungo")
	spec := writeFile(t, dir, "orders.yaml", `version: 1
kafka: {brokers: ["`+brokers+`"]}
registry: {url: "`+reg.URL+`"}
mongodb: {uri: "lungo:`+lungoFile+`", database: shop}
pipelines:
  - name: orders-in
    mongodb: {collection: orders}
    sink:
      topics: [orders]
      id_strategy: key
      overwrite_id: true # the documents carry an _id of their own
      max_wait: 5ms
`)
	metrics := freeAddr(t)
	var out, errOut syncBuffer
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Dir: "../..", Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, Root(versioncmd.Info{}), []string{"run", "-f", spec, "--http-addr", metrics}, env)
	}()
	p := &devProcess{metrics: "http://" + metrics + "/metrics", out: &errOut}
	p.waitFor(t, "every record written", func(c map[string]int64) bool { return c["orders-in"] == int64(want) })
	body := httpGet(t, "http://"+metrics+"/metrics")
	for _, w := range []string{
		fmt.Sprintf(`schemaflow_sink_records_read_total{format="json",part="key",pipeline="orders-in",topic="orders"} %d`, want),
		fmt.Sprintf(`schemaflow_sink_records_read_total{format="registry",part="value",pipeline="orders-in",topic="orders"} %d`, want),
	} {
		if !strings.Contains(body, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
	docs, _ := collectionDocs(t, lungoFile, "shop", "orders")
	if len(docs) != want {
		t.Fatalf("%d documents, want %d", len(docs), want)
	}
	for _, d := range docs {
		var id, orderNo any
		for _, e := range d {
			switch e.Key {
			case "_id":
				id = e.Value
			case "orderNo":
				orderNo = e.Value
			}
		}
		if id == nil || fmt.Sprint(id) != fmt.Sprint(orderNo) {
			t.Fatalf("document %v: _id %v is not its orderNo %v", d, id, orderNo)
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

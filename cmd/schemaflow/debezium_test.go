package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

// Debezium's Avro schemas for a Postgres table whose primary key is
// (id, region): the key record, and the envelope of the row's changes.
const (
	debeziumKey = `{"type": "record", "name": "Key", "namespace": "pg.public.orders", "fields": [
		{"name": "id", "type": "int"}, {"name": "region", "type": "string"}]}`
	debeziumValue = `{"type": "record", "name": "Envelope", "namespace": "pg.public.orders", "fields": [
		{"name": "before", "type": ["null", {"type": "record", "name": "Value", "fields": [
			{"name": "id", "type": "int"}, {"name": "region", "type": "string"},
			{"name": "status", "type": "string"}, {"name": "total", "type": "int"}]}], "default": null},
		{"name": "after", "type": ["null", "Value"], "default": null},
		{"name": "source", "type": {"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql", "fields": [
			{"name": "connector", "type": "string"}, {"name": "table", "type": "string"}]}},
		{"name": "op", "type": "string"},
		{"name": "ts_ms", "type": ["null", "long"], "default": null}]}`
)

// schemaflow run, the real binary in a child process, sinks Debezium
// Postgres events — Avro envelopes whose keys, and so _ids, are documents —
// through the registry into the embedded engine (lungo:PATH): every row's
// life lands (creates, a snapshot read, an update of an existing
// document, a delete and its tombstone), and SIGTERM ends it with exit 0
// within a second. (lungo v0.3.7 panicked on the update, and the daemon
// hung until killed.)
func TestRunDebeziumIntoLungoAcrossSIGTERM(t *testing.T) {
	t.Parallel()
	kafka, reg := kafkaAndRegistry(t, "pg.public.orders")

	// Produced as Debezium's Avro converter does: framed, ids from the registry.
	client, err := registry.NewClient(reg.URL, registry.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	codec := func(subject, schema string) *serde.Serde {
		id, err := client.Register(context.Background(), subject, registry.RegisterRequest{Schema: schema}, false)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := serde.New([]byte(schema), serde.Options{Format: schemas.Avro, ID: uint32(id)})
		if err != nil {
			t.Fatal(err)
		}
		return sd
	}
	keys, values := codec("pg.public.orders-key", debeziumKey), codec("pg.public.orders-value", debeziumValue)
	encode := func(sd *serde.Serde, doc bson.D) []byte {
		raw, err := bson.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		b, err := sd.Encode(nil, raw)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	row := func(id int32, status string, total int32) any {
		if status == "" {
			return nil
		}
		return bson.D{{Key: "id", Value: id}, {Key: "region", Value: "eu"}, {Key: "status", Value: status}, {Key: "total", Value: total}}
	}
	event := func(op string, id int32, before, after any) *kgo.Record {
		key := encode(keys, bson.D{{Key: "id", Value: id}, {Key: "region", Value: "eu"}})
		value := encode(values, bson.D{{Key: "before", Value: before}, {Key: "after", Value: after},
			{Key: "source", Value: bson.D{{Key: "connector", Value: "postgresql"}, {Key: "table", Value: "orders"}}},
			{Key: "op", Value: op}, {Key: "ts_ms", Value: int64(1700000000000)}})
		return &kgo.Record{Topic: "pg.public.orders", Key: key, Value: value}
	}
	recs := []*kgo.Record{
		event("r", 1, nil, row(1, "new", 5)),
		event("c", 2, nil, row(2, "new", 7)),
		event("c", 3, nil, row(3, "new", 9)),
		event("u", 1, row(1, "new", 5), row(1, "paid", 5)),
		event("u", 1, row(1, "paid", 5), row(1, "shipped", 6)),
		event("d", 2, row(2, "new", 7), nil),
		{Topic: "pg.public.orders", Key: encode(keys, bson.D{{Key: "id", Value: int32(2)}, {Key: "region", Value: "eu"}})}, // the tombstone
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	dir := t.TempDir()
	storeFile := filepath.Join(dir, "mongodb.lungo")
	spec := writeFile(t, dir, "debezium.yaml", `version: 1
kafka: {brokers: ["${BROKERS}"]}
registry: {url: "${REGISTRY}"}
mongodb: {uri: "lungo:`+storeFile+`", database: shop}
pipelines:
  - name: pg-orders
    mongodb: {collection: orders}
    sink: {topics: [pg.public.orders], cdc: debezium-rdbms, max_wait: 5ms}
`)
	metrics := freeAddr(t)
	args := []string{"run", "-f", spec, "--http-addr", metrics, "--log-format", "json"}
	p := startRun(t, args, metrics, "BROKERS="+kafka.ListenAddrs()[0], "REGISTRY="+reg.URL)
	p.waitFor(t, "every event written", func(c map[string]int64) bool { return c["pg-orders"] == int64(len(recs)) })

	p.termWithinASecond(t)

	docs, _ := collectionDocs(t, storeFile, "shop", "orders")
	got, err := bson.MarshalExtJSON(bson.D{{Key: "docs", Value: docs}}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"docs":[{"_id":{"id":1,"region":"eu"},"status":"shipped","total":6},{"_id":{"id":3,"region":"eu"},"status":"new","total":9}]}`
	if string(got) != want {
		t.Fatalf("the collection:\n got %s\nwant %s\noutput:\n%s", got, want, p.out)
	}
}

// startRun starts `schemaflow run` with args as a child process, with env
// added to its environment, serving metrics on the metrics address.
func startRun(t *testing.T, args []string, metrics string, env ...string) *devProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "SCHEMAFLOW_AS_MAIN=1", "SCHEMAFLOW_ARGS="+strings.Join(args, " "),
		// Under -race, a process sleeps 1s at exit for late race reports;
		// the second measured by termWithinASecond is schemaflow's.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return &devProcess{cmd: cmd, metrics: "http://" + metrics + "/metrics", out: out}
}

// termWithinASecond sends SIGTERM and checks exit 0 within a second.
func (p *devProcess) termWithinASecond(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("schemaflow run exited with %v after SIGTERM; output:\n%s", err, p.out)
		}
		if took := time.Since(signalled); took > time.Second {
			t.Fatalf("schemaflow run took %s to exit after SIGTERM, want under a second; output:\n%s", took, p.out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("schemaflow run did not exit within 10s of SIGTERM; output:\n%s", p.out)
	}
}

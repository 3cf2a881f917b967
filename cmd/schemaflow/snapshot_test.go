package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// schemaflow snapshot puts the request on the signal topic, keyed by the
// pipeline, with the collection and filter; bad requests exit 1 or 2
// naming the problem.
func TestSnapshotCommand(t *testing.T) {
	t.Parallel()
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "schemaflow-signals"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	specFile := filepath.Join(t.TempDir(), "spec.yaml")
	err = os.WriteFile(specFile, []byte(`version: 1
kafka: {brokers: ["`+kafka.ListenAddrs()[0]+`"]}
registry: {url: "http://127.0.0.1:1"}
mongodb: {uri: "lungo:memory", database: shop}
pipelines:
  - name: out
    mongodb: {collection: orders}
    source: {topic: orders}
  - name: in
    mongodb: {collection: copy}
    sink: {topics: [orders]}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"requested", []string{"--pipeline", "out", "--filter", `{"n": {"$gte": 10}}`}, 0, "snapshot requested: pipeline out on schemaflow-signals\n"},
		{"no pipeline flag", nil, 2, "snapshot needs --spec and --pipeline"},
		{"a sink", []string{"--pipeline", "in"}, 1, `pipeline "in" is a sink`},
		{"unknown", []string{"--pipeline", "nope"}, 1, `has no pipeline "nope"`},
		{"bad filter", []string{"--pipeline", "out", "--filter", "{"}, 1, "snapshot: filter: not an Extended JSON document"},
	} {
		r := runEnv(t, nil, append([]string{"snapshot", "--spec", specFile}, tt.args...)...)
		if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.output) {
			t.Errorf("%s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tt.name, r.code, tt.code, tt.output, r.stdout, r.stderr)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...), kgo.ConsumeTopics("schemaflow-signals"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fs := cl.PollFetches(context.Background())
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 || string(recs[0].Key) != "out" || string(recs[0].Value) != `{"collection":"orders","filter":{"n":{"$gte":10}}}` {
		for _, r := range recs {
			t.Logf("%s: %s", r.Key, r.Value)
		}
		t.Fatalf("%d records on the signal topic, want the one request", len(recs))
	}
}

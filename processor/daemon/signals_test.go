package daemon

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// schemaflow snapshot's request, through the signal topic: a running
// source publishes the documents the filter matches, which were there
// before it started, and the sink's copy gets exactly those and the
// streamed change.
func TestSnapshotRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client, err := e.conns.Client(context.Background(), "lungo:memory")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	orders, copied := client.Database("snap").Collection("orders"), client.Database("snap").Collection("copy")
	for i := range 20 {
		if _, err := orders.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "n", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	files := e.specs(t, strings.Replace(header, "database: shop", "database: snap", 1)+`
  - name: out
    mongodb: {collection: orders}
    source: {topic: snap-orders}
  - name: in
    mongodb: {collection: copy}
    sink: {topics: [snap-orders], id_strategy: key, max_wait: 5ms}
`)
	d, stop := e.start(t, files)
	testenv.WaitFor(t, "readiness", func() bool { code, _ := get(t, d, "/readyz"); return code == 200 })
	if _, err := orders.InsertOne(ctx, bson.D{{Key: "_id", Value: 100}, {Key: "n", Value: 100}}); err != nil {
		t.Fatal(err)
	}
	if err := RequestSnapshot(ctx, files[0], "out", "", `{"n": {"$gte": 10}}`); err != nil {
		t.Fatal(err)
	}
	count := func(filter bson.D) int64 {
		n, err := copied.CountDocuments(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	testenv.WaitFor(t, "the snapshot in the copy", func() bool { return count(bson.D{}) == 11 })
	if n := count(bson.D{{Key: "n", Value: bson.D{{Key: "$lt", Value: 10}}}}); n != 0 {
		t.Errorf("%d documents the filter does not match were snapshotted", n)
	}
	testenv.WaitFor(t, "the snapshot's metrics", func() bool {
		_, body := get(t, d, "/metrics")
		// The ten filtered documents and the one inserted after the start
		// (n 100): all match the filter.
		return strings.Contains(body, `schemaflow_snapshots_total{pipeline="out"} 1`+"\n") &&
			strings.Contains(body, `schemaflow_snapshot_documents_total{pipeline="out"} 11`+"\n")
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ pipeline, coll, filter, want string }{
		{"nope", "", "", `has no pipeline "nope"`},
		{"in", "", "", `pipeline "in" is a sink`},
		{"out", "", `{"n": `, "snapshot: filter: not an Extended JSON document"},
	} {
		if err := RequestSnapshot(ctx, files[0], tc.pipeline, tc.coll, tc.filter); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RequestSnapshot(%q, %q, %q): %v, want %q", tc.pipeline, tc.coll, tc.filter, err, tc.want)
		}
	}
}

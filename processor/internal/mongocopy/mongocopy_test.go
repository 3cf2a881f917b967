package mongocopy

import (
	"context"
	"testing"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// Split points cut a collection into ranges of about the same size, on
// lungo also when aggregation is asked for (lungo has none: the points
// come from skipping through _id).
func TestSplits(t *testing.T) {
	ctx := context.Background()
	coll := testenv.Lungo(t).Database("d").Collection("c")
	var docs []any
	for i := range 100 {
		docs = append(docs, bson.D{{Key: "_id", Value: i * 2}})
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n         int
		aggregate bool
		want      []int32
	}{
		{1, false, nil},
		{2, false, []int32{100}},
		{4, false, []int32{50, 100, 150}},
		{4, true, []int32{50, 100, 150}},
		{200, false, nil}, // more ranges than documents: one per document
	}
	for _, tt := range tests {
		got, err := Splits(ctx, coll, tt.n, tt.aggregate)
		if err != nil {
			t.Fatalf("n=%d: %v", tt.n, err)
		}
		if tt.n == 200 {
			if len(got) != 99 {
				t.Errorf("n=200: %d split points, want 99 (no repeats)", len(got))
			}
			continue
		}
		var ids []int32
		for _, v := range got {
			ids = append(ids, v.Int32())
		}
		if len(ids) != len(tt.want) {
			t.Fatalf("n=%d: splits %v, want %v", tt.n, ids, tt.want)
		}
		for i := range ids {
			if ids[i] != tt.want[i] {
				t.Fatalf("n=%d: splits %v, want %v", tt.n, ids, tt.want)
			}
		}
	}
}

// A watched lungo stream reports, before its first event, the position it
// starts at (after the oplog's last event), and resuming there sees every
// later change and none before.
func TestWatchPosition(t *testing.T) {
	ctx := context.Background()
	client := testenv.Lungo(t)
	coll := client.Database("d").Collection("c")
	open := func(ctx context.Context, opts *options.ChangeStreamOptions) (lungo.IChangeStream, error) {
		return coll.Watch(ctx, bson.A{}, opts)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	cs, err := Watch(ctx, client, open, options.ChangeStream())
	if err != nil {
		t.Fatal(err)
	}
	start := cs.ResumeToken()
	cs.Close(ctx)
	if start == nil {
		t.Fatal("no position before the first event")
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	resumed, err := Watch(ctx, client, open, options.ChangeStream().SetResumeAfter(start))
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close(ctx)
	if string(resumed.ResumeToken()) != string(start) {
		t.Fatalf("a resumed stream reports %v before its first event, want %v", resumed.ResumeToken(), start)
	}
	if !resumed.TryNext(ctx) {
		t.Fatal("the insert after the position is not streamed")
	}
	var ev bson.Raw
	if err := resumed.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	if id := ev.Lookup("documentKey", "_id").Int32(); id != 2 {
		t.Fatalf("first event after the position is _id %d, want 2", id)
	}
	if resumed.TryNext(ctx) {
		t.Fatal("an event after the last insert")
	}
}

// Collections leaves system collections out.
func TestCollections(t *testing.T) {
	ctx := context.Background()
	db := testenv.Lungo(t).Database("d")
	for _, n := range []string{"b", "a", "system.views"} {
		if err := db.CreateCollection(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Collections(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range got {
		seen[n] = true
	}
	if len(got) != 2 || !seen["a"] || !seen["b"] {
		t.Fatalf("collections %v, want a and b", got)
	}
}

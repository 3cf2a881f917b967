package relmap

import (
	"context"
	"errors"
	"sort"
	"testing"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

// lungoStore is a Store over a lungo database, writing each model at once.
type lungoStore struct {
	db lungo.IDatabase
	// fail, when set, is asked before each call; an error it returns is
	// the call's (a crash of the sink, in the property test).
	fail func() error
}

func openStore(t testing.TB) *lungoStore {
	t.Helper()
	client, engine, err := lungo.Open(context.Background(), lungo.Options{Store: lungo.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	return &lungoStore{db: client.Database("shop")}
}

var errCrash = errors.New("crash")

func (s *lungoStore) Write(ctx context.Context, coll string, m mongo.WriteModel) error {
	_, err := s.Exec(ctx, coll, m)
	return err
}

func (s *lungoStore) Exec(ctx context.Context, coll string, m mongo.WriteModel) (Result, error) {
	if s.fail != nil {
		if err := s.fail(); err != nil {
			return Result{}, err
		}
	}
	res, err := s.db.Collection(coll).BulkWrite(ctx, []mongo.WriteModel{m})
	if err != nil {
		return Result{}, err
	}
	return Result{Matched: res.MatchedCount, Upserted: res.UpsertedCount, Deleted: res.DeletedCount}, nil
}

func (s *lungoStore) Find(ctx context.Context, coll string, filter bson.D) ([]bson.D, error) {
	if s.fail != nil {
		if err := s.fail(); err != nil {
			return nil, err
		}
	}
	cur, err := s.db.Collection(coll).Find(ctx, filter)
	if err != nil {
		return nil, err
	}
	var docs []bson.D
	err = cur.All(ctx, &docs)
	return docs, err
}

// dump is a collection's documents as canonical Extended JSON, fields
// sorted at every level (field order is history's, not the mapping's),
// arrays as stored, documents by _id.
func (s *lungoStore) dump(t testing.TB, coll string) []string {
	t.Helper()
	docs, err := s.Find(context.Background(), coll, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return canonical(t, docs)
}

func canonical(t testing.TB, docs []bson.D) []string {
	t.Helper()
	out := make([]string, 0, len(docs))
	for _, d := range docs {
		b, err := bson.MarshalExtJSON(sortFields(d), false, false)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

func sortFields(v any) any {
	switch x := v.(type) {
	case bson.D:
		d := make(bson.D, len(x))
		for i, e := range x {
			d[i] = bson.E{Key: e.Key, Value: sortFields(e.Value)}
		}
		sort.SliceStable(d, func(i, j int) bool { return d[i].Key < d[j].Key })
		return d
	case bson.A:
		a := make(bson.A, len(x))
		for i, e := range x {
			a[i] = sortFields(e)
		}
		return a
	}
	return v
}

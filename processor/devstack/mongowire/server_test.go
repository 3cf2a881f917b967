package mongowire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type fixture struct {
	srv    *Server
	addr   string
	client *mongo.Client
	engine *lungo.Engine
	logs   *syncBuf
}

// serve starts a server of an in-memory engine on a free loopback port
// and connects the Go driver to it.
func serve(t *testing.T, opts Options) *fixture {
	t.Helper()
	_, engine, err := lungo.Open(context.Background(), lungo.Options{Store: lungo.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := New(engine, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	client, err := mongo.Connect(context.Background(), options.Client().ApplyURI(URI(addr, DefaultReplicaSet)).SetServerSelectionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.Disconnect(context.Background())
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		engine.Close()
	})
	return &fixture{srv: srv, addr: addr, client: client, engine: engine, logs: logs}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestURI(t *testing.T) {
	got := URI("127.0.0.1:27017", "schemaflow")
	want := "mongodb://127.0.0.1:27017/?directConnection=true&replicaSet=schemaflow"
	if got != want {
		t.Fatalf("URI = %q, want %q", got, want)
	}
	if _, err := options.Client().ApplyURI(got).Validate(), error(nil); err != nil {
		t.Fatal(err)
	}
}

func TestHandshake(t *testing.T) {
	f := serve(t, Options{})
	c := ctx(t)
	var hello bson.M
	if err := f.client.Database("admin").RunCommand(c, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"isWritablePrimary": true, "setName": DefaultReplicaSet, "me": f.addr, "primary": f.addr, "maxWireVersion": int32(maxWireVersion)} {
		if hello[k] != want {
			t.Errorf("hello.%s = %v, want %v", k, hello[k], want)
		}
	}
	var info bson.M
	if err := f.client.Database("admin").RunCommand(c, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil || info["version"] != Version {
		t.Errorf("buildInfo = %v, %v", info, err)
	}
	var param bson.M
	if err := f.client.Database("admin").RunCommand(c, bson.D{{Key: "getParameter", Value: 1}, {Key: "featureCompatibilityVersion", Value: 1}}).Decode(&param); err != nil {
		t.Fatal(err)
	}
	if fcv, _ := param["featureCompatibilityVersion"].(bson.M); fcv["version"] != "6.0" {
		t.Errorf("getParameter = %v", param)
	}
	if err := f.client.Ping(c, nil); err != nil {
		t.Fatal(err)
	}
	// endSessions: an explicit session, ended, and the driver's pool
	// ended at Disconnect.
	sess, err := f.client.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := mongo.WithSession(c, sess, func(sc mongo.SessionContext) error {
		_, err := f.client.Database("d").Collection("c").InsertOne(sc, bson.D{{Key: "x", Value: 1}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sess.EndSession(c)
	if err := f.client.Database("admin").RunCommand(c, bson.D{{Key: "endSessions", Value: bson.A{bson.D{{Key: "id", Value: "x"}}}}}).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestCRUD(t *testing.T) {
	f := serve(t, Options{})
	c := ctx(t)
	coll := f.client.Database("shop").Collection("orders")
	res, err := coll.InsertMany(c, []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "status", Value: "new"}, {Key: "total", Value: 10.5}},
		bson.D{{Key: "_id", Value: 2}, {Key: "status", Value: "new"}, {Key: "total", Value: 20.0}},
		bson.D{{Key: "_id", Value: 3}, {Key: "status", Value: "paid"}, {Key: "total", Value: 30.0}, {Key: "tags", Value: bson.A{"a", "b"}}},
	})
	if err != nil || len(res.InsertedIDs) != 3 {
		t.Fatalf("InsertMany: %v %v", res, err)
	}
	_, err = coll.InsertOne(c, bson.D{{Key: "_id", Value: 1}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate _id: %v, want a duplicate key error", err)
	}
	// Unordered: the good documents around a duplicate are inserted.
	_, err = coll.InsertMany(c, []any{bson.D{{Key: "_id", Value: 4}}, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "_id", Value: 5}}}, options.InsertMany().SetOrdered(false))
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || bwe.WriteErrors[0].Index != 1 || bwe.WriteErrors[0].Code != 11000 {
		t.Fatalf("unordered insert: %v", err)
	}
	if n, err := coll.CountDocuments(c, bson.D{}); err != nil || n != 5 {
		t.Fatalf("CountDocuments = %d, %v; want 5", n, err)
	}
	if n, err := coll.EstimatedDocumentCount(c); err != nil || n != 5 {
		t.Fatalf("EstimatedDocumentCount = %d, %v; want 5", n, err)
	}
	if n, err := coll.CountDocuments(c, bson.D{{Key: "status", Value: "new"}}, options.Count().SetSkip(1)); err != nil || n != 1 {
		t.Fatalf("CountDocuments(new, skip 1) = %d, %v; want 1", n, err)
	}
	if _, err := coll.DeleteMany(c, bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: 4}}}}); err != nil {
		t.Fatal(err)
	}

	up, err := coll.UpdateOne(c, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "paid"}}}, {Key: "$inc", Value: bson.D{{Key: "total", Value: 1.5}}}})
	if err != nil || up.MatchedCount != 1 || up.ModifiedCount != 1 {
		t.Fatalf("UpdateOne: %+v %v", up, err)
	}
	up, err = coll.UpdateMany(c, bson.D{{Key: "status", Value: "paid"}}, bson.D{{Key: "$push", Value: bson.D{{Key: "tags", Value: "x"}}}})
	if err != nil || up.MatchedCount != 2 || up.ModifiedCount != 2 {
		t.Fatalf("UpdateMany: %+v %v", up, err)
	}
	up, err = coll.UpdateOne(c, bson.D{{Key: "_id", Value: 9}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "upserted"}}}}, options.Update().SetUpsert(true))
	if err != nil || up.UpsertedCount != 1 || up.UpsertedID != int32(9) {
		t.Fatalf("upsert: %+v %v", up, err)
	}
	up, err = coll.ReplaceOne(c, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "status", Value: "replaced"}})
	if err != nil || up.ModifiedCount != 1 {
		t.Fatalf("ReplaceOne: %+v %v", up, err)
	}
	up, err = coll.UpdateOne(c, bson.D{{Key: "_id", Value: 3}}, bson.D{{Key: "$set", Value: bson.D{{Key: "tags.$[t]", Value: "B"}}}},
		options.Update().SetArrayFilters(options.ArrayFilters{Filters: []any{bson.D{{Key: "t", Value: "b"}}}}))
	if err != nil || up.ModifiedCount != 1 {
		t.Fatalf("arrayFilters: %+v %v", up, err)
	}

	var got []bson.D
	cur, err := coll.Find(c, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(c, &got); err != nil {
		t.Fatal(err)
	}
	want := []bson.D{
		{{Key: "_id", Value: int32(1)}, {Key: "status", Value: "paid"}, {Key: "total", Value: 12.0}, {Key: "tags", Value: bson.A{"x"}}},
		{{Key: "_id", Value: int32(2)}, {Key: "status", Value: "replaced"}},
		{{Key: "_id", Value: int32(3)}, {Key: "status", Value: "paid"}, {Key: "total", Value: 30.0}, {Key: "tags", Value: bson.A{"a", "B", "x"}}},
		{{Key: "_id", Value: int32(9)}, {Key: "status", Value: "upserted"}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("documents:\n got %v\nwant %v", got, want)
	}

	// find: filter, projection, skip, limit, sort descending.
	cur, err = coll.Find(c, bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{"paid", "upserted"}}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetProjection(bson.D{{Key: "status", Value: 1}}).SetSkip(1).SetLimit(1))
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := cur.All(c, &got); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint([]bson.D{{{Key: "_id", Value: int32(3)}, {Key: "status", Value: "paid"}}}) {
		t.Fatalf("find with options: %v", got)
	}

	var doc bson.D
	err = coll.FindOneAndUpdate(c, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 1}}}}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if err != nil || fmt.Sprint(doc) != fmt.Sprint(bson.D{{Key: "_id", Value: int32(2)}, {Key: "status", Value: "replaced"}, {Key: "n", Value: int32(1)}}) {
		t.Fatalf("FindOneAndUpdate after: %v %v", doc, err)
	}
	err = coll.FindOneAndReplace(c, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "r", Value: true}}).Decode(&doc)
	if err != nil || fmt.Sprint(doc) != fmt.Sprint(bson.D{{Key: "_id", Value: int32(2)}, {Key: "status", Value: "replaced"}, {Key: "n", Value: int32(1)}}) {
		t.Fatalf("FindOneAndReplace before: %v %v", doc, err)
	}
	err = coll.FindOneAndDelete(c, bson.D{{Key: "_id", Value: 2}}).Decode(&doc)
	if err != nil || fmt.Sprint(doc) != fmt.Sprint(bson.D{{Key: "_id", Value: int32(2)}, {Key: "r", Value: true}}) {
		t.Fatalf("FindOneAndDelete: %v %v", doc, err)
	}
	if err := coll.FindOneAndDelete(c, bson.D{{Key: "_id", Value: 2}}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatalf("FindOneAndDelete of nothing: %v", err)
	}
	vals, err := coll.Distinct(c, "status", bson.D{})
	if err != nil || fmt.Sprint(vals) != "[paid upserted]" {
		t.Fatalf("Distinct: %v %v", vals, err)
	}
	del, err := coll.DeleteOne(c, bson.D{{Key: "status", Value: "paid"}})
	if err != nil || del.DeletedCount != 1 {
		t.Fatalf("DeleteOne: %+v %v", del, err)
	}

	// Collections and indexes.
	if err := f.client.Database("shop").CreateCollection(c, "customers"); err != nil {
		t.Fatal(err)
	}
	var ce mongo.CommandError
	if err := f.client.Database("shop").CreateCollection(c, "customers"); !errors.As(err, &ce) || ce.Code != codeNamespaceExists {
		t.Fatalf("create twice: %v", err)
	}
	name, err := coll.Indexes().CreateOne(c, mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}}, Options: options.Index().SetUnique(true).SetName("status_u")})
	if err != nil || name != "status_u" {
		t.Fatalf("CreateOne: %q %v", name, err)
	}
	specs, err := coll.Indexes().ListSpecifications(c)
	if err != nil || len(specs) != 2 || specs[1].Name != "status_u" || specs[1].Unique == nil || !*specs[1].Unique {
		t.Fatalf("indexes: %+v %v", specs, err)
	}
	if _, err := coll.InsertOne(c, bson.D{{Key: "status", Value: "upserted"}}); !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("unique index: %v", err)
	}
	if _, err := coll.Indexes().DropOne(c, "status_u"); err != nil {
		t.Fatal(err)
	}
	names, err := f.client.Database("shop").ListCollectionNames(c, bson.D{})
	if err != nil || fmt.Sprint(names) != "[customers orders]" {
		t.Fatalf("ListCollectionNames: %v %v", names, err)
	}
	if err := f.client.Database("shop").Collection("customers").Drop(c); err != nil {
		t.Fatal(err)
	}
	dbs, err := f.client.ListDatabaseNames(c, bson.D{{Key: "name", Value: "shop"}})
	if err != nil || fmt.Sprint(dbs) != "[shop]" {
		t.Fatalf("ListDatabaseNames: %v %v", dbs, err)
	}
	if err := f.client.Database("shop").Drop(c); err != nil {
		t.Fatal(err)
	}
	if n, err := coll.CountDocuments(c, bson.D{}); err != nil || n != 0 {
		t.Fatalf("after dropDatabase: %d %v", n, err)
	}
	if _, err := coll.Indexes().ListSpecifications(c); err == nil {
		// listIndexes of a missing namespace fails, as in MongoDB; the
		// driver turns NamespaceNotFound into an empty list.
		t.Log("listIndexes of a dropped collection answered an empty list")
	}
}

func TestCursorManyBatches(t *testing.T) {
	f := serve(t, Options{})
	c := ctx(t)
	coll := f.client.Database("d").Collection("many")
	const n = 300
	docs := make([]any, n)
	pad := strings.Repeat("x", 512)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: pad}}
	}
	if _, err := coll.InsertMany(c, docs); err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int32{0, 1, 7, 101, 5000} {
		opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
		if batch > 0 {
			opts.SetBatchSize(batch)
		}
		cur, err := coll.Find(c, bson.D{}, opts)
		if err != nil {
			t.Fatal(err)
		}
		i := int32(0)
		batches := 1
		for {
			if cur.RemainingBatchLength() == 0 && cur.ID() != 0 {
				batches++ // Next sends a getMore
			}
			if !cur.Next(c) {
				break
			}
			if got := cur.Current.Lookup("_id").Int32(); got != i {
				t.Fatalf("batch size %d: document %d has _id %d", batch, i, got)
			}
			i++
		}
		if err := cur.Err(); err != nil || i != n {
			t.Fatalf("batch size %d: %d documents, %v", batch, i, err)
		}
		size := int(batch)
		if size == 0 {
			size = 101 // find's default first batch; later ones are unbounded but for 16 MiB
		}
		if want := (n + size - 1) / size; batch != 0 && batches != want {
			t.Errorf("batch size %d: %d batches, want %d", batch, batches, want)
		}
		cur.Close(c)
		t.Logf("batch size %d: %d documents in %d batches", batch, i, batches)
	}
	// Batches stop at a size (16 MiB; 64 KiB here): 20 documents of 10 KiB
	// come in batches of 6.
	f.srv.batchBytes = 64 << 10
	big := f.client.Database("d").Collection("big")
	bigDocs := make([]any, 20)
	for i := range bigDocs {
		bigDocs[i] = bson.D{{Key: "_id", Value: i}, {Key: "kb", Value: strings.Repeat("y", 10<<10)}}
	}
	if _, err := big.InsertMany(c, bigDocs); err != nil {
		t.Fatal(err)
	}
	cur, err := big.Find(c, bson.D{}, options.Find().SetBatchSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{cur.RemainingBatchLength()}
	for {
		fresh := cur.RemainingBatchLength() == 0 // Next fetches a batch
		if !cur.Next(c) {
			break
		}
		if fresh {
			sizes = append(sizes, cur.RemainingBatchLength()+1)
		}
	}
	if cur.Err() != nil || fmt.Sprint(sizes) != "[6 6 6 2]" {
		t.Fatalf("batches of 10 KiB documents: %v, %v; want [6 6 6 2]", sizes, cur.Err())
	}
	f.srv.batchBytes = maxBatchBytes
	// A cursor closed early is killed on the server.
	cur, err = coll.Find(c, bson.D{}, options.Find().SetBatchSize(10))
	if err != nil {
		t.Fatal(err)
	}
	if !cur.Next(c) {
		t.Fatal(cur.Err())
	}
	if open := f.srv.openCursors(); open != 1 {
		t.Fatalf("%d open cursors, want 1", open)
	}
	if err := cur.Close(c); err != nil {
		t.Fatal(err)
	}
	if open := f.srv.openCursors(); open != 0 {
		t.Fatalf("%d open cursors after Close, want 0", open)
	}
	// getMore of an unknown cursor.
	err = f.client.Database("d").RunCommand(c, bson.D{{Key: "getMore", Value: int64(42)}, {Key: "collection", Value: "many"}}).Err()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != codeCursorNotFound {
		t.Fatalf("getMore 42: %v", err)
	}
}

func (s *Server) openCursors() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cursors)
}

func nextEvent(t *testing.T, c context.Context, cs *mongo.ChangeStream) bson.M {
	t.Helper()
	if !cs.Next(c) {
		t.Fatalf("no change event: %v", cs.Err())
	}
	var ev bson.M
	if err := cs.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestChangeStream(t *testing.T) {
	f := serve(t, Options{AwaitTime: 50 * time.Millisecond})
	c := ctx(t)
	coll := f.client.Database("shop").Collection("orders")
	cs, err := coll.Watch(c, mongo.Pipeline{}, options.ChangeStream().SetFullDocument(options.UpdateLookup))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(c)
	// No event yet: TryNext returns after the await time.
	if cs.TryNext(c) {
		t.Fatalf("event before any write: %v", cs.Current)
	}
	if _, err := coll.InsertOne(c, bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(c, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 2}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.ReplaceOne(c, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "n", Value: 3}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Database("shop").Collection("other").InsertOne(c, bson.D{{Key: "_id", Value: "elsewhere"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(c, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	type want struct {
		op   string
		full string
	}
	var resumeAfterUpdate bson.Raw
	for i, w := range []want{{"insert", "map[_id:1 n:1]"}, {"update", "<nil>"}, {"replace", "map[_id:1 n:3]"}, {"delete", "<nil>"}} {
		ev := nextEvent(t, c, cs)
		full := fmt.Sprint(ev["fullDocument"])
		if ev["operationType"] != w.op || full != w.full {
			t.Errorf("event %d: %v %v, want %s %s", i, ev["operationType"], full, w.op, w.full)
		}
		if key, _ := ev["documentKey"].(bson.M); key["_id"] != int32(1) {
			t.Errorf("event %d: documentKey %v", i, ev["documentKey"])
		}
		if w.op == "update" {
			// updateLookup reads the document as it is now: replaced, then
			// deleted, so by the time of the lookup ... it was already
			// replaced or deleted; either way no stale image of n: 2.
			desc, _ := ev["updateDescription"].(bson.M)
			if fields, _ := desc["updatedFields"].(bson.M); fields["n"] != int32(2) {
				t.Errorf("update event: updateDescription %v", desc)
			}
			resumeAfterUpdate = cs.ResumeToken()
		}
	}
	cs.Close(c)

	// Resume after the update: the replace and the delete again, then
	// what was written since.
	if _, err := coll.InsertOne(c, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	cs2, err := coll.Watch(c, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(resumeAfterUpdate))
	if err != nil {
		t.Fatal(err)
	}
	defer cs2.Close(c)
	var ops []string
	for range 3 {
		ev := nextEvent(t, c, cs2)
		ops = append(ops, fmt.Sprint(ev["operationType"], " ", ev["documentKey"].(bson.M)["_id"]))
	}
	if fmt.Sprint(ops) != "[replace 1 delete 1 insert 2]" {
		t.Fatalf("resumed events: %v", ops)
	}
	insert2 := cs2.ResumeToken()
	// Without updateLookup an update event has no fullDocument; with it,
	// the document as it is when the event is read.
	lookup, err := coll.Watch(c, mongo.Pipeline{}, options.ChangeStream().SetFullDocument(options.UpdateLookup))
	if err != nil {
		t.Fatal(err)
	}
	defer lookup.Close(c)
	if _, err := coll.UpdateOne(c, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, c, cs2); ev["operationType"] != "update" || ev["fullDocument"] != nil {
		t.Errorf("update event without updateLookup: %v", ev)
	}
	if ev := nextEvent(t, c, lookup); ev["operationType"] != "update" || fmt.Sprint(ev["fullDocument"]) != "map[_id:2 a:1]" {
		t.Errorf("update event with updateLookup: %v", ev)
	}
	// startAfter the insert of 2: the update next.
	after, err := coll.Watch(c, mongo.Pipeline{}, options.ChangeStream().SetStartAfter(insert2))
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close(c)
	if ev := nextEvent(t, c, after); ev["operationType"] != "update" || ev["documentKey"].(bson.M)["_id"] != int32(2) {
		t.Errorf("startAfter: %v", ev)
	}

	// $match filters events; a database-level stream sees every collection.
	dbs, err := f.client.Database("shop").Watch(c, mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer dbs.Close(c)
	if _, err := coll.DeleteOne(c, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Database("shop").Collection("other").InsertOne(c, bson.D{{Key: "_id", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, c, dbs)
	if ev["operationType"] != "insert" || ev["ns"].(bson.M)["coll"] != "other" {
		t.Fatalf("database stream with $match: %v", ev)
	}
	// A resume token that left the oplog is an error, not an empty stream.
	_, err = coll.Watch(c, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(bson.D{{Key: "ts", Value: "nowhere"}}))
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != codeChangeStreamHistoryLost {
		t.Fatalf("unknown resume token: %v", err)
	}
}

func TestChangeStreamManyEvents(t *testing.T) {
	f := serve(t, Options{AwaitTime: 20 * time.Millisecond})
	c := ctx(t)
	coll := f.client.Database("d").Collection("c")
	cs, err := coll.Watch(c, mongo.Pipeline{}, options.ChangeStream().SetBatchSize(7))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(c)
	const n = 300
	wrote := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := coll.InsertOne(c, bson.D{{Key: "_id", Value: i}}); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	defer func() {
		if err := <-wrote; err != nil {
			t.Error(err)
		}
	}()
	for i := range n {
		ev := nextEvent(t, c, cs)
		if id := ev["documentKey"].(bson.M)["_id"]; id != int32(i) {
			t.Fatalf("event %d is of _id %v", i, id)
		}
	}
}

func TestUnsupported(t *testing.T) {
	f := serve(t, Options{})
	c := ctx(t)
	db := f.client.Database("d")
	if _, err := db.Collection("c").InsertOne(c, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cmd  bson.D
		code int32
		msg  string
	}{
		{"unknown command", bson.D{{Key: "mapReduce", Value: "c"}}, codeCommandNotFound, "no such command: 'mapReduce'"},
		{"find collation", bson.D{{Key: "find", Value: "c"}, {Key: "collation", Value: bson.D{{Key: "locale", Value: "fr"}}}}, codeNotImplemented, "option collation of find"},
		{"find unknown field", bson.D{{Key: "find", Value: "c"}, {Key: "bogus", Value: 1}}, codeUnknownField, "'find.bogus'"},
		{"aggregate $lookup", bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$lookup", Value: bson.D{}}}}}, {Key: "cursor", Value: bson.D{}}}, codeNotImplemented, "aggregation stage $lookup"},
		{"$group by field", bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$x"}}}}}}, {Key: "cursor", Value: bson.D{}}}, codeNotImplemented, "$group by a field path"},
		{"update pipeline", bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "u", Value: bson.A{bson.D{{Key: "$set", Value: bson.D{}}}}}}}}}, codeNotImplemented, "aggregation pipeline as update"},
		{"update hint", bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "u", Value: bson.D{}}, {Key: "hint", Value: "x"}}}}}, codeNotImplemented, "option hint of update.updates.0"},
		{"capped collection", bson.D{{Key: "create", Value: "capped"}, {Key: "capped", Value: true}}, codeNotImplemented, "option capped of create"},
		{"text index", bson.D{{Key: "createIndexes", Value: "c"}, {Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "x", Value: "text"}}}, {Key: "name", Value: "t"}}}}}, codeNotImplemented, "index type x: \"text\""},
		{"pre-images", bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{{Key: "fullDocument", Value: "required"}}}}}}, {Key: "cursor", Value: bson.D{}}}, codeNotImplemented, "fullDocument: \"required\""},
		{"change stream $project", bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{}}}, bson.D{{Key: "$project", Value: bson.D{}}}}}, {Key: "cursor", Value: bson.D{}}}, codeNotImplemented, "stage $project in a change stream"},
		{"startAtOperationTime", bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{{Key: "startAtOperationTime", Value: bson.D{}}}}}}}, {Key: "cursor", Value: bson.D{}}}, codeNotImplemented, "option startAtOperationTime of $changeStream"},
		{"unknown parameter", bson.D{{Key: "getParameter", Value: 1}, {Key: "logLevel", Value: 1}}, codeInvalidOptions, "\"logLevel\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := db.RunCommand(c, tc.cmd).Err()
			var ce mongo.CommandError
			if !errors.As(err, &ce) {
				t.Fatalf("%v: want a command error, got %v", tc.cmd, err)
			}
			if ce.Code != tc.code || !strings.Contains(ce.Message, tc.msg) {
				t.Fatalf("got code %d %q, want code %d naming %q", ce.Code, ce.Message, tc.code, tc.msg)
			}
		})
	}
	// Transactions are refused by name, through the driver.
	sess, err := f.client.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(c)
	_, err = sess.WithTransaction(c, func(sc mongo.SessionContext) (any, error) {
		return db.Collection("c").InsertOne(sc, bson.D{{Key: "y", Value: 1}})
	})
	if err == nil || !strings.Contains(err.Error(), "transactions") {
		t.Fatalf("transaction: %v", err)
	}
}

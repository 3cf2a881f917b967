package mongosource

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/internal/mongocopy"
	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// snapshotsOf snapshots collections of shop on the env's engine.
func (e *env) snapshotsOf(chunk int) *Snapshots {
	db := e.srcDB.Database("shop")
	return &Snapshots{Database: "shop", ChunkSize: chunk,
		Find: func(ctx context.Context, c string, filter bson.D) (Cursor, error) {
			return mongocopy.Find(ctx, db.Collection(c), filter)
		}}
}

// keyedRecord is a record of the orders topic: its _id and its v field,
// or a tombstone.
type keyedRecord struct {
	v         int64
	tombstone bool
}

// field is d's value for key, nil if none.
func field(d bson.D, key string) any {
	for _, e := range d {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}

// number reads an integer of any BSON number type.
func number(t *testing.T, v any) int64 {
	t.Helper()
	raw, err := bson.Marshal(bson.D{{Key: "x", Value: v}})
	if err != nil {
		t.Fatal(err)
	}
	n, ok := bson.Raw(raw).Lookup("x").AsInt64OK()
	if !ok {
		t.Fatalf("%v: not an integer", v)
	}
	return n
}

// topicByKey reads every record of topic up to its end, decoded, as each
// _id's records in topic order.
func topicByKey(t *testing.T, e *env, topic string) map[int64][]keyedRecord {
	t.Helper()
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := endOffsets(ctx, cl, topic)
	if err != nil {
		t.Fatal(err)
	}
	dec := decode.New(decode.Options{Registry: e.reg, Logger: e.quiet})
	out := map[int64][]keyedRecord{}
	for !reached(ends) {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= ends[r.Partition] {
				ends[r.Partition] = -1
			}
			key, err := dec.Decode(ctx, r.Key)
			if err != nil {
				t.Fatalf("offset %d/%d key: %v", r.Partition, r.Offset, err)
			}
			id := number(t, field(key, "_id"))
			if len(r.Value) == 0 {
				out[id] = append(out[id], keyedRecord{tombstone: true})
				return
			}
			val, err := dec.Decode(ctx, r.Value)
			if err != nil {
				t.Fatalf("offset %d/%d value: %v", r.Partition, r.Offset, err)
			}
			out[id] = append(out[id], keyedRecord{v: number(t, field(val, "v"))})
		})
	}
	return out
}

// A snapshot asked for while updates, inserts and deletes go on: the
// documents that were there before the source started reach the topic
// through it; each key's records never go back to an older state (v only
// grows, nothing follows a tombstone); and each key's last record is the
// collection's final state (a tombstone for a deleted document).
func TestSnapshotWhileWriting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const docs = 400
	var batch []any
	for i := range docs {
		batch = append(batch, bson.D{{Key: "_id", Value: int64(i)}, {Key: "v", Value: int64(0)}})
	}
	if _, err := e.src.InsertMany(ctx, batch); err != nil {
		t.Fatal(err)
	}
	src, stop := e.source(t, func(c *Config) {
		c.Envelope = false // the topic holds documents, keyed by _id
		c.Snapshots = e.snapshotsOf(16)
	})
	testenv.WaitFor(t, "the stream", src.Watching)

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 15))
	var (
		wg       sync.WaitGroup
		quit     = make(chan struct{})
		writeErr error
		writes   int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		next := int64(docs)
		for after := -1; after != 0; {
			select {
			case <-quit:
				if after < 0 {
					after = 50 // fifty writes more once the snapshot is done
				}
			default:
			}
			if after > 0 {
				after--
			}
			var err error
			switch n := rng.IntN(20); {
			case n < 13:
				_, err = e.src.UpdateOne(ctx, bson.D{{Key: "_id", Value: rng.Int64N(next)}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: 1}}}})
			case n < 17:
				_, err = e.src.InsertOne(ctx, bson.D{{Key: "_id", Value: next}, {Key: "v", Value: int64(0)}})
				next++
			default:
				_, err = e.src.DeleteOne(ctx, bson.D{{Key: "_id", Value: rng.Int64N(next)}})
			}
			if err != nil {
				writeErr = err
				return
			}
			writes++
		}
	}()
	if err := src.Snapshot(ctx, SnapshotRequest{Collection: "orders"}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the snapshot", func() bool { return src.Stats().Snapshots == 1 })
	close(quit)
	wg.Wait()
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	e.insert(t, bson.D{{Key: "_id", Value: int64(-1)}, {Key: "v", Value: int64(0)}})
	var byKey map[int64][]keyedRecord
	testenv.WaitFor(t, "the last write on the topic", func() bool {
		byKey = topicByKey(t, e, "orders")
		return len(byKey[-1]) > 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := src.Stats()
	t.Logf("%d writes during the snapshot; %d documents snapshotted; %d records (events and snapshotted) on the topic", writes, st.Snapshotted, st.Events)
	if st.Snapshotted == 0 || st.Snapshotted > docs+int64(writes) {
		t.Fatalf("%d documents snapshotted: want some, at most the %d documents ever there", st.Snapshotted, docs+writes)
	}

	final := map[int64]int64{}
	cur, err := e.src.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for cur.Next(ctx) {
		var d struct {
			ID int64 `bson:"_id"`
			V  int64 `bson:"v"`
		}
		if err := cur.Decode(&d); err != nil {
			t.Fatal(err)
		}
		final[d.ID] = d.V
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	for id, v := range final {
		recs := byKey[id]
		if len(recs) == 0 {
			t.Errorf("_id %d (v %d) is not on the topic", id, v)
			continue
		}
		if last := recs[len(recs)-1]; last.tombstone || last.v != v {
			t.Errorf("_id %d: last record %+v, want v %d", id, last, v)
		}
	}
	for id, recs := range byKey {
		if _, ok := final[id]; !ok && !recs[len(recs)-1].tombstone {
			t.Errorf("_id %d was deleted, but its last record is %+v", id, recs[len(recs)-1])
		}
		for i := 1; i < len(recs); i++ {
			if recs[i-1].tombstone || !recs[i].tombstone && recs[i].v < recs[i-1].v {
				t.Errorf("_id %d went back to an older state: %+v", id, recs)
				break
			}
		}
	}
}

// Snapshot refuses a source without snapshots, and a request without a
// collection; Validate names a snapshots config missing its parts.
func TestSnapshotRefused(t *testing.T) {
	t.Parallel()
	e := newKafkaRegistry(t)
	for _, tc := range []struct {
		name string
		sn   *Snapshots
		req  SnapshotRequest
		want string
	}{
		{"off", nil, SnapshotRequest{Collection: "orders"}, ErrSnapshotsOff.Error()},
		{"no collection", &Snapshots{Database: "shop", Find: func(context.Context, string, bson.D) (Cursor, error) { return nil, errors.New("unused") }},
			SnapshotRequest{}, "mongosource: snapshot: a collection is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := New(e.sourceConfig(func(c *Config) {
				c.Watch = func(context.Context, any, *options.ChangeStreamOptions) (ChangeStream, error) {
					return nil, errors.New("unused")
				}
				c.Snapshots = tc.sn
			}))
			if err != nil {
				t.Fatal(err)
			}
			if err := src.Snapshot(context.Background(), tc.req); err == nil || err.Error() != tc.want {
				t.Fatalf("Snapshot: %v, want %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		sn   Snapshots
		want string
	}{
		{Snapshots{}, "Snapshots.Database: required\nSnapshots.Find: required"},
		{Snapshots{Database: "shop", ChunkSize: -1, Find: func(context.Context, string, bson.D) (Cursor, error) { return nil, nil }}, "Snapshots.ChunkSize: must not be negative"},
	} {
		cfg := e.sourceConfig(func(c *Config) { c.Snapshots = &tc.sn })
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate %+v: %v, want %q", tc.sn, err, tc.want)
		}
	}
}

package mongosource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
)

// Snapshots lets a running source publish the documents of a collection
// (all of them, or those a filter matches) without stopping its stream:
// an incremental snapshot in the manner of DBLog and Debezium. The
// collection is read in chunks of ChunkSize documents in _id order, each
// between two positions of the change stream: the low watermark (every
// event read so far is handed over) and the high watermark (the events
// the stream holds after the chunk was read are handed over too). A
// document whose key an event between the two touched is left out of the
// chunk, since that event, or a later one, carries a state at least as
// new; the rest are produced at the high watermark, after every event
// before it and before every event after it. So no key goes back to an
// older state on the topic, and after a snapshot each key's last record
// is its document's state.
//
// The high watermark is right when the stream, asked right after a read,
// returns every change committed before the read: so on the embedded
// engine (its change log is written with the data); on a replica set read
// the chunks with read concern majority, which the stream's events are.
type Snapshots struct {
	// Database holds the snapshotted collections. Required.
	Database string
	// Find opens a cursor over the documents of coll that filter matches,
	// in ascending _id order. Required.
	Find func(ctx context.Context, coll string, filter bson.D) (Cursor, error)
	// ChunkSize is how many documents a chunk reads. Default 1024.
	ChunkSize int
}

func (s *Snapshots) validate() error {
	var ps config.Problems
	if s.Database == "" {
		ps.Add("Database", "required")
	}
	if s.Find == nil {
		ps.Add("Find", "required")
	}
	if s.ChunkSize < 0 {
		ps.Add("ChunkSize", "must not be negative")
	}
	return ps.Err()
}

func (s *Snapshots) chunkSize() int {
	if s.ChunkSize <= 0 {
		return 1024
	}
	return s.ChunkSize
}

// SnapshotRequest asks a running source for a snapshot.
type SnapshotRequest struct {
	// Collection is the collection of Snapshots.Database to snapshot.
	// Required.
	Collection string
	// Filter, when set, limits the snapshot to the documents it matches.
	Filter bson.D
}

// ErrSnapshotsOff is the error of Snapshot on a source configured
// without Snapshots.
var ErrSnapshotsOff = errors.New("mongosource: snapshots are not configured for this source")

// snapshotQueue is how many snapshots may wait for their turn.
const snapshotQueue = 16

// snapshotPoll is how often a source with snapshots, idle, checks for a
// snapshot asked for.
const snapshotPoll = 100 * time.Millisecond

// Snapshot queues a snapshot; the running source (or the next run) takes
// it between two batches of change events. It waits while the queue is
// full, until ctx is done. A snapshot in progress when the source stops is
// not resumed: ask again. Stats counts snapshots done.
func (s *Source) Snapshot(ctx context.Context, req SnapshotRequest) error {
	if s.cfg.Snapshots == nil {
		return ErrSnapshotsOff
	}
	if req.Collection == "" {
		return errors.New("mongosource: snapshot: a collection is required")
	}
	select {
	case s.snapReqs <- req:
		s.log.Info("mongosource: snapshot asked for", "source", s.cfg.Name, "namespace", s.cfg.Snapshots.Database+"."+req.Collection,
			"filter", fmt.Sprint(req.Filter))
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mongosource: snapshot of %s: %w", req.Collection, ctx.Err())
	}
}

// eventKey is the identity of a change event's document, or of a
// snapshot's: namespace and _id.
func eventKey(event bson.Raw) string {
	db, _ := event.Lookup("ns", "db").StringValueOK()
	coll, _ := event.Lookup("ns", "coll").StringValueOK()
	return docKey(db, coll, event.Lookup("documentKey", "_id"))
}

func docKey(db, coll string, id bson.RawValue) string {
	return db + "\x00" + coll + "\x00" + string(rune(id.Type)) + string(id.Value)
}

// snapshot runs one snapshot on the reader's side of a run, chunk by
// chunk between the change events: handle hands over the stream's events
// from the current one on, noting their keys in *touched while it is set.
// end says the run ends with err.
func (s *Source) snapshot(ctx, work context.Context, cl *kgo.Client, stream ChangeStream, inflight chan<- *inflightBatch, failed <-chan error,
	req SnapshotRequest, touched *map[string]struct{}, handle func() (bool, error)) (end bool, err error) {
	defer func() { *touched = nil }()
	sn := s.cfg.Snapshots
	ns := sn.Database + "." + req.Collection
	nsDoc := bson.D{{Key: "db", Value: sn.Database}, {Key: "coll", Value: req.Collection}}
	wrap := func(err error) error { return fmt.Errorf("mongosource: %s: snapshot %s: %w", s.cfg.Name, ns, err) }
	started := time.Now()
	rng := &copyRange{}
	var published, dropped int64
	for chunks := 1; ; chunks++ {
		// The low watermark: every event read so far is handed over.
		*touched = map[string]struct{}{}
		docs, more, err := s.readChunk(ctx, req, rng)
		if err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, wrap(err)
		}
		// The high watermark: the events the stream holds now, which
		// include every change committed before the read.
		for stream.TryNext(ctx) {
			if end, err := handle(); end {
				return true, err
			}
		}
		if err := stream.Err(); err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, fmt.Errorf("mongosource: %s: change stream: %w", s.cfg.Name, err)
		}
		var events []bson.Raw
		for _, doc := range docs {
			id := doc.Lookup("_id")
			rng.after = id
			if _, ok := (*touched)[docKey(sn.Database, req.Collection, id)]; ok {
				dropped++
				continue // an event between the watermarks has a state as new
			}
			event, err := bson.Marshal(bson.D{
				{Key: "operationType", Value: "insert"}, {Key: "ns", Value: nsDoc},
				{Key: "documentKey", Value: bson.D{{Key: "_id", Value: id}}},
				{Key: "fullDocument", Value: doc}, {Key: "snapshot", Value: true},
			})
			if err != nil {
				return true, wrap(err)
			}
			events = append(events, event)
		}
		*touched = nil
		b := &inflightBatch{started: time.Now(), snapshotted: int64(len(events)), snapshotEnd: !more}
		if err := s.produce(work, cl, b, events); err != nil {
			return true, err
		}
		published += int64(len(events))
		// Every event before the high watermark was handed over first.
		b.token = stream.ResumeToken()
		select {
		case inflight <- b:
		case err := <-failed:
			return true, err
		case <-work.Done():
			return true, nil
		}
		if !more {
			s.log.Info("mongosource: snapshot read", "source", s.cfg.Name, "namespace", ns, "documents", published,
				"left_to_newer_events", dropped, "chunks", chunks, "took", time.Since(started).Round(time.Millisecond).String())
			return false, nil
		}
		if ctx.Err() != nil {
			return true, nil
		}
	}
}

// readChunk reads the next chunk of a snapshot: the documents after
// rng.after that the request's filter matches, up to the chunk size.
// more says the collection may hold more.
func (s *Source) readChunk(ctx context.Context, req SnapshotRequest, rng *copyRange) (docs []bson.Raw, more bool, err error) {
	sn := s.cfg.Snapshots
	filter := rangeFilter(rng)
	if len(req.Filter) > 0 {
		if len(filter) == 0 {
			filter = req.Filter
		} else {
			filter = bson.D{{Key: "$and", Value: bson.A{filter, req.Filter}}}
		}
	}
	cur, err := sn.Find(ctx, req.Collection, filter)
	if err != nil {
		return nil, false, err
	}
	defer cur.Close(context.Background())
	n := sn.chunkSize()
	for len(docs) < n && cur.Next(ctx) {
		var doc bson.Raw
		if err := cur.Decode(&doc); err != nil {
			return nil, false, err
		}
		docs = append(docs, append(bson.Raw(nil), doc...))
	}
	if err := cur.Err(); err != nil {
		return nil, false, err
	}
	return docs, len(docs) == n, nil
}

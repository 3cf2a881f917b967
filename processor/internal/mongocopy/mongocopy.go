// Package mongocopy reads collections for a source's copy of existing
// documents, on a MongoDB deployment or on the embedded engine (lungo):
// documents in _id order by range, split points for parallel readers, and
// a lungo change stream that knows its position before its first event.
package mongocopy

import (
	"context"
	"errors"
	"fmt"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Find opens a cursor over the documents filter matches, in ascending _id
// order.
func Find(ctx context.Context, coll lungo.ICollection, filter bson.D) (lungo.ICursor, error) {
	return coll.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}

// Splits returns up to n-1 ascending _ids splitting coll into n ranges of
// about the same size. With aggregate (a MongoDB deployment) it asks
// $bucketAuto over _id, which reads the _id index only; where that fails
// (no aggregation, as on the embedded engine) it skips through the
// documents sorted by _id, one query per split point.
func Splits(ctx context.Context, coll lungo.ICollection, n int, aggregate bool) ([]bson.RawValue, error) {
	if n < 2 {
		return nil, nil
	}
	if aggregate {
		splits, err := bucketAuto(ctx, coll, n)
		if err == nil {
			return splits, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
	total, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("count %s: %w", coll.Name(), err)
	}
	var out []bson.RawValue
	for i := 1; i < n; i++ {
		skip := total * int64(i) / int64(n)
		if skip == 0 {
			continue
		}
		var doc bson.Raw
		err := coll.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: 1}}).SetSkip(skip).
			SetProjection(bson.D{{Key: "_id", Value: 1}})).Decode(&doc)
		if err != nil {
			return nil, fmt.Errorf("split point %d of %s: %w", i, coll.Name(), err)
		}
		out = appendSplit(out, doc.Lookup("_id"))
	}
	return out, nil
}

// bucketAuto asks the server for n buckets of _id; each bucket's lower
// bound after the first is a split point.
func bucketAuto(ctx context.Context, coll lungo.ICollection, n int) (splits []bson.RawValue, err error) {
	defer func() {
		if v := recover(); v != nil { // lungo panics: not implemented
			splits, err = nil, fmt.Errorf("aggregate: %v", v)
		}
	}()
	cur, err := coll.Aggregate(ctx, bson.A{bson.D{{Key: "$bucketAuto", Value: bson.D{{Key: "groupBy", Value: "$_id"}, {Key: "buckets", Value: n}}}}})
	if err != nil {
		return nil, err
	}
	defer cur.Close(context.Background())
	first := true
	for cur.Next(ctx) {
		var b bson.Raw
		if err := cur.Decode(&b); err != nil {
			return nil, err
		}
		if !first {
			splits = appendSplit(splits, b.Lookup("_id", "min"))
		}
		first = false
	}
	if err := cur.Err(); err != nil {
		return nil, err
	}
	if first {
		return nil, errors.New("$bucketAuto returned no buckets")
	}
	return splits, nil
}

// appendSplit appends v unless it repeats the last split point.
func appendSplit(out []bson.RawValue, v bson.RawValue) []bson.RawValue {
	if v.Type == 0 || len(out) > 0 && out[len(out)-1].Equal(v) {
		return out
	}
	return append(out, v)
}

// Collections lists a database's collections, system ones left out.
func Collections(ctx context.Context, db lungo.IDatabase) ([]string, error) {
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if len(n) < 7 || n[:7] != "system." {
			out = append(out, n)
		}
	}
	return out, nil
}

// Watch opens a change stream on the embedded engine that, like a MongoDB
// server's, reports a resume token before its first event: a stream opened
// with no start position starts after the oplog's last event and reports
// that event's token; one resumed reports the token it resumed after. A
// copy can then save the position it began at.
func Watch(ctx context.Context, client lungo.IClient, open func(ctx context.Context, opts *options.ChangeStreamOptions) (lungo.IChangeStream, error),
	opts *options.ChangeStreamOptions) (lungo.IChangeStream, error) {
	var initial bson.Raw
	switch {
	case opts.ResumeAfter != nil:
		b, err := bson.Marshal(opts.ResumeAfter)
		if err != nil {
			return nil, fmt.Errorf("resume token: %w", err)
		}
		initial = b
	case opts.StartAfter == nil && opts.StartAtOperationTime == nil:
		var last bson.Raw
		err := client.Database("local").Collection("oplog").FindOne(ctx, bson.D{},
			options.FindOne().SetSort(bson.D{{Key: "clusterTime", Value: -1}})).Decode(&last)
		if err == nil {
			if id, ok := last.Lookup("_id").DocumentOK(); ok {
				initial = append(bson.Raw(nil), id...)
				opts.SetResumeAfter(initial)
			}
		}
	}
	cs, err := open(ctx, opts)
	if err != nil || initial == nil {
		return cs, err
	}
	return &positioned{IChangeStream: cs, initial: initial}, nil
}

// positioned is a lungo change stream reporting its start as its resume
// token until its first event.
type positioned struct {
	lungo.IChangeStream
	initial bson.Raw
}

// ResumeToken implements lungo.IChangeStream.
func (p *positioned) ResumeToken() bson.Raw {
	if t := p.IChangeStream.ResumeToken(); t != nil {
		return t
	}
	return p.initial
}

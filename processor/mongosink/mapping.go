package mongosink

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/internal/panics"
	"github.com/schemaflow/schemaflow/processor/relmap"
	"github.com/schemaflow/schemaflow/processor/sink"
)

// Finder reads the documents of a collection that match a filter; a
// mapping sink reads parents' arrays and referenced rows through it.
type Finder func(ctx context.Context, ns Namespace, filter bson.D) ([]bson.D, error)

// mappedStore is the relmap.Store of one batch: writes are queued per
// collection in record order and written in ordered bulk writes; a read
// or an immediate write first writes everything queued, so it sees every
// earlier record's effect.
type mappedStore struct {
	p      *Pipeline
	rec    *kgo.Record // the record being mapped
	groups map[Namespace][]item
	order  []Namespace
}

func (s *mappedStore) ns(coll string) Namespace {
	return Namespace{Database: s.p.cfg.Database, Collection: coll}
}

// Write implements relmap.Store.
func (s *mappedStore) Write(_ context.Context, coll string, m mongo.WriteModel) error {
	ns := s.ns(coll)
	if _, ok := s.groups[ns]; !ok {
		s.order = append(s.order, ns)
	}
	s.groups[ns] = append(s.groups[ns], item{rec: s.rec, model: m})
	return nil
}

// flush writes what is queued, collection by collection: the writes of
// different collections do not depend on each other between reads.
func (s *mappedStore) flush(ctx context.Context) error {
	for _, ns := range s.order {
		if err := s.p.write(ctx, ns, s.groups[ns]); err != nil {
			return err
		}
	}
	s.groups, s.order = map[Namespace][]item{}, nil
	return nil
}

// writeFailure is a write MongoDB refused for good.
type writeFailure struct {
	class string
	err   error
}

func (w *writeFailure) Error() string { return w.err.Error() }
func (w *writeFailure) Unwrap() error { return w.err }

// Exec implements relmap.Store.
func (s *mappedStore) Exec(ctx context.Context, coll string, m mongo.WriteModel) (relmap.Result, error) {
	if err := s.flush(ctx); err != nil {
		return relmap.Result{}, err
	}
	ns := s.ns(coll)
	target := s.p.cfg.Target(ns.Database, ns.Collection)
	var res *mongo.BulkWriteResult
	err := s.p.retry(ctx, "write "+ns.Database+"."+ns.Collection, func() (_ bool, err error) {
		defer panics.Recover(&err)
		wctx, cancel := context.WithTimeout(ctx, s.p.cfg.WriteTimeout)
		defer cancel()
		res, err = target.BulkWrite(wctx, []mongo.WriteModel{m})
		return err != nil && (isTransient(err) || (ctx.Err() == nil && wctx.Err() != nil)), err
	})
	if err != nil {
		var pe *panics.Error
		if ctx.Err() != nil || errors.As(err, &pe) || isTransient(err) {
			return relmap.Result{}, err
		}
		class := writeClass(0, err.Error())
		var bwe mongo.BulkWriteException
		if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
			class = writeClass(bwe.WriteErrors[0].Code, bwe.WriteErrors[0].Message)
		}
		return relmap.Result{}, &writeFailure{class: class, err: fmt.Errorf("write %s.%s: %w", ns.Database, ns.Collection, err)}
	}
	return relmap.Result{Matched: res.MatchedCount, Upserted: res.UpsertedCount, Deleted: res.DeletedCount}, nil
}

// Find implements relmap.Store.
func (s *mappedStore) Find(ctx context.Context, coll string, filter bson.D) ([]bson.D, error) {
	if err := s.flush(ctx); err != nil {
		return nil, err
	}
	ns := s.ns(coll)
	var docs []bson.D
	err := s.p.retry(ctx, "read "+ns.Database+"."+ns.Collection, func() (_ bool, err error) {
		defer panics.Recover(&err)
		wctx, cancel := context.WithTimeout(ctx, s.p.cfg.WriteTimeout)
		defer cancel()
		docs, err = s.p.cfg.Find(wctx, ns, filter)
		return err != nil, err
	})
	return docs, err
}

// processMapped maps a batch of Debezium relational events record by
// record, in order: several events of one document apply in the order
// they came, and a read sees every earlier event's writes.
func (p *Pipeline) processMapped(ctx context.Context, batch []*kgo.Record) error {
	defer p.begin(fmt.Sprintf("mapping %d records", len(batch)))()
	s := &mappedStore{p: p, groups: map[Namespace][]item{}}
	before := p.written.Load()
	done := int64(0)
	for _, rec := range batch {
		s.rec = rec
		r, class, err := p.mappedRecord(ctx, rec)
		if err == nil {
			err = p.apply(ctx, s, r)
			var wf *writeFailure
			switch {
			case relmap.IsDataError(err):
				class = ClassInvalidRecord
			case errors.As(err, &wf):
				class = wf.class
			}
		}
		if err != nil {
			if class == "" {
				return err // not the record's fault: stop
			}
			if err := p.fail(ctx, rec, class, err); err != nil {
				return err
			}
			continue
		}
		done++
	}
	if err := s.flush(ctx); err != nil {
		return err
	}
	// The queued writes counted themselves; a mapped batch counts records.
	p.written.Add(done - (p.written.Load() - before))
	return nil
}

// apply maps one record, a panic in the mapping included.
func (p *Pipeline) apply(ctx context.Context, s *mappedStore, r sink.Record) (err error) {
	defer panics.Recover(&err, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
	return p.cfg.Mapping.Apply(ctx, s, r)
}

// mappedRecord decodes a record's key and value.
func (p *Pipeline) mappedRecord(ctx context.Context, rec *kgo.Record) (sink.Record, string, error) {
	key, err := p.decode(ctx, rec.Topic, decode.PartKey, rec.Key)
	if err != nil {
		return sink.Record{}, classOf(err), fmt.Errorf("key: %w", err)
	}
	value, err := p.decode(ctx, rec.Topic, decode.PartValue, rec.Value)
	if err != nil {
		return sink.Record{}, classOf(err), fmt.Errorf("value: %w", err)
	}
	r, err := record(rec, key, value)
	if err != nil {
		return sink.Record{}, classOf(err), err
	}
	return r, "", nil
}

package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/mongosource"
)

// lungo's change streams ignore their pipeline, so for an embedded engine
// the source's filter runs here: its $match stages are applied to each
// event with lungo's own query matcher. Other stages cannot be, and are
// refused when the pipeline is built.
func matchStages(stages []bson.D) ([]bsonkit.Doc, error) {
	var queries []bsonkit.Doc
	for i, st := range stages {
		if len(st) != 1 || st[0].Key != "$match" {
			return nil, fmt.Errorf("source.filter[%d]: the embedded MongoDB (lungo) applies only $match stages", i)
		}
		q, err := bsonkit.Transform(st[0].Value)
		if err != nil {
			return nil, fmt.Errorf("source.filter[%d]: %w", i, err)
		}
		queries = append(queries, q)
	}
	return queries, nil
}

// filteredStream passes on the events every query matches.
type filteredStream struct {
	mongosource.ChangeStream
	queries []bsonkit.Doc
	cur     bson.Raw
	err     error
}

// Next implements mongosource.ChangeStream.
func (s *filteredStream) Next(ctx context.Context) bool {
	return s.advance(func() bool { return s.ChangeStream.Next(ctx) })
}

// TryNext implements mongosource.ChangeStream.
func (s *filteredStream) TryNext(ctx context.Context) bool {
	return s.advance(func() bool { return s.ChangeStream.TryNext(ctx) })
}

func (s *filteredStream) advance(next func() bool) bool {
	for next() {
		var raw bson.Raw
		if err := s.ChangeStream.Decode(&raw); err != nil {
			s.err = err
			return false
		}
		ok, err := s.matches(raw)
		if err != nil {
			s.err = err
			return false
		}
		if ok {
			s.cur = raw
			return true
		}
	}
	return false
}

func (s *filteredStream) matches(raw bson.Raw) (bool, error) {
	doc, err := bsonkit.Transform(raw)
	if err != nil {
		return false, err
	}
	for _, q := range s.queries {
		ok, err := mongokit.Match(doc, q)
		if err != nil {
			return false, fmt.Errorf("source.filter: %w", err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// Decode implements mongosource.ChangeStream: the current matching event.
func (s *filteredStream) Decode(out any) error {
	if s.cur == nil {
		return errors.New("no current event")
	}
	if raw, ok := out.(*bson.Raw); ok {
		*raw = s.cur
		return nil
	}
	return bson.Unmarshal(s.cur, out)
}

// Err implements mongosource.ChangeStream: a decoding or matching
// failure, else the stream's error.
func (s *filteredStream) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.ChangeStream.Err()
}

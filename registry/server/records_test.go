package server

import (
	"errors"
	"testing"

	"github.com/schemaflow/schemaflow/registry/store"
)

// TestLogRules: the log order decides. Each case replays records in
// order; the last one is admitted or refused, with or without a rollback
// restating what the log held for its key, and the state afterwards names
// each id by one schema and each schema by one id.
func TestLogRules(t *testing.T) {
	t.Parallel()
	x, y := `{"type":"string"}`, `{"type":"long"}`
	sv := func(subject string, version, id int, schema string, deleted bool) store.Record {
		return schemaRecord(schemaValue{Subject: subject, Version: version, ID: id, Schema: schema, SchemaType: "AVRO", Deleted: deleted})
	}
	// rb is a leader's rollback restating a key.
	rb := func(subject string, version, id int, schema string, deleted bool) store.Record {
		return schemaRecord(schemaValue{Subject: subject, Version: version, ID: id, Schema: schema, SchemaType: "AVRO", Deleted: deleted, Rollback: true})
	}
	tomb := schemaTombstone("a", 1)
	cases := []struct {
		name     string
		before   []store.Record
		last     store.Record
		refused  bool
		rollback *store.Record // expected rollback of a refused record
		ids      map[int]string
	}{
		{name: "first record", last: sv("a", 1, 1, x, false), ids: map[int]string{1: x}},
		{name: "same record twice", before: []store.Record{sv("a", 1, 1, x, false)}, last: sv("a", 1, 1, x, false), ids: map[int]string{1: x}},
		{name: "soft delete restates the id", before: []store.Record{sv("a", 1, 1, x, false)}, last: sv("a", 1, 1, x, true), ids: map[int]string{1: x}},
		{name: "one schema in two subjects", before: []store.Record{sv("a", 1, 1, x, false)}, last: sv("b", 1, 1, x, false), ids: map[int]string{1: x}},
		{name: "id taken by another schema, new key", before: []store.Record{sv("a", 1, 1, x, false)}, last: sv("b", 1, 1, y, false), refused: true, ids: map[int]string{1: x}},
		{name: "id taken by another schema, taken key", before: []store.Record{sv("a", 1, 1, x, false)}, last: sv("a", 1, 1, y, false), refused: true, rollback: ptr(rb("a", 1, 1, x, false)), ids: map[int]string{1: x}},
		{name: "schema already has an id", before: []store.Record{sv("a", 1, 1, x, false)}, last: sv("b", 1, 2, x, false), refused: true, ids: map[int]string{1: x}},
		{name: "version taken by another id", before: []store.Record{sv("a", 1, 1, x, false)}, last: sv("a", 1, 2, y, false), refused: true, rollback: ptr(rb("a", 1, 1, x, false)), ids: map[int]string{1: x}},
		{name: "deleted version brought back", before: []store.Record{sv("a", 1, 1, x, false), sv("a", 1, 1, x, true)}, last: sv("a", 1, 1, x, false), refused: true, rollback: ptr(rb("a", 1, 1, x, true)), ids: map[int]string{1: x}},
		{name: "a new id once the old one is gone", before: []store.Record{sv("a", 1, 1, x, false), schemaTombstone("a", 1)}, last: sv("b", 1, 2, x, false), ids: map[int]string{1: x, 2: x}},
		// A rollback and a hard delete of the same version interleaving: the
		// refused record R, the hard delete T, then R's rollback.
		{name: "rollback after a hard delete", before: []store.Record{sv("a", 1, 1, x, false), sv("a", 1, 1, x, true), sv("a", 1, 2, y, false), tomb}, last: rb("a", 1, 1, x, true), refused: true, rollback: &tomb, ids: map[int]string{1: x}},
		{name: "rollback before the hard delete", before: []store.Record{sv("a", 1, 1, x, false), sv("a", 1, 1, x, true), sv("a", 1, 2, y, false)}, last: rb("a", 1, 1, x, true), ids: map[int]string{1: x}},
		{name: "rollback after a soft delete", before: []store.Record{sv("a", 1, 1, x, false), sv("a", 1, 2, y, false), sv("a", 1, 1, x, true)}, last: rb("a", 1, 1, x, false), refused: true, rollback: ptr(rb("a", 1, 1, x, true)), ids: map[int]string{1: x}},
		{name: "rollback alone after compaction", last: rb("a", 1, 1, x, true), ids: map[int]string{1: x}},
		{name: "registration again after a hard delete", before: []store.Record{sv("a", 1, 1, x, false), sv("a", 1, 1, x, true), tomb}, last: sv("a", 1, 1, x, false), ids: map[int]string{1: x}},
		{name: "other context keeps its own ids", before: []store.Record{sv("a", 1, 1, x, false)}, last: sv(":.ctx:a", 1, 1, y, false)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newState()
			for _, r := range c.before {
				// Records refused before the last one (a stale leader's) are
				// part of the story; they change nothing.
				var rj *store.Rejected
				if err := st.apply(r); err != nil && !errors.As(err, &rj) {
					t.Fatalf("before: %v", err)
				}
			}
			err := st.apply(c.last)
			var rj *store.Rejected
			if got := errors.As(err, &rj); got != c.refused {
				t.Fatalf("refused = %v (%v), want %v", got, err, c.refused)
			}
			if err != nil && rj == nil {
				t.Fatal(err)
			}
			if c.refused {
				switch {
				case c.rollback == nil && rj.Rollback != nil:
					t.Fatalf("rollback %s, want none", rj.Rollback.Value)
				case c.rollback != nil && (rj.Rollback == nil || string(rj.Rollback.Key) != string(c.rollback.Key) || string(rj.Rollback.Value) != string(c.rollback.Value)):
					t.Fatalf("rollback %+v, want %s %s", rj.Rollback, c.rollback.Key, c.rollback.Value)
				}
				if rj.Reason == "" {
					t.Fatal("a refusal without a reason")
				}
			}
			for id, text := range c.ids {
				if sc := st.schemas[idKey{DefaultContext, id}]; sc == nil || sc.text != text {
					t.Fatalf("id %d names %+v, want %s", id, sc, text)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

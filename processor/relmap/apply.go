package relmap

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/schemaflow/schemaflow/processor/sink"
)

// Store is where a Mapper reads and writes documents, by collection of
// the sink's database. Every call sees the effect of every earlier one.
type Store interface {
	// Write applies m after every earlier write. It may be queued.
	Write(ctx context.Context, coll string, m mongo.WriteModel) error
	// Exec applies m now and reports what it matched and upserted.
	Exec(ctx context.Context, coll string, m mongo.WriteModel) (Result, error)
	// Find returns the documents of coll that match filter.
	Find(ctx context.Context, coll string, filter bson.D) ([]bson.D, error)
}

// Result is what an Exec did.
type Result struct {
	Matched, Upserted, Deleted int64
}

// MaxAttempts bounds how often an array edit is tried again after a
// concurrent change of the same document.
const MaxAttempts = 50

// Mapper applies a Config to Debezium change events.
type Mapper struct {
	tables map[string]*table
	topics []string
}

type table struct {
	name string
	Table
	arrays []*table // child tables whose rows are arrays in this table's documents
	docs   []*table // tables copied into this table's documents
	embeds []string // the fields of both
}

// New checks cfg against the sink's topics and returns its Mapper.
func New(cfg Config, topics []string) (*Mapper, error) {
	if ps := cfg.Check(topics); len(ps) > 0 {
		return nil, fmt.Errorf("relmap: invalid mapping:\n%w", ps)
	}
	m := &Mapper{tables: map[string]*table{}, topics: topics}
	for n, t := range cfg.Tables {
		m.tables[n] = &table{name: n, Table: t}
	}
	for _, n := range sortedNames(cfg.Tables) {
		t := m.tables[n]
		if t.Array != nil {
			into := m.tables[t.Array.Into]
			into.arrays = append(into.arrays, t)
			into.embeds = append(into.embeds, t.Array.Field)
		}
		if t.Document != nil {
			into := m.tables[t.Document.Into]
			into.docs = append(into.docs, t)
			into.embeds = append(into.embeds, t.Document.Field)
		}
	}
	return m, nil
}

func (m *Mapper) tableOf(topic string) *table {
	for n, t := range m.tables {
		if tableOfTopic(topic, n) {
			return t
		}
	}
	return nil
}

// event is a Debezium envelope, read.
type event struct {
	r             sink.Record
	op            string
	key           bson.D
	before, after bson.D
}

func (e event) bad(format string, args ...any) error {
	return &DataError{Where: e.r.Where(), Msg: fmt.Sprintf(format, args...)}
}

func parse(r sink.Record) (event, bool, error) {
	// The mapping edits and looks into values: it reads them as bson.D.
	value, err := r.ValueD()
	if err != nil {
		return event{r: r}, false, err
	}
	r.Value, r.RawValue = value, nil
	e := event{r: r}
	if len(r.Value) == 0 {
		return e, false, nil // a tombstone after a delete
	}
	op, hasOp := sink.Lookup(r.Value, "op")
	if !hasOp || op == nil {
		if _, ddl := sink.Lookup(r.Value, "ddl"); ddl {
			return e, false, nil
		}
		return e, false, e.bad("a Debezium event needs op")
	}
	name, ok := op.(string)
	if !ok {
		return e, false, e.bad("op is a %T, not a string", op)
	}
	e.op = name
	for _, f := range []struct {
		name string
		to   *bson.D
	}{{"before", &e.before}, {"after", &e.after}} {
		v, _ := sink.Lookup(r.Value, f.name)
		if v == nil {
			continue
		}
		d, ok := v.(bson.D)
		if !ok {
			return e, false, e.bad("%s is a %T, not a row", f.name, v)
		}
		*f.to = d
	}
	if len(r.Key) == 0 {
		return e, false, e.bad("a mapped table needs a primary key: the record's key must be a document of the key columns")
	}
	e.key = r.Key
	switch name {
	case "c", "r", "u":
		if len(e.after) == 0 {
			return e, false, e.bad("the %q event has no after", name)
		}
	case "d":
	case "t":
		return e, false, e.bad("a truncate cannot be mapped row by row; resnapshot the table")
	default:
		return e, false, e.bad("unknown Debezium operation %q", name)
	}
	return e, true, nil
}

// Apply maps one decoded record: a Debezium envelope from one of the
// mapped tables' topics. Snapshot reads are inserts; tombstones and
// schema changes need no write. A *DataError is the record's fault.
func (m *Mapper) Apply(ctx context.Context, st Store, r sink.Record) error {
	t := m.tableOf(r.Topic)
	if t == nil {
		return &DataError{Where: r.Where(), Msg: fmt.Sprintf("the topic %q has no table in the mapping", r.Topic)}
	}
	e, ok, err := parse(r)
	if err != nil || !ok {
		return err
	}
	row := e.after
	if e.op == "d" {
		row = nil
	}
	if row != nil && len(t.Filter) > 0 {
		match, err := mongokit.Match(&row, &t.Filter)
		if err != nil {
			return e.bad("filter: %v", err)
		}
		if !match {
			row = nil // filtered out: as if deleted
		}
	}
	if t.Document != nil {
		if err := m.copies(ctx, st, t, e, row); err != nil {
			return err
		}
	}
	if t.Collection != "" {
		if row != nil {
			err = m.upsert(ctx, st, t, e, row)
		} else {
			err = m.remove(ctx, st, t, e)
		}
		if err != nil {
			return err
		}
	}
	if t.Array != nil {
		return m.element(ctx, st, t, e, row)
	}
	return nil
}

// fields maps a row's columns: included, renamed, converted to their
// field types; nulls listed apart when they are omitted.
func (t *table) fields(e event, row bson.D) (set bson.D, nulls []string, err error) {
	for _, c := range row {
		if !t.keeps(c.Key) {
			continue
		}
		name, v := t.field(c.Key), c.Value
		if to, typed := t.Types[c.Key]; typed {
			if _, isKey := sink.Lookup(e.key, c.Key); isKey {
				return nil, nil, e.bad("the key column %q cannot be given a type: _id and joins take keys as they come", c.Key)
			}
			if v, err = convert(v, to); err != nil {
				return nil, nil, e.bad("column %q: %v", c.Key, err)
			}
		}
		if v == nil && t.OmitNulls {
			nulls = append(nulls, name)
			continue
		}
		set = append(set, bson.E{Key: name, Value: v})
	}
	return set, nulls, nil
}

// idOf is the _id of a row by its key: the value of a one-column key, the
// key document otherwise.
func idOf(key bson.D) any {
	if len(key) == 1 {
		return key[0].Value
	}
	return key
}

// upsert sets a row's own fields, and the copies it references, in its
// document; arrays and copies of other rules are left alone.
func (m *Mapper) upsert(ctx context.Context, st Store, t *table, e event, row bson.D) error {
	set, nulls, err := t.fields(e, row)
	if err != nil {
		return err
	}
	for _, f := range set {
		if slices.Contains(t.embeds, f.Key) {
			return e.bad("the column %q is also the field of an embedded table: rename it", f.Key)
		}
	}
	unset := bson.D{{Key: PendingField, Value: ""}}
	for _, n := range nulls {
		unset = append(unset, bson.E{Key: n, Value: ""})
	}
	for _, d := range t.docs {
		copy, found, err := m.lookup(ctx, st, d, row)
		if err != nil {
			return err
		}
		if found {
			set = append(set, bson.E{Key: d.Document.Field, Value: copy})
		} else {
			unset = append(unset, bson.E{Key: d.Document.Field, Value: ""})
		}
	}
	update := bson.D{}
	if len(set) > 0 {
		update = append(update, bson.E{Key: "$set", Value: set})
	}
	update = append(update, bson.E{Key: "$unset", Value: unset})
	return st.Write(ctx, t.Collection, mongo.NewUpdateOneModel().
		SetFilter(bson.D{{Key: "_id", Value: idOf(e.key)}}).SetUpdate(update).SetUpsert(true))
}

// lookup reads the current copy of d's row that row references, from d's
// own collection.
func (m *Mapper) lookup(ctx context.Context, st Store, d *table, row bson.D) (bson.D, bool, error) {
	filter := bson.D{}
	for _, j := range d.Document.On {
		v, _ := sink.Lookup(row, j.Other)
		if v == nil {
			return nil, false, nil // no reference
		}
		filter = append(filter, bson.E{Key: d.field(j.Column), Value: v})
	}
	docs, err := st.Find(ctx, d.Collection, filter)
	if err != nil {
		return nil, false, fmt.Errorf("relmap: read %s for %s: %w", d.Collection, d.Document.Field, err)
	}
	for _, doc := range docs {
		if pending(doc) {
			continue
		}
		var copy bson.D
		for _, f := range doc {
			if f.Key != "_id" && !slices.Contains(d.embeds, f.Key) {
				copy = append(copy, f)
			}
		}
		return copy, true, nil
	}
	return nil, false, nil
}

func pending(doc bson.D) bool {
	v, _ := sink.Lookup(doc, PendingField)
	return v == true
}

// remove takes a row's document away. A document holding embedded arrays
// becomes pending, keeping the arrays of children not removed yet, and
// goes when they are empty.
func (m *Mapper) remove(ctx context.Context, st Store, t *table, e event) error {
	id := bson.D{{Key: "_id", Value: idOf(e.key)}}
	if len(t.arrays) == 0 {
		return st.Write(ctx, t.Collection, mongo.NewDeleteOneModel().SetFilter(id))
	}
	for range MaxAttempts {
		docs, err := st.Find(ctx, t.Collection, id)
		if err != nil || len(docs) == 0 {
			return err
		}
		doc := docs[0]
		filter := append(bson.D{}, id...)
		stub := bson.D{id[0], {Key: PendingField, Value: true}}
		empty := true
		for _, c := range t.arrays {
			v, has := sink.Lookup(doc, c.Array.Field)
			filter = append(filter, cas(c.Array.Field, v, has))
			if has {
				stub = append(stub, bson.E{Key: c.Array.Field, Value: v})
				if a, ok := v.(bson.A); !ok || len(a) > 0 {
					empty = false
				}
			}
		}
		var res Result
		if empty {
			res, err = st.Exec(ctx, t.Collection, mongo.NewDeleteOneModel().SetFilter(filter))
		} else {
			res, err = st.Exec(ctx, t.Collection, mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(stub))
		}
		if err != nil {
			return err
		}
		if res.Matched+res.Deleted > 0 {
			return nil
		}
	}
	return fmt.Errorf("relmap: %s: %s.%v changed %d times while being removed", e.r.Where(), t.Collection, idOf(e.key), MaxAttempts)
}

// cas is a filter clause holding a field's value as read.
func cas(field string, v any, has bool) bson.E {
	if !has {
		return bson.E{Key: field, Value: bson.D{{Key: "$exists", Value: false}}}
	}
	return bson.E{Key: field, Value: v}
}

// copies updates the copies of a referenced row in the documents that
// reference it: set while the row is there, unset when it is gone.
func (m *Mapper) copies(ctx context.Context, st Store, t *table, e event, row bson.D) error {
	d := t.Document
	into := m.tables[d.Into]
	refs := func(src bson.D, rename bool) (bson.D, bool) {
		filter := bson.D{}
		for _, j := range d.On {
			name := j.Column
			if rename {
				name = t.field(j.Column)
			}
			v, ok := sink.Lookup(src, name)
			if !ok || v == nil {
				return nil, false
			}
			filter = append(filter, bson.E{Key: into.field(j.Other), Value: v})
		}
		return filter, true
	}
	if row != nil {
		filter, ok := refs(row, false)
		if ok {
			copy, _, err := t.fields(e, row)
			if err != nil {
				return err
			}
			if err := st.Write(ctx, into.Collection, mongo.NewUpdateManyModel().SetFilter(filter).
				SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: d.Field, Value: copy}}}})); err != nil {
				return err
			}
		}
		old, had := refs(e.before, false)
		if !had || !ok || bsonkit.Compare(old, filter) == 0 {
			return nil
		}
		// The referenced columns changed: the documents that still name
		// the old values lose their copy.
		return st.Write(ctx, into.Collection, mongo.NewUpdateManyModel().SetFilter(old).
			SetUpdate(bson.D{{Key: "$unset", Value: bson.D{{Key: d.Field, Value: ""}}}}))
	}
	// Gone: the referenced values come from before, the key, or the
	// row's document as it is still stored.
	filter, ok := refs(e.before, false)
	if !ok && e.after != nil {
		filter, ok = refs(e.after, false) // filtered out
	}
	if !ok {
		filter, ok = refs(e.key, false)
	}
	if !ok {
		docs, err := st.Find(ctx, t.Collection, bson.D{{Key: "_id", Value: idOf(e.key)}})
		if err != nil {
			return err
		}
		if len(docs) == 0 {
			return nil // never stored, so never copied
		}
		if filter, ok = refs(docs[0], true); !ok {
			return nil
		}
	}
	return st.Write(ctx, into.Collection, mongo.NewUpdateManyModel().SetFilter(filter).
		SetUpdate(bson.D{{Key: "$unset", Value: bson.D{{Key: d.Field, Value: ""}}}}))
}

// parentID is the _id of the parent document a child row names, false
// when its foreign key is null or absent.
func parentID(a *Array, row bson.D) (any, bool) {
	if row == nil {
		return nil, false
	}
	var key bson.D
	for _, j := range a.On {
		v, ok := sink.Lookup(row, j.Column)
		if !ok || v == nil {
			return nil, false
		}
		key = append(key, bson.E{Key: j.Other, Value: v})
	}
	return idOf(key), true
}

// element puts a child row's element into its parent's array, taking it
// out of any other parent's, or takes it out when the row is gone.
func (m *Mapper) element(ctx context.Context, st Store, t *table, e event, row bson.D) error {
	a := t.Array
	parent := m.tables[a.Into]
	var match bson.D // the element's key fields
	for _, k := range e.key {
		if !t.keeps(k.Key) {
			return e.bad("the key column %q identifies the element in %s.%s: it must not be left out", k.Key, parent.Collection, a.Field)
		}
		match = append(match, bson.E{Key: t.field(k.Key), Value: k.Value})
	}
	newID, hasNew := parentID(a, row)
	// Leave the old parent: the one before names, when the element is
	// there; else wherever it is. (A before with the key alone, as
	// Postgres sends under replica identity default, can carry zero
	// values in its other columns: it is not trusted to be right.)
	oldID, hasOld := parentID(a, e.before)
	if hasOld && hasNew && bsonkit.Compare(oldID, newID) == 0 {
		hasOld = false // no move: the edit below replaces the element
	} else {
		left := false
		if hasOld {
			var err error
			if left, err = m.editArray(ctx, st, parent, a.Field, oldID, false, e, without(match)); err != nil {
				return err
			}
		}
		if !left {
			// Dotted paths rather than $elemMatch, which FerretDB v1
			// lacks: for a composite key they may find more parents, and
			// the edit takes out only the element whose key matches.
			where := bson.D{}
			for _, k := range match {
				where = append(where, bson.E{Key: a.Field + "." + k.Key, Value: k.Value})
			}
			docs, err := st.Find(ctx, parent.Collection, where)
			if err != nil {
				return fmt.Errorf("relmap: read %s: %w", parent.Collection, err)
			}
			for _, doc := range docs {
				id, _ := sink.Lookup(doc, "_id")
				if hasNew && bsonkit.Compare(id, newID) == 0 {
					continue
				}
				if _, err := m.editArray(ctx, st, parent, a.Field, id, false, e, without(match)); err != nil {
					return err
				}
			}
		}
	}
	if !hasNew {
		return nil
	}
	elem, _, err := t.fields(e, row)
	if err != nil {
		return err
	}
	_, err = m.editArray(ctx, st, parent, a.Field, newID, true, e, with(match, elem, a.Sort))
	return err
}

// edit changes an array; false when nothing changed.
type edit func(bson.A) (bson.A, bool)

func matches(elem any, match bson.D) bool {
	d, ok := elem.(bson.D)
	if !ok {
		return false
	}
	for _, k := range match {
		v, has := sink.Lookup(d, k.Key)
		if !has || bsonkit.Compare(v, k.Value) != 0 {
			return false
		}
	}
	return true
}

func without(match bson.D) edit {
	return func(arr bson.A) (bson.A, bool) {
		out := bson.A{}
		for _, x := range arr {
			if !matches(x, match) {
				out = append(out, x)
			}
		}
		return out, len(out) != len(arr)
	}
}

func with(match, elem bson.D, by []SortKey) edit {
	return func(arr bson.A) (bson.A, bool) {
		out := append(bson.A{}, arr...)
		found := false
		for i, x := range out {
			if matches(x, match) {
				out[i], found = elem, true
				break
			}
		}
		if !found {
			out = append(out, elem)
		}
		if len(by) > 0 {
			sort.SliceStable(out, func(i, j int) bool { return less(out[i], out[j], by, match) })
		}
		return out, bsonkit.Compare(out, arr) != 0 || arr == nil
	}
}

// less orders elements by the sort fields, then by their key fields.
func less(x, y any, by []SortKey, key bson.D) bool {
	dx, _ := x.(bson.D)
	dy, _ := y.(bson.D)
	for _, k := range by {
		vx, _ := sink.Lookup(dx, k.Field)
		vy, _ := sink.Lookup(dy, k.Field)
		if c := bsonkit.Compare(vx, vy); c != 0 {
			return (c < 0) != k.Desc
		}
	}
	for _, k := range key {
		vx, _ := sink.Lookup(dx, k.Key)
		vy, _ := sink.Lookup(dy, k.Key)
		if c := bsonkit.Compare(vx, vy); c != 0 {
			return c < 0
		}
	}
	return false
}

// editArray applies change to the array field of the parent document id,
// creating a pending parent when create is set and it is missing. The
// write holds the array's old value in its filter; a concurrent change
// makes it match nothing, and the edit is read and tried again. A pending
// parent left with empty arrays is deleted.
func (m *Mapper) editArray(ctx context.Context, st Store, parent *table, field string, id any, create bool, e event, change edit) (bool, error) {
	byID := bson.D{{Key: "_id", Value: id}}
	for range MaxAttempts {
		docs, err := st.Find(ctx, parent.Collection, byID)
		if err != nil {
			return false, fmt.Errorf("relmap: read %s: %w", parent.Collection, err)
		}
		if len(docs) == 0 {
			if !create {
				return false, nil
			}
			arr, _ := change(nil)
			res, err := st.Exec(ctx, parent.Collection, mongo.NewUpdateOneModel().SetFilter(byID).SetUpsert(true).
				SetUpdate(bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: PendingField, Value: true}, {Key: field, Value: arr}}}}))
			if err != nil {
				return false, err
			}
			if res.Upserted > 0 {
				return true, nil
			}
			continue // created meanwhile
		}
		doc := docs[0]
		old, has := sink.Lookup(doc, field)
		arr, isArray := old.(bson.A)
		if has && !isArray && old != nil {
			return false, e.bad("%s.%v holds %s as a %T, not an array", parent.Collection, id, field, old)
		}
		next, changed := change(arr)
		if !changed {
			return false, nil
		}
		filter := append(append(bson.D{}, byID...), cas(field, old, has))
		var res Result
		if len(next) == 0 && pending(doc) && othersEmpty(doc, parent, field) {
			for _, c := range parent.arrays {
				if c.Array.Field != field {
					v, has := sink.Lookup(doc, c.Array.Field)
					filter = append(filter, cas(c.Array.Field, v, has))
				}
			}
			filter = append(filter, bson.E{Key: PendingField, Value: true})
			res, err = st.Exec(ctx, parent.Collection, mongo.NewDeleteOneModel().SetFilter(filter))
		} else if len(next) == 0 {
			// No children, no field: the same whatever the history.
			res, err = st.Exec(ctx, parent.Collection, mongo.NewUpdateOneModel().SetFilter(filter).
				SetUpdate(bson.D{{Key: "$unset", Value: bson.D{{Key: field, Value: ""}}}}))
		} else {
			res, err = st.Exec(ctx, parent.Collection, mongo.NewUpdateOneModel().SetFilter(filter).
				SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: next}}}}))
		}
		if err != nil {
			return false, err
		}
		if res.Matched+res.Deleted > 0 {
			return true, nil
		}
	}
	return false, fmt.Errorf("relmap: %s: %s.%v changed %d times while its %s was edited", e.r.Where(), parent.Collection, id, MaxAttempts, field)
}

func othersEmpty(doc bson.D, parent *table, field string) bool {
	for _, c := range parent.arrays {
		if c.Array.Field == field {
			continue
		}
		if v, has := sink.Lookup(doc, c.Array.Field); has {
			if a, ok := v.(bson.A); !ok || len(a) > 0 {
				return false
			}
		}
	}
	return true
}

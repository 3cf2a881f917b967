// Package relmap turns Debezium relational change events into documents
// by mapping rules, after MongoDB Relational Migrator's: a table becomes a
// collection (fields renamed, included or excluded, _id from the primary
// key), the rows of a child table become an array inside their parent's
// document, and a referenced row is copied as a sub-document into every
// document that references it. The documents are kept in sync as the
// source changes, whatever the interleaving of the tables' topics and
// however often a topic is replayed: the collections converge to the
// mapping of the source's final state.
//
// The write models are plain updates, replaces, inserts and deletes with
// equality filters, $set, $unset and $elemMatch: no $pull, no $push
// modifiers, no update pipelines, so they run the same on MongoDB,
// FerretDB and lungo. An array is edited by reading it, changing it in
// memory and writing it back under a filter that holds its old value, so
// a concurrent edit is noticed and the edit retried.
package relmap

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
)

// PendingField marks a parent document that its children created before
// the parent's own row arrived (or after it was deleted). The parent's
// row removes it; a pending document whose arrays become empty is deleted.
// It is never left in a converged collection.
const PendingField = "__schemaflow_pending"

// Config is a mapping: rules by table.
type Config struct {
	// Tables maps a table, named as its topic is or by the topic's suffix
	// ("public.orders" for the topic "pg.public.orders"), to its rules.
	Tables map[string]Table
}

// Table is the rules of one table.
type Table struct {
	// Collection, when set, makes each row a document of this collection
	// of the sink's database, its _id the primary key: the value of a
	// one-column key, a sub-document of the columns of a composite one.
	Collection string
	// Rename renames columns, in documents, elements and copies alike.
	Rename []Rename
	// Include keeps only these columns (before renaming); Exclude drops
	// these. Not both.
	Include, Exclude []string
	// OmitNulls leaves null columns out instead of writing null.
	OmitNulls bool
	// Types gives columns (before renaming) a BSON type. Key columns and
	// the columns of joins keep theirs.
	Types map[string]FieldType
	// Filter is a MongoDB query on the row's columns (before renaming):
	// rows it does not match are treated as absent.
	Filter bson.D
	// Array, when set, embeds the rows in their parent's documents.
	Array *Array
	// Document, when set, copies the row into the documents that
	// reference it.
	Document *Document
}

// Rename is one column's new name.
type Rename struct{ From, To string }

// Join pairs a column of this table with a column of the other table.
type Join struct{ Column, Other string }

// Array embeds a child table's rows as elements of an array in the
// documents of its parent table.
type Array struct {
	// Into is the parent table; it must have a collection.
	Into string
	// Field is the array's field in the parent's documents.
	Field string
	// On joins this table's foreign-key columns to the parent's primary
	// key columns, in the parent's key order.
	On []Join
	// Sort orders the elements by these element fields; ties keep the
	// order of arrival. Empty: order of arrival.
	Sort []SortKey
}

// SortKey is one sort field of an array.
type SortKey struct {
	Field string
	Desc  bool
}

// Document copies a referenced row into the documents of the tables that
// reference it.
type Document struct {
	// Into is the referencing table; it must have a collection.
	Into string
	// Field is the copy's field in the referencing documents.
	Field string
	// On joins this table's columns to the referencing table's columns.
	On []Join
}

// Problem is one invalid rule: Path names it from the mapping down
// ("tables", "public.orders", "embed_array", "into").
type Problem struct {
	Path []any
	Msg  string
}

// Problems are every problem of a Config.
type Problems []Problem

// Error implements error.
func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("\n")
		}
		for j, s := range p.Path {
			if j > 0 {
				b.WriteString(".")
			}
			fmt.Fprint(&b, s)
		}
		b.WriteString(": " + p.Msg)
	}
	return b.String()
}

// Check reports every problem of the mapping of the given topics: each
// topic needs exactly one table, each table a topic.
func (c Config) Check(topics []string) Problems {
	var ps Problems
	bad := func(msg string, path ...any) {
		ps = append(ps, Problem{Path: append([]any{"tables"}, path...), Msg: msg})
	}
	if len(c.Tables) == 0 {
		return Problems{{Path: []any{"tables"}, Msg: "at least one table is required"}}
	}
	names := sortedNames(c.Tables)
	for _, topic := range topics {
		var matched []string
		for _, n := range names {
			if tableOfTopic(topic, n) {
				matched = append(matched, n)
			}
		}
		switch len(matched) {
		case 0:
			ps = append(ps, Problem{Path: []any{"tables"}, Msg: fmt.Sprintf("the topic %q has no table: name it by the topic or its suffix (schema.table)", topic)})
		case 1:
		default:
			ps = append(ps, Problem{Path: []any{"tables"}, Msg: fmt.Sprintf("the topic %q matches several tables: %s", topic, strings.Join(matched, ", "))})
		}
	}
	collections := map[string]string{}
	embeds := map[string]map[string]string{} // into table → field → by
	claim := func(into, field, by string, path ...any) {
		if embeds[into] == nil {
			embeds[into] = map[string]string{}
		}
		if other, taken := embeds[into][field]; taken {
			bad(fmt.Sprintf("%q in %s is already the field of %s", field, into, other), path...)
		}
		embeds[into][field] = by
	}
	for _, n := range names {
		t := c.Tables[n]
		hasTopic := false
		for _, topic := range topics {
			hasTopic = hasTopic || tableOfTopic(topic, n)
		}
		if n == "" {
			bad("empty table name", n)
		} else if !hasTopic {
			bad(fmt.Sprintf("no topic of the sink carries this table (topics: %s)", strings.Join(topics, ", ")), n)
		}
		if t.Collection == "" && t.Array == nil {
			bad("set collection, embed_array or both: a table embedded only as a document needs its own collection to be read from", n)
		}
		if t.Collection != "" {
			if strings.Contains(t.Collection, "$") || strings.HasPrefix(t.Collection, "system.") {
				bad(fmt.Sprintf("%q is not a valid collection name", t.Collection), n, "collection")
			}
			if other, taken := collections[t.Collection]; taken {
				bad(fmt.Sprintf("%q is also the collection of %s", t.Collection, other), n, "collection")
			}
			collections[t.Collection] = n
		}
		if len(t.Include) > 0 && len(t.Exclude) > 0 {
			bad("set include or exclude, not both", n, "include")
		}
		targets := map[string]bool{}
		for i, r := range t.Rename {
			switch {
			case r.From == "" || r.To == "":
				bad("from and to are required", n, "rename", i)
			case !validField(r.To):
				bad(fmt.Sprintf("%q: a field name must not be empty, contain '.' or start with '$'", r.To), n, "rename", i, "to")
			case targets[r.To]:
				bad(fmt.Sprintf("two columns are renamed to %q", r.To), n, "rename", i, "to")
			case r.To == "_id" || r.To == PendingField:
				bad(fmt.Sprintf("%q is reserved", r.To), n, "rename", i, "to")
			}
			targets[r.To] = true
		}
		for _, col := range sortedKeys(t.Types) {
			switch to := t.Types[col]; {
			case !validType(to):
				names := make([]string, len(FieldTypes))
				for i, f := range FieldTypes {
					names[i] = string(f)
				}
				bad(fmt.Sprintf("%q: want one of %s", to, strings.Join(names, ", ")), n, "types", col)
			case c.joins(n, col):
				bad(fmt.Sprintf("%q joins tables: its values must match the other table's as they come", col), n, "types", col)
			}
		}
		if len(t.Filter) > 0 {
			if _, err := mongokit.Match(&bson.D{}, &t.Filter); err != nil {
				bad(fmt.Sprintf("not a query: %v", err), n, "filter")
			}
			for _, child := range names {
				if a := c.Tables[child].Array; a != nil && a.Into == n {
					bad(fmt.Sprintf("%s embeds arrays (%s): the children of the rows left out would have no document to live in; filter the children instead", n, child), n, "filter")
				}
			}
		}
		if a := t.Array; a != nil {
			c.checkEmbed(n, "embed_array", a.Into, a.Field, a.On, bad)
			if into, ok := c.Tables[a.Into]; ok && into.Array != nil && into.Collection == "" {
				bad(fmt.Sprintf("%s is itself embedded: arrays nest one level", a.Into), n, "embed_array", "into")
			}
			for i, k := range a.Sort {
				if k.Field == "" {
					bad("empty sort field", n, "embed_array", "sort", i)
				}
			}
			claim(a.Into, a.Field, n, n, "embed_array", "field")
		}
		if d := t.Document; d != nil {
			c.checkEmbed(n, "embed_document", d.Into, d.Field, d.On, bad)
			if t.Collection == "" {
				bad("an embedded document is read from its table's own collection: set collection", n, "embed_document")
			}
			for i, j := range d.On {
				if !t.keeps(j.Column) {
					bad(fmt.Sprintf("%q is left out of %s's documents, so the copy cannot be found by it", j.Column, n), n, "embed_document", "on", i)
				}
				if into, ok := c.Tables[d.Into]; ok && !into.keeps(j.Other) {
					bad(fmt.Sprintf("%q is left out of %s's documents, so the documents to update cannot be found by it", j.Other, d.Into), n, "embed_document", "on", i)
				}
			}
			claim(d.Into, d.Field, n, n, "embed_document", "field")
		}
	}
	// An embedded field must not also be a column's name in the target.
	for into, fields := range embeds {
		t, ok := c.Tables[into]
		if !ok {
			continue
		}
		for _, r := range t.Rename {
			if by, clash := fields[r.To]; clash {
				bad(fmt.Sprintf("%q is both a renamed column and the field embedding %s", r.To, by), into, "rename")
			}
		}
	}
	return ps
}

func (c Config) checkEmbed(n, kind, into, field string, on []Join, bad func(string, ...any)) {
	switch target, ok := c.Tables[into]; {
	case into == "":
		bad("required", n, kind, "into")
	case into == n:
		bad("a table cannot embed into itself", n, kind, "into")
	case !ok:
		bad(fmt.Sprintf("%q is not a table of the mapping", into), n, kind, "into")
	case target.Collection == "":
		bad(fmt.Sprintf("%s has no collection to embed into", into), n, kind, "into")
	}
	if !validField(field) {
		bad(fmt.Sprintf("%q: a field name must not be empty, contain '.' or start with '$'", field), n, kind, "field")
	} else if field == "_id" || field == PendingField {
		bad(fmt.Sprintf("%q is reserved", field), n, kind, "field")
	}
	if len(on) == 0 {
		bad("at least one column pair is required", n, kind, "on")
	}
	for i, j := range on {
		if j.Column == "" || j.Other == "" {
			bad("empty column name", n, kind, "on", i)
		}
	}
}

// joins reports whether column of table n is in an "on" of any rule.
func (c Config) joins(n, column string) bool {
	for other, t := range c.Tables {
		if a := t.Array; a != nil {
			for _, j := range a.On {
				if (other == n && j.Column == column) || (a.Into == n && j.Other == column) {
					return true
				}
			}
		}
		if d := t.Document; d != nil {
			for _, j := range d.On {
				if (other == n && j.Column == column) || (d.Into == n && j.Other == column) {
					return true
				}
			}
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func validField(s string) bool {
	return s != "" && !strings.Contains(s, ".") && !strings.HasPrefix(s, "$")
}

// keeps reports whether column survives include and exclude.
func (t Table) keeps(column string) bool {
	if len(t.Include) > 0 {
		return contains(t.Include, column)
	}
	return !contains(t.Exclude, column)
}

// field is a column's name in documents.
func (t Table) field(column string) string {
	for _, r := range t.Rename {
		if r.From == column {
			return r.To
		}
	}
	return column
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedNames(m map[string]Table) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// tableOfTopic reports whether a topic carries the table: the topic is the
// table's name or ends with "." and the name.
func tableOfTopic(topic, table string) bool {
	return table != "" && (topic == table || strings.HasSuffix(topic, "."+table))
}

// DataError is an event that cannot be mapped as it is.
type DataError struct {
	Where string // topic/partition/offset
	Msg   string
}

// Error implements error.
func (e *DataError) Error() string { return fmt.Sprintf("relmap: %s: %s", e.Where, e.Msg) }

// IsDataError reports whether err is a *DataError.
func IsDataError(err error) bool {
	var de *DataError
	return errors.As(err, &de)
}

// Package infer builds one schema that covers every document of a stream.
//
// An Inferrer is fed BSON documents and keeps a merged type tree: for each
// field, the BSON kinds seen (in first-seen order), whether it was ever
// missing or null, and for documents and arrays the merged inner types. From
// the tree it renders an Avro schema or a proto3 file.
//
// Merge rules:
//   - A field missing from some documents is optional.
//   - Nulls and empty arrays do not force a type.
//   - Numbers, under schemas.NumbersWiden (the default): int32 and int64
//     widen to int64. Integers widen to double only when every integer seen
//     is exactly representable as a double; otherwise the field becomes a
//     union, so no value ever loses precision. Under schemas.NumbersExact
//     nothing widens: the field is a union of the number types seen, so
//     every value keeps its BSON type (see Config).
//   - Any other conflict becomes a union (Avro) or a oneof (Protobuf) of the
//     kinds seen.
//   - Nested documents merge field by field; arrays merge their elements.
//
// Field order is deterministic: _id first, then the other fields in the order
// they were first seen. New fields are therefore appended, which is what
// schema evolution wants.
package infer

import (
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
)

// MaxDepth is the deepest nesting of documents and arrays accepted, the same
// limit MongoDB applies.
const MaxDepth = 100

// Type is the merged type of the values seen at one place in the documents.
type Type struct {
	kinds []schemas.Kind // non-null kinds, first-seen order
	null  bool           // an explicit null was seen
	// inexactInt is set when an integer that a float64 cannot hold exactly
	// (|v| > 2^53) was seen; then integers never widen to double.
	inexactInt bool
	emptyArray bool      // an empty array was seen
	doc        *Document // merged documents, when KindDocument was seen
	elem       *Type     // merged array elements, when KindArray was seen
	numbers    schemas.Numbers
}

// Document is the merged type of documents seen at one place.
type Document struct {
	n       int // documents merged
	fields  []*Field
	index   map[string]*Field
	numbers schemas.Numbers // how the types below type numbers
}

// Field is one field of a Document.
type Field struct {
	Name string // the original BSON name
	Type *Type
	seen int // documents that had the field
}

// Inferrer merges documents into one type tree. The zero value is not
// usable; call New or NewWith.
type Inferrer struct {
	root *Document
}

// Config configures an Inferrer. The zero value is the default.
type Config struct {
	// Numbers says how a field holding several BSON number types is typed:
	// schemas.NumbersWiden (the default) widens them to one type;
	// schemas.NumbersExact keeps a union of the types seen, so that each
	// value decodes to its own BSON type.
	Numbers schemas.Numbers
}

// New returns an empty Inferrer with the default Config.
func New() *Inferrer { return NewWith(Config{}) }

// NewWith returns an empty Inferrer configured by cfg.
func NewWith(cfg Config) *Inferrer { return &Inferrer{root: newDocument(cfg.Numbers)} }

func newDocument(numbers schemas.Numbers) *Document {
	return &Document{index: map[string]*Field{}, numbers: numbers}
}

// Count returns the number of documents merged.
func (in *Inferrer) Count() int { return in.root.n }

// Root returns the merged type of the top-level documents.
func (in *Inferrer) Root() *Document { return in.root }

// Add merges one document. A document that cannot be merged (invalid BSON,
// a field name repeated in one document, nesting deeper than MaxDepth) is
// rejected with an error naming the field, and the Inferrer is left as it was.
func (in *Inferrer) Add(doc bson.Raw) error {
	if err := rawbson.Validate(doc); err != nil {
		return fmt.Errorf("invalid BSON document: %w", err)
	}
	// Check the whole document first, so a bad document leaves no trace.
	if err := check(bsoncore.Document(doc), "", 0); err != nil {
		return err
	}
	in.root.observe(bsoncore.Document(doc))
	return nil
}

func check(doc bsoncore.Document, path string, depth int) error {
	if depth >= MaxDepth {
		return fmt.Errorf("field %q: nesting deeper than %d levels", path, MaxDepth)
	}
	elems, err := doc.Elements()
	if err != nil {
		return fmt.Errorf("field %q: %w", path, err)
	}
	seen := make(map[string]struct{}, len(elems))
	for _, e := range elems {
		key := e.Key()
		p := joinPath(path, key)
		if _, dup := seen[key]; dup {
			return fmt.Errorf("field %q appears twice in one document", p)
		}
		seen[key] = struct{}{}
		if err := checkValue(e.Value(), p, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(v bsoncore.Value, path string, depth int) error {
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		return check(v.Document(), path, depth)
	case bson.TypeArray:
		if depth >= MaxDepth {
			return fmt.Errorf("field %q: nesting deeper than %d levels", path, MaxDepth)
		}
		vals, err := v.Array().Values()
		if err != nil {
			return fmt.Errorf("field %q: %w", path, err)
		}
		for i, ev := range vals {
			if err := checkValue(ev, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *Document) observe(doc bsoncore.Document) {
	d.n++
	elems, _ := doc.Elements() // validated by check
	for _, e := range elems {
		key := e.Key()
		f := d.index[key]
		if f == nil {
			f = &Field{Name: key, Type: &Type{numbers: d.numbers}}
			d.index[key] = f
			d.fields = append(d.fields, f)
		}
		f.seen++
		f.Type.observe(e.Value())
	}
}

// maxExact is the largest integer magnitude a float64 holds exactly.
const maxExact = 1 << 53

func (t *Type) observe(v bsoncore.Value) {
	k := schemas.KindOf(v)
	if k == schemas.KindNull {
		t.null = true
		return
	}
	t.addKind(k)
	switch k {
	case schemas.KindInt64:
		if i := v.Int64(); i > maxExact || i < -maxExact {
			t.inexactInt = true
		}
	case schemas.KindDocument:
		if t.doc == nil {
			t.doc = newDocument(t.numbers)
		}
		t.doc.observe(v.Document())
	case schemas.KindArray:
		if t.elem == nil {
			t.elem = &Type{numbers: t.numbers}
		}
		vals, _ := v.Array().Values()
		if len(vals) == 0 {
			t.emptyArray = true
		}
		for _, ev := range vals {
			t.elem.observe(ev)
		}
	}
}

func (t *Type) addKind(k schemas.Kind) {
	if !slices.Contains(t.kinds, k) {
		t.kinds = append(t.kinds, k)
	}
}

// Kinds returns the non-null kinds seen, in first-seen order, before widening.
func (t *Type) Kinds() []schemas.Kind { return slices.Clone(t.kinds) }

// Null reports whether an explicit null was seen.
func (t *Type) Null() bool { return t.null }

// Doc returns the merged nested documents, or nil.
func (t *Type) Doc() *Document { return t.doc }

// Elem returns the merged array elements, or nil.
func (t *Type) Elem() *Type { return t.elem }

// EmptyArraySeen reports whether an empty array was seen.
func (t *Type) EmptyArraySeen() bool { return t.emptyArray }

// Variants returns the kinds a schema must offer for this type after
// widening, in first-seen order (a widened kind takes the earliest position
// of the kinds it replaces). Null is not included. Under
// schemas.NumbersExact numbers do not widen, so each number kind seen is a
// variant of its own.
func (t *Type) Variants() []schemas.Kind {
	if t.numbers == schemas.NumbersExact {
		return slices.Clone(t.kinds)
	}
	has := func(k schemas.Kind) bool { return slices.Contains(t.kinds, k) }
	replace := map[schemas.Kind]schemas.Kind{}
	if has(schemas.KindInt32) && has(schemas.KindInt64) {
		replace[schemas.KindInt32] = schemas.KindInt64
	}
	if has(schemas.KindDouble) && (has(schemas.KindInt32) || has(schemas.KindInt64)) && !t.inexactInt {
		replace[schemas.KindInt32] = schemas.KindDouble
		replace[schemas.KindInt64] = schemas.KindDouble
	}
	out := make([]schemas.Kind, 0, len(t.kinds))
	for _, k := range t.kinds {
		if r, ok := replace[k]; ok {
			k = r
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// Fields returns the fields in schema order: _id first, then first-seen order.
func (d *Document) Fields() []*Field {
	out := make([]*Field, 0, len(d.fields))
	if f := d.index["_id"]; f != nil {
		out = append(out, f)
	}
	for _, f := range d.fields {
		if f.Name != "_id" {
			out = append(out, f)
		}
	}
	return out
}

// Field returns the field with the given BSON name, or nil.
func (d *Document) Field(name string) *Field { return d.index[name] }

// Count returns the number of documents merged.
func (d *Document) Count() int { return d.n }

// Optional reports whether the field was missing from some documents.
func (f *Field) Optional(d *Document) bool { return f.seen < d.n }

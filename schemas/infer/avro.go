package infer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/schemaflow/schemaflow/schemas"
)

// Options name the generated schema.
type Options struct {
	// Name is the top-level record or message name. Default "Document".
	Name string
	// Namespace is the Avro namespace or the Protobuf package. Default none.
	Namespace string
}

func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		o.Name = "Document"
	}
	if err := validateFullName("name", o.Name, false); err != nil {
		return o, err
	}
	if err := validateFullName("namespace", o.Namespace, true); err != nil {
		return o, err
	}
	return o, nil
}

// ErrNoDocuments is returned when a schema is asked of an Inferrer that has
// seen no documents.
var ErrNoDocuments = errors.New("no documents to infer a schema from")

// ErrNoID is returned when a key schema is asked and no document had _id.
var ErrNoID = errors.New("no document has an _id field")

// Avro renders the value schema as Avro JSON.
func (in *Inferrer) Avro(opts Options) ([]byte, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if in.root.n == 0 {
		return nil, ErrNoDocuments
	}
	g := newAvroGen()
	rec := g.record(opts.Name, in.root)
	if opts.Namespace != "" {
		rec = slices.Insert(rec, 2, member{"namespace", opts.Namespace})
	}
	return render(rec)
}

// AvroKey renders the key schema: a record with the single field _id, the
// shape of a MongoDB document key.
func (in *Inferrer) AvroKey(opts Options) ([]byte, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	key, err := in.keyDocument()
	if err != nil {
		return nil, err
	}
	g := newAvroGen()
	rec := g.record(opts.Name+"Key", key)
	if opts.Namespace != "" {
		rec = slices.Insert(rec, 2, member{"namespace", opts.Namespace})
	}
	return render(rec)
}

// keyDocument returns a Document holding only the _id field of the root.
func (in *Inferrer) keyDocument() (*Document, error) {
	if in.root.n == 0 {
		return nil, ErrNoDocuments
	}
	id := in.root.index["_id"]
	if id == nil {
		return nil, ErrNoID
	}
	return &Document{n: in.root.n, fields: []*Field{id}, index: map[string]*Field{"_id": id}, numbers: in.root.numbers}, nil
}

// obj is a JSON object that keeps its key order, so output is byte-stable.
type obj []member

type member struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func render(v any) ([]byte, error) {
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, enc, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

type avroGen struct {
	defined nameSet // full names of named types already written
	records nameSet // record names used for documents
}

func newAvroGen() *avroGen {
	return &avroGen{defined: nameSet{}, records: nameSet{}}
}

// record renders a document as an Avro record named name.
func (g *avroGen) record(name string, d *Document) obj {
	name = g.records.unique(name)
	fields := d.Fields()
	originals := make([]string, len(fields))
	for i, f := range fields {
		originals[i] = f.Name
	}
	names := assignNames(originals, nameSet{})
	out := make([]any, 0, len(fields))
	for i, f := range fields {
		optional := f.Optional(d)
		nullable := optional || f.Type.null
		fo := obj{{"name", names[i]}, {"type", g.typ(f.Type, name+"_"+names[i], nullable)}}
		if nullable {
			fo = append(fo, member{"default", nil})
		}
		if names[i] != f.Name {
			fo = append(fo, member{schemas.PropBSONName, f.Name})
		}
		if optional && !f.Type.null {
			fo = append(fo, member{schemas.PropOmitNull, true})
		}
		out = append(out, fo)
	}
	return obj{{"type", "record"}, {"name", name}, {"fields", out}}
}

// typ renders a merged type. With nullable, "null" is the first branch so
// that a default of null is legal.
func (g *avroGen) typ(t *Type, base string, nullable bool) any {
	variants := t.Variants()
	var branches []any
	if nullable || t.null {
		branches = append(branches, "null")
	}
	wrapDate := slices.Contains(variants, schemas.KindInt64)
	for _, k := range variants {
		branches = append(branches, g.kind(k, t, base, wrapDate))
	}
	switch len(branches) {
	case 0:
		return "null"
	case 1:
		return branches[0]
	}
	return branches
}

func (g *avroGen) kind(k schemas.Kind, t *Type, base string, wrapDate bool) any {
	switch k {
	case schemas.KindDouble:
		return "double"
	case schemas.KindString:
		return "string"
	case schemas.KindBool:
		return "boolean"
	case schemas.KindInt32:
		return "int"
	case schemas.KindInt64:
		return "long"
	case schemas.KindBinary:
		return "bytes"
	case schemas.KindDate:
		if wrapDate {
			// A plain long and a timestamp-millis long cannot share a union.
			return g.helper(k)
		}
		return timestampMillis()
	case schemas.KindDocument:
		return g.record(base, t.doc)
	case schemas.KindArray:
		// Element records are named for their role ("_item"), not by order,
		// so that every version of a schema gives the same name to the same
		// place, which evolution relies on.
		items := any("null")
		if t.elem != nil {
			items = g.typ(t.elem, base+"_item", false)
		}
		return obj{{"type", "array"}, {"items", items}}
	}
	return g.helper(k)
}

func timestampMillis() obj { return obj{{"type", "long"}, {"logicalType", "timestamp-millis"}} }

// helper renders the named type of a BSON kind that has no native Avro type:
// its definition on first use, its full name afterwards.
func (g *avroGen) helper(k schemas.Kind) any {
	name := schemas.AvroHelperName(k)
	full := schemas.HelperNamespace + "." + name
	if g.defined[full] {
		return full
	}
	g.defined[full] = true
	head := obj{{"type", "record"}, {"name", name}, {"namespace", schemas.HelperNamespace}}
	field := func(n string, t any) obj { return obj{{"name", n}, {"type", t}} }
	rec := func(fields ...any) obj { return append(head, member{"fields", fields}) }
	switch k {
	case schemas.KindUUID:
		return obj{{"type", "fixed"}, {"name", name}, {"namespace", schemas.HelperNamespace}, {"size", 16}, {"logicalType", "uuid"}}
	case schemas.KindMinKey, schemas.KindMaxKey, schemas.KindUndefined:
		return obj{{"type", "enum"}, {"name", name}, {"namespace", schemas.HelperNamespace}, {"symbols", []string{name}}}
	case schemas.KindBinaryOther:
		return rec(field("subtype", "int"), field("data", "bytes"))
	case schemas.KindObjectID:
		return rec(field("oid", "string"))
	case schemas.KindRegex:
		return rec(field("pattern", "string"), field("options", "string"))
	case schemas.KindJavaScript:
		return rec(field("code", "string"))
	case schemas.KindDecimal128:
		return rec(field("value", "string"))
	case schemas.KindTimestamp:
		return rec(field("t", "long"), field("i", "long"))
	case schemas.KindDBPointer:
		return rec(field("ref", "string"), field("id", g.helper(schemas.KindObjectID)))
	case schemas.KindSymbol:
		return rec(field("symbol", "string"))
	case schemas.KindCodeWithScope:
		return rec(field("code", "string"), field("scope", "bytes"))
	case schemas.KindDate:
		return rec(field("millis", timestampMillis()))
	}
	panic(fmt.Sprintf("infer: no Avro type for kind %s", k)) // unreachable: every kind is listed
}

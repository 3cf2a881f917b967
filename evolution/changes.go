package evolution

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/avro"
)

// The kinds of Change.
const (
	// ChangeAdded: a field the documents have and the schema had not.
	ChangeAdded = "added"
	// ChangeWidened: a type replaced by a wider one (Avro int to long,
	// Protobuf int32 to int64).
	ChangeWidened = "widened"
	// ChangeMadeOptional: a field that may now be missing or null.
	ChangeMadeOptional = "made optional"
	// ChangeUnionGrown: a field that now takes values of more types: new
	// Avro union branches, new Protobuf oneof members.
	ChangeUnionGrown = "union grown"
)

// Change is one field-level difference between two versions of a
// subject's schema, as evolution makes them.
type Change struct {
	Kind string `json:"kind"` // one of the Change* constants
	// Field is the field's BSON path: "gift.note", "items[].qty".
	Field string `json:"field"`
	// From and To describe the field's type before and after; From is
	// empty for an added field.
	From string `json:"from,omitempty"`
	To   string `json:"to"`
}

// String renders the change on one line.
func (c Change) String() string {
	if c.To == "" { // removed
		return fmt.Sprintf("%s %s: %s", c.Kind, c.Field, c.From)
	}
	if c.From == "" {
		return fmt.Sprintf("%s %s: %s", c.Kind, c.Field, c.To)
	}
	return fmt.Sprintf("%s %s: %s -> %s", c.Kind, c.Field, c.From, c.To)
}

// Changes lists the field-level changes from old to next, two versions of
// one subject (next as Evolve makes it), matching fields by BSON name, in
// next's field order. Fields are never removed by evolution, so removals
// are not listed.
func Changes(old, next Schema) ([]Change, error) {
	if old.Format != next.Format {
		return nil, fmt.Errorf("evolution: changes between %s and %s schemas", old.Format, next.Format)
	}
	var out []Change
	switch old.Format {
	case schemas.Avro:
		o, err := avro.Parse(old.Text)
		if err != nil {
			return nil, err
		}
		n, err := avro.Parse(next.Text)
		if err != nil {
			return nil, err
		}
		avroChanges(o.Root, n.Root, "", &out, map[string]bool{})
	case schemas.Protobuf:
		o, err := parseProto(old)
		if err != nil {
			return nil, err
		}
		n, err := parseProto(next)
		if err != nil {
			return nil, err
		}
		if o.fd.Messages().Len() == 0 || n.fd.Messages().Len() == 0 {
			return nil, fmt.Errorf("evolution: a schema declares no message")
		}
		protoChanges(o.fd.Messages().Get(0), n.fd.Messages().Get(0), "", &out, map[string]bool{})
	default:
		return nil, fmt.Errorf("evolution: changes of %s schemas are not supported", old.Format)
	}
	return out, nil
}

func nonNull(t *avro.Type) []*avro.Type {
	var out []*avro.Type
	for _, b := range branches(t) {
		if b.Kind != avro.Null {
			out = append(out, b)
		}
	}
	return out
}

func avroChanges(o, n *avro.Type, path string, out *[]Change, seen map[string]bool) {
	if o.Kind == avro.Record && n.Kind == avro.Record {
		if seen[n.Name] {
			return
		}
		seen[n.Name] = true
		byBSON := map[string]*avro.Field{}
		for _, f := range o.Fields {
			byBSON[f.BSONName] = f
		}
		for _, nf := range n.Fields {
			fpath := joinField(path, nf.BSONName)
			of := byBSON[nf.BSONName]
			if of == nil {
				*out = append(*out, Change{Kind: ChangeAdded, Field: fpath, To: describeAvro(nf.Type)})
				continue
			}
			avroTypeChanges(of.Type, nf.Type, fpath, out, seen)
		}
		return
	}
	avroTypeChanges(o, n, path, out, seen)
}

func avroTypeChanges(o, n *avro.Type, path string, out *[]Change, seen map[string]bool) {
	ob, nb := nonNull(o), nonNull(n)
	switch {
	case len(nb) > len(ob):
		*out = append(*out, Change{Kind: ChangeUnionGrown, Field: path, From: describeAvro(o), To: describeAvro(n)})
	case len(nb) == len(ob):
		for i := range nb {
			if ob[i].Kind != nb[i].Kind || ob[i].Name != nb[i].Name && !(ob[i].Kind == avro.Record && nb[i].Kind == avro.Record) {
				*out = append(*out, Change{Kind: ChangeWidened, Field: path, From: describeAvro(o), To: describeAvro(n)})
				break
			}
		}
	}
	if !nullable(o) && nullable(n) {
		*out = append(*out, Change{Kind: ChangeMadeOptional, Field: path, From: describeAvro(o), To: describeAvro(n)})
	}
	for _, b := range nb {
		var match *avro.Type
		for _, a := range ob {
			if sameSlot(a, b) || documentSlot([]*avro.Type{a}, b) == 0 {
				match = a
				break
			}
		}
		if match == nil {
			continue
		}
		switch b.Kind {
		case avro.Record:
			avroChanges(match, b, path, out, seen)
		case avro.Array:
			avroTypeChanges(match.Items, b.Items, path+"[]", out, seen)
		case avro.Map:
			avroTypeChanges(match.Values, b.Values, path+"{}", out, seen)
		}
	}
}

// describeProto names a field's type as the .proto text would.
func describeProto(fd protoreflect.FieldDescriptor) string {
	s := strings.TrimPrefix(typeString(fd), ".")
	if l := label(fd); l == "repeated" {
		s = l + " " + s
	}
	return s
}

func describeGroup(fds []protoreflect.FieldDescriptor) string {
	if len(fds) == 1 && (fds[0].ContainingOneof() == nil || fds[0].ContainingOneof().IsSynthetic()) {
		return describeProto(fds[0])
	}
	parts := make([]string, len(fds))
	for i, fd := range fds {
		parts[i] = describeProto(fd)
	}
	return "oneof {" + strings.Join(parts, ", ") + "}"
}

// isWrapper reports whether a message is an array wrapper infer writes
// (*_List, *_Item), whose fields are the array's elements, not named
// fields.
func isWrapper(md protoreflect.MessageDescriptor) bool {
	name := string(md.Name())
	return strings.HasSuffix(name, "_List") || strings.HasSuffix(name, "_Item")
}

func protoChanges(o, n protoreflect.MessageDescriptor, path string, out *[]Change, seen map[string]bool) {
	if seen[string(n.FullName())] {
		return
	}
	seen[string(n.FullName())] = true
	wrapper := isWrapper(n)
	_, oldBy := groupsOf(o)
	order, newBy := groupsOf(n)
	for _, bname := range order {
		fpath := joinField(path, bname)
		if wrapper {
			fpath = path
		}
		nfs, ofs := newBy[bname], oldBy[bname]
		if len(ofs) == 0 {
			*out = append(*out, Change{Kind: ChangeAdded, Field: fpath, To: describeGroup(nfs)})
			continue
		}
		byNumber := map[protoreflect.FieldNumber]protoreflect.FieldDescriptor{}
		for _, f := range ofs {
			byNumber[f.Number()] = f
		}
		grown := slices.ContainsFunc(nfs, func(f protoreflect.FieldDescriptor) bool { return byNumber[f.Number()] == nil })
		if grown {
			*out = append(*out, Change{Kind: ChangeUnionGrown, Field: fpath, From: describeGroup(ofs), To: describeGroup(nfs)})
		}
		for _, nf := range nfs {
			of := byNumber[nf.Number()]
			if of == nil {
				continue
			}
			if !grown && typeString(of) != typeString(nf) && (of.Message() == nil || nf.Message() == nil) {
				*out = append(*out, Change{Kind: ChangeWidened, Field: fpath, From: describeProto(of), To: describeProto(nf)})
			}
			om, nm := of.Message(), nf.Message()
			if of.IsMap() || om == nil || nm == nil || nm.ParentFile().Path() != n.ParentFile().Path() {
				continue
			}
			sub := fpath
			if nf.IsList() || isWrapper(nm) && strings.HasSuffix(string(nm.Name()), "_List") {
				sub += "[]"
			}
			if _, helper := nm.Parent().(protoreflect.FileDescriptor); helper && strings.HasPrefix(string(nm.Name()), "Bson") {
				continue
			}
			protoChanges(om, nm, sub, out, seen)
		}
	}
}

// DocumentName returns the name and namespace of a schema's document
// type: the top-level record's name and namespace (Avro), or the first
// message's name and the file's package (Protobuf). Inferring the next
// version under these names lets Evolve match it to a hand-written one.
func DocumentName(s Schema) (name, namespace string, err error) {
	switch s.Format {
	case schemas.Avro:
		p, err := avro.Parse(s.Text)
		if err != nil {
			return "", "", err
		}
		if p.Root.Kind != avro.Record {
			return "", "", fmt.Errorf("evolution: the schema is a %s, not a record", p.Root.Kind)
		}
		full := p.Root.Name
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			return full[i+1:], full[:i], nil
		}
		return full, "", nil
	case schemas.Protobuf:
		pf, err := parseProto(s)
		if err != nil {
			return "", "", err
		}
		if pf.fd.Messages().Len() == 0 {
			return "", "", fmt.Errorf("evolution: the schema declares no message")
		}
		return string(pf.fd.Messages().Get(0).Name()), string(pf.fd.Package()), nil
	}
	return "", "", fmt.Errorf("evolution: %s schemas have no document type", s.Format)
}

package evolution

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/avro"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// The kinds of Change Diff adds to those of Changes: changes that
// evolution never makes, but hand-written versions do.
const (
	// ChangeRemoved: a field the old version had and the new one has not.
	ChangeRemoved = "removed"
	// ChangeRenamed: a field given a new name that still reads the old
	// one: an Avro field whose aliases name the old field, a Protobuf
	// field with the old one's number. From is the old name.
	ChangeRenamed = "renamed"
)

// Diff lists the field-level changes between any two versions of a
// subject: those of Changes (added, widened, made optional, union grown)
// and, for versions written by hand, removed fields and fields renamed by
// an Avro alias or under the same Protobuf number. A renamed field is
// listed once, as renamed, not as added. Fields are matched by BSON name,
// as in Changes; removed fields come after the others.
func Diff(old, next Schema) ([]Change, error) {
	changes, err := Changes(old, next)
	if err != nil {
		return nil, err
	}
	var extra []Change
	switch old.Format {
	case schemas.Avro:
		o, err := avro.Parse(old.Text)
		if err != nil {
			return nil, fmt.Errorf("evolution: %s: %w", nameOr(old, "old schema"), err)
		}
		n, err := avro.Parse(next.Text)
		if err != nil {
			return nil, fmt.Errorf("evolution: %s: %w", nameOr(next, "new schema"), err)
		}
		avroRemovals(o.Root, n.Root, "", &extra, map[string]bool{})
	case schemas.Protobuf:
		o, err := parseProto(old)
		if err != nil {
			return nil, err
		}
		n, err := parseProto(next)
		if err != nil {
			return nil, err
		}
		protoRemovals(o.fd.Messages().Get(0), n.fd.Messages().Get(0), "", &extra, map[string]bool{})
	}
	// A renamed field is not also added.
	renamed := map[string]bool{}
	for _, c := range extra {
		if c.Kind == ChangeRenamed {
			renamed[c.Field] = true
		}
	}
	changes = slices.DeleteFunc(changes, func(c Change) bool { return c.Kind == ChangeAdded && renamed[c.Field] })
	var removed []Change
	for _, c := range extra {
		if c.Kind == ChangeRenamed {
			changes = append(changes, c)
		} else {
			removed = append(removed, c)
		}
	}
	return append(changes, removed...), nil
}

func nameOr(s Schema, def string) string {
	if s.Name != "" {
		return s.Name
	}
	return def
}

// firstRecord returns a type's record branch, or nil.
func firstRecord(t *avro.Type) *avro.Type {
	for _, b := range branches(t) {
		if b.Kind == avro.Record {
			return b
		}
	}
	return nil
}

// elementRecord follows arrays and maps down to a record, naming the path
// as Changes does ("items[]", "tags{}").
func elementRecord(t *avro.Type, path string) (*avro.Type, string) {
	for range 8 { // nesting of arrays and maps; deeper ones are not diffed
		if r := firstRecord(t); r != nil {
			return r, path
		}
		var next *avro.Type
		for _, b := range branches(t) {
			switch b.Kind {
			case avro.Array:
				next, path = b.Items, path+"[]"
			case avro.Map:
				next, path = b.Values, path+"{}"
			}
			if next != nil {
				break
			}
		}
		if next == nil {
			return nil, path
		}
		t = next
	}
	return nil, path
}

func avroRemovals(o, n *avro.Type, path string, out *[]Change, seen map[string]bool) {
	if o == nil || n == nil || o.Kind != avro.Record || n.Kind != avro.Record || seen[n.Name] {
		return
	}
	seen[n.Name] = true
	newByBSON := map[string]*avro.Field{}
	for _, f := range n.Fields {
		newByBSON[f.BSONName] = f
	}
	for _, of := range o.Fields {
		fpath := joinField(path, of.BSONName)
		nf := newByBSON[of.BSONName]
		if nf == nil {
			// Renamed when a new field, absent from the old version, lists
			// the old name among its aliases.
			for _, cand := range n.Fields {
				if slices.Contains(cand.Aliases, of.Name) && !slices.ContainsFunc(o.Fields, func(f *avro.Field) bool { return f.BSONName == cand.BSONName }) {
					nf = cand
					*out = append(*out, Change{Kind: ChangeRenamed, Field: joinField(path, cand.BSONName), From: of.BSONName, To: cand.BSONName})
					break
				}
			}
			if nf == nil {
				*out = append(*out, Change{Kind: ChangeRemoved, Field: fpath, From: describeAvro(of.Type)})
				continue
			}
			fpath = joinField(path, nf.BSONName)
		}
		or, opath := elementRecord(of.Type, fpath)
		nr, _ := elementRecord(nf.Type, fpath)
		avroRemovals(or, nr, opath, out, seen)
	}
}

func protoRemovals(o, n protoreflect.MessageDescriptor, path string, out *[]Change, seen map[string]bool) {
	if o == nil || n == nil || seen[string(n.FullName())] {
		return
	}
	seen[string(n.FullName())] = true
	wrapper := isWrapper(n)
	newByBSON := map[string]bool{}
	nf := n.Fields()
	for i := range nf.Len() {
		newByBSON[protobuf.BSONName(nf.Get(i))] = true
	}
	of := o.Fields()
	for i := range of.Len() {
		ofd := of.Get(i)
		oname := protobuf.BSONName(ofd)
		fpath := joinField(path, oname)
		if wrapper {
			fpath = path
		}
		nfd := nf.ByNumber(ofd.Number())
		switch {
		case nfd == nil && !newByBSON[oname]:
			*out = append(*out, Change{Kind: ChangeRemoved, Field: fpath, From: describeProto(ofd)})
			continue
		case nfd == nil:
			continue // moved to another number: listed by Changes as a type change
		case protobuf.BSONName(nfd) != oname && !wrapper:
			fpath = joinField(path, protobuf.BSONName(nfd))
			*out = append(*out, Change{Kind: ChangeRenamed, Field: fpath, From: oname, To: protobuf.BSONName(nfd)})
		}
		om, nm := ofd.Message(), nfd.Message()
		if ofd.IsMap() || om == nil || nm == nil || nm.ParentFile().Path() != n.ParentFile().Path() {
			continue
		}
		sub := fpath
		if nfd.IsList() || isWrapper(nm) && len(nm.Name()) > 5 && string(nm.Name())[len(nm.Name())-5:] == "_List" {
			sub += "[]"
		}
		protoRemovals(om, nm, sub, out, seen)
	}
}

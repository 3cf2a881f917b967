package evolution

import (
	"fmt"
	"slices"
	"strings"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/avro"
)

// EvolveError reports that no next version can cover the new documents and
// stay compatible at the level. Pipelines branch on it to send the records
// that caused it to their dead-letter topic, or to stop.
type EvolveError struct {
	// Field is the BSON path of the field that cannot evolve, or "" when the
	// problem is the whole schema.
	Field string
	// Rule names the cause, one of the Rule* constants.
	Rule   string
	Reason string
	Level  Level
	// Issues are the compatibility problems, when the candidate version
	// failed the check.
	Issues []Issue
}

// The causes of an EvolveError.
const (
	// RuleLevelForbidsChange: the documents need a change (a wider type, a
	// missing field) that earlier readers cannot take at a FORWARD or FULL
	// level.
	RuleLevelForbidsChange = "LEVEL_FORBIDS_CHANGE"
	// RuleIncompatible: the candidate version fails the compatibility check.
	RuleIncompatible = "INCOMPATIBLE"
	// RuleUnsupported: the schema uses something evolution does not handle
	// (another format, a renamed document, a taken name).
	RuleUnsupported = "UNSUPPORTED"
)

// Error implements error.
func (e *EvolveError) Error() string {
	var b strings.Builder
	b.WriteString("evolution: ")
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	fmt.Fprintf(&b, "%s (%s, level %s)", e.Reason, e.Rule, e.Level)
	for _, is := range e.Issues {
		b.WriteString("; " + is.String())
	}
	return b.String()
}

// Evolve returns the next version of a subject's schema: one that covers
// both the latest version in history (oldest first) and the schema inferred
// from new documents, and that Check accepts at level against the history.
// changed is false, and next is the latest version, when the latest version
// already covers the inferred schema: then no new version is registered.
//
// Fields are matched by their BSON names and never removed. New fields are
// optional with a null default. A type is widened only when it does not
// already carry the new values (an int32 fits a long, an int fits a double),
// by promotion (int to long) or else by a union; and only at levels whose
// old readers accept it (NONE, BACKWARD, BACKWARD_TRANSITIVE). At FORWARD
// and FULL levels a needed widening is an *EvolveError naming the field.
//
// Evolve uses the default options; EvolveWith takes others.
func Evolve(level Level, history []Schema, inferred Schema) (next Schema, changed bool, err error) {
	return EvolveWith(level, history, inferred, EvolveOptions{})
}

// EvolveOptions configure EvolveWith. The zero value is the default.
type EvolveOptions struct {
	// Numbers says how number types grow. schemas.NumbersWiden (the
	// default): a long carries int values and a double carries integers,
	// and an int is promoted to long. schemas.NumbersExact: a number type
	// carries only its own BSON type, so a field registered as int that
	// now sees a double or an int64 gains a union branch (Avro) or a oneof
	// member (Protobuf) instead, and every value decodes to its own BSON
	// type. Use the mode the documents were inferred with.
	Numbers schemas.Numbers
}

// EvolveWith is Evolve configured by opts.
func EvolveWith(level Level, history []Schema, inferred Schema, opts EvolveOptions) (next Schema, changed bool, err error) {
	exact := opts.Numbers == schemas.NumbersExact
	if len(history) == 0 {
		if _, err := parse(inferred); err != nil {
			return Schema{}, false, err
		}
		return inferred, true, nil
	}
	latest := history[len(history)-1]
	if latest.Format != inferred.Format {
		return Schema{}, false, &EvolveError{Rule: RuleUnsupported, Reason: fmt.Sprintf("the subject holds %s schemas, not %s", latest.Format, inferred.Format), Level: level}
	}
	var text []byte
	switch inferred.Format {
	case schemas.Avro:
		text, changed, err = evolveAvro(level, latest, inferred, exact)
	case schemas.Protobuf:
		text, changed, err = evolveProto(level, history, inferred, exact)
	default:
		return Schema{}, false, fmt.Errorf("evolution of %s schemas is not supported", inferred.Format)
	}
	if err != nil {
		return Schema{}, false, err
	}
	if !changed {
		return latest, false, nil
	}
	next = inferred
	next.Text = text
	next.Name = ""
	// Never propose what the registry would reject.
	res, err := Check(level, next, history)
	if err != nil {
		return Schema{}, false, fmt.Errorf("evolution produced an invalid schema: %w", err)
	}
	if !res.Compatible {
		return Schema{}, false, &EvolveError{Rule: RuleIncompatible, Reason: "the next version would be incompatible", Level: level, Issues: res.Issues}
	}
	return next, true, nil
}

func evolveAvro(level Level, latest, inferred Schema, exactNumbers bool) ([]byte, bool, error) {
	// Parse afresh: the merge edits the tree.
	old, err := avro.Parse(latest.Text)
	if err != nil {
		return nil, false, err
	}
	nw, err := avro.Parse(inferred.Text)
	if err != nil {
		return nil, false, err
	}
	m := &avroMerger{level: level, widen: !level.Forward(), exactNumbers: exactNumbers, named: old.NamedTypes()}
	root, changed, err := m.merge(old.Root, nw.Root, "")
	if err != nil || !changed {
		return nil, false, err
	}
	text, err := avro.Marshal(root)
	return text, true, err
}

type avroMerger struct {
	level Level
	widen bool // whether types may widen (old readers need not read new data)
	// exactNumbers keeps BSON number types apart: no number type carries
	// another, and an int is not promoted to long.
	exactNumbers bool
	// named holds the named types of the merged tree. In Avro a name is one
	// type, so a new type whose name exists is merged into that one.
	named map[string]*avro.Type
}

// adopt brings a type from the new schema into the merged tree: named types
// whose names the tree already has are merged into those, so that every
// name keeps a single definition.
func (m *avroMerger) adopt(t *avro.Type, path string) (*avro.Type, error) {
	switch t.Kind {
	case avro.Record, avro.Enum, avro.Fixed:
		if ex := m.named[t.Name]; ex != nil {
			if ex == t {
				return t, nil
			}
			if ex.Kind != t.Kind || (t.Kind == avro.Fixed && ex.Size != t.Size) {
				return nil, m.refuse(path, "type %q already names a different %s", t.Name, ex.Kind)
			}
			merged, _, err := m.merge(ex, t, path)
			return merged, err
		}
		m.named[t.Name] = t
		for _, f := range t.Fields {
			ft, err := m.adopt(f.Type, joinField(path, f.BSONName))
			if err != nil {
				return nil, err
			}
			f.Type = ft
		}
	case avro.Array:
		items, err := m.adopt(t.Items, path+"[]")
		if err != nil {
			return nil, err
		}
		t.Items = items
	case avro.Map:
		values, err := m.adopt(t.Values, path+"{}")
		if err != nil {
			return nil, err
		}
		t.Values = values
	case avro.Union:
		for i, b := range t.Branches {
			bt, err := m.adopt(b, path)
			if err != nil {
				return nil, err
			}
			t.Branches[i] = bt
		}
	}
	return t, nil
}

func (m *avroMerger) refuse(path, format string, args ...any) error {
	rule := RuleLevelForbidsChange
	if m.widen {
		rule = RuleUnsupported
	}
	return &EvolveError{Field: path, Rule: rule, Reason: fmt.Sprintf(format, args...), Level: m.level}
}

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func branches(t *avro.Type) []*avro.Type {
	if t.Kind == avro.Union {
		return t.Branches
	}
	return []*avro.Type{t}
}

func nullable(t *avro.Type) bool {
	for _, b := range branches(t) {
		if b.Kind == avro.Null {
			return true
		}
	}
	return false
}

// merge returns a type that carries the values of both o and n, built by
// editing o; changed reports whether it differs from o.
func (m *avroMerger) merge(o, n *avro.Type, path string) (*avro.Type, bool, error) {
	if o.Kind != avro.Union && n.Kind != avro.Union && (sameSlot(o, n) || documentSlot([]*avro.Type{o}, n) == 0) {
		switch o.Kind {
		case avro.Record:
			changed, err := m.record(o, n, path)
			return o, changed, err
		case avro.Array:
			items, changed, err := m.merge(o.Items, n.Items, path+"[]")
			o.Items = items
			return o, changed, err
		case avro.Map:
			values, changed, err := m.merge(o.Values, n.Values, path+"{}")
			o.Values = values
			return o, changed, err
		case avro.Enum:
			changed := false
			for _, s := range n.Symbols {
				if !contains(o.Symbols, s) {
					if !m.widen {
						return o, false, m.refuse(path, "new enum symbol %q cannot be read by earlier readers", s)
					}
					o.Symbols = append(o.Symbols, s)
					changed = true
				}
			}
			return o, changed, nil
		}
		return o, false, nil // the same primitive, fixed or helper type
	}
	return m.union(o, n, path)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sameSlot reports whether two non-union types are the same union slot:
// the same named type, or the same unnamed type with the same logical type.
func sameSlot(a, b *avro.Type) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case avro.Record, avro.Enum, avro.Fixed:
		return a.Name == b.Name
	}
	return a.Logical == b.Logical
}

// documentSlot returns the index of the branch a document record of
// another name merges into: the one record of out that is not a bson
// helper, when nb is a record that is not one either. Records are named
// by whoever wrote them (Gift) or by inference (Order_gift): a document's
// place, not its name, makes it the same. -1 when there is none.
func documentSlot(out []*avro.Type, nb *avro.Type) int {
	if nb.Kind != avro.Record || strings.HasPrefix(nb.Name, "bson.") {
		return -1
	}
	slot := -1
	for i, ob := range out {
		if ob.Kind == avro.Record && !strings.HasPrefix(ob.Name, "bson.") {
			if slot >= 0 {
				return -1
			}
			slot = i
		}
	}
	return slot
}

// carries reports whether a branch of kind o already takes the values of a
// branch of kind n through the encoder's lossless coercions. With
// exactNumbers the encoder makes none between numbers, so none carries.
// An enum (not a bson helper) carries strings.
func carries(o, n *avro.Type, exactNumbers bool) bool {
	// A hand-written enum takes its symbols, written as strings; the
	// encoder refuses any other string by name.
	if o.Kind == avro.Enum && n.Kind == avro.String && n.Logical == "" && !strings.HasPrefix(o.Name, "bson.") {
		return true
	}
	if o.Logical != "" || n.Logical != "" || exactNumbers {
		return false
	}
	switch o.Kind {
	case avro.Long:
		return n.Kind == avro.Int
	case avro.Double:
		return n.Kind == avro.Int || n.Kind == avro.Float
	}
	return false
}

func (m *avroMerger) union(o, n *avro.Type, path string) (*avro.Type, bool, error) {
	out := append([]*avro.Type(nil), branches(o)...)
	changed := false
	for _, nb := range branches(n) {
		if nb.Kind == avro.Null && nullable(o) {
			continue
		}
		// A plain long and a timestamp-millis long cannot share a union: the
		// date goes into the bson.Date helper record, which carries it.
		if nb.Kind == avro.Long && hasLong(out, nb.Logical == "") {
			date, err := m.adopt(dateHelper(), path)
			if err != nil {
				return o, false, err
			}
			if nb.Logical != "" {
				nb = date
			} else if m.widen {
				// The timestamp branch gives way to bson.Date; old data keeps
				// reading through the plain long, as logical types do not
				// take part in resolution.
				hasDate := false
				for _, ob := range out {
					hasDate = hasDate || ob == date
				}
				kept := out[:0:0]
				for _, ob := range out {
					if ob.Kind == avro.Long && ob.Logical != "" {
						if !hasDate {
							kept = append(kept, date)
							hasDate = true
						}
						continue
					}
					kept = append(kept, ob)
				}
				out, changed = kept, true
			}
		}
		slot := -1
		for i, ob := range out {
			if sameSlot(ob, nb) {
				slot = i
				break
			}
		}
		if slot < 0 {
			slot = documentSlot(out, nb)
		}
		if slot >= 0 {
			merged, c, err := m.merge(out[slot], nb, path)
			if err != nil {
				return o, false, err
			}
			out[slot], changed = merged, changed || c
			continue
		}
		covered := false
		for _, ob := range out {
			covered = covered || carries(ob, nb, m.exactNumbers)
		}
		if covered {
			continue
		}
		if !m.widen {
			return o, false, m.refuse(path, "values of type %s cannot be written as %s without breaking earlier readers", describeAvro(nb), describeAvro(o))
		}
		// Promote an int to long rather than add a branch, when that covers
		// it and int values need not stay int.
		if nb.Kind == avro.Long && nb.Logical == "" && !m.exactNumbers {
			promoted := false
			for i, ob := range out {
				if ob.Kind == avro.Int && ob.Logical == "" {
					out[i] = &avro.Type{Kind: avro.Long}
					promoted = true
				}
			}
			if promoted {
				changed = true
				continue
			}
		}
		nb, err := m.adopt(nb, path)
		if err != nil {
			return o, false, err
		}
		if nb.Kind == avro.Null {
			out = append([]*avro.Type{nb}, out...) // null first, for a null default
		} else {
			out = append(out, nb)
		}
		changed = true
	}
	if !changed {
		return o, false, nil
	}
	if len(out) == 1 {
		return out[0], true, nil
	}
	return &avro.Type{Kind: avro.Union, Branches: out}, true, nil
}

// hasLong reports whether a branch is a long whose logical type is set
// (withLogical) or unset (!withLogical).
func hasLong(bs []*avro.Type, withLogical bool) bool {
	for _, b := range bs {
		if b.Kind == avro.Long && (b.Logical != "") == withLogical {
			return true
		}
	}
	return false
}

// dateHelper returns the bson.Date helper record, which carries a date
// where a plain long takes the long branch of a union.
func dateHelper() *avro.Type {
	s, err := avro.Parse([]byte(`{"type":"record","name":"bson.Date","fields":[{"name":"millis","type":{"type":"long","logicalType":"timestamp-millis"}}]}`))
	if err != nil {
		panic(err) // a constant schema
	}
	return s.Root
}

func describeAvro(t *avro.Type) string {
	switch {
	case t.Name != "":
		return fmt.Sprintf("%s %q", t.Kind, t.Name)
	case t.Logical != "":
		return fmt.Sprintf("%s (%s)", t.Kind, t.Logical)
	case t.Kind == avro.Union:
		parts := make([]string, len(t.Branches))
		for i, b := range t.Branches {
			parts[i] = describeAvro(b)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return t.Kind.String()
}

// makeOptional turns a field into ["null", T] with a null default, which
// every reader accepts for a field some documents lack. A field with a
// default other than null keeps it: it becomes [T, "null"], its default's
// type first.
func makeOptional(f *avro.Field) {
	if f.HasDefault && f.Default != nil {
		if !nullable(f.Type) {
			f.Type = &avro.Type{Kind: avro.Union, Branches: append(branches(f.Type), &avro.Type{Kind: avro.Null})}
		}
		return
	}
	if !nullable(f.Type) {
		f.Type = &avro.Type{Kind: avro.Union, Branches: append([]*avro.Type{{Kind: avro.Null}}, branches(f.Type)...)}
	} else if f.Type.Kind == avro.Union && f.Type.Branches[0].Kind != avro.Null {
		// A null default needs null first.
		var rest []*avro.Type
		for _, b := range f.Type.Branches {
			if b.Kind != avro.Null {
				rest = append(rest, b)
			}
		}
		f.Type.Branches = append([]*avro.Type{{Kind: avro.Null}}, rest...)
	}
	f.Default, f.HasDefault = nil, true
}

// keepDefaultFirst moves the branch of a field's default (first, the
// first branch before the merge, or the long it was promoted to) back to
// the front of the union, where Avro wants the default's type.
func keepDefaultFirst(f *avro.Field, first *avro.Type) {
	if f.Type.Kind != avro.Union {
		return
	}
	bs := f.Type.Branches
	for i, b := range bs {
		if b == first || sameSlot(b, first) || first.Kind == avro.Int && b.Kind == avro.Long && b.Logical == "" {
			if i > 0 {
				f.Type.Branches = append([]*avro.Type{b}, append(slices.Clone(bs[:i]), bs[i+1:]...)...)
			}
			return
		}
	}
}

func setProp(f *avro.Field, key string, v any) {
	if f.Props == nil {
		f.Props = map[string]any{}
	}
	f.Props[key] = v
}

// record merges the fields of n into o, matching them by BSON name.
func (m *avroMerger) record(o, n *avro.Type, path string) (bool, error) {
	changed := false
	taken := map[string]bool{}
	byBSON := map[string]*avro.Field{}
	for _, f := range o.Fields {
		taken[f.Name] = true
		byBSON[f.BSONName] = f
	}
	seen := map[string]bool{}
	for _, nf := range n.Fields {
		fpath := joinField(path, nf.BSONName)
		seen[nf.BSONName] = true
		of := byBSON[nf.BSONName]
		if of == nil {
			// A new field: optional, so that every reader copes.
			f := nf
			ft, err := m.adopt(f.Type, fpath)
			if err != nil {
				return false, err
			}
			f.Type = ft
			if taken[f.Name] {
				base := f.Name
				for i := 2; taken[f.Name]; i++ {
					f.Name = fmt.Sprintf("%s_%d", base, i)
				}
				setProp(f, schemas.PropBSONName, f.BSONName)
			}
			if !nullable(f.Type) || !f.HasDefault {
				makeOptional(f)
				setProp(f, schemas.PropOmitNull, true)
				f.OmitNull = true
			}
			taken[f.Name] = true
			o.Fields = append(o.Fields, f)
			changed = true
			continue
		}
		first := branches(of.Type)[0]
		t, c, err := m.merge(of.Type, nf.Type, fpath)
		if err != nil {
			return false, err
		}
		of.Type, changed = t, changed || c
		if of.HasDefault && of.Default != nil {
			keepDefaultFirst(of, first)
		}
		if nullable(nf.Type) && !(nullable(of.Type) && of.HasDefault) {
			if !m.widen {
				return false, m.refuse(fpath, "documents lack the field, and earlier readers require it")
			}
			makeOptional(of)
			changed = true
		}
		if of.OmitNull && !nf.OmitNull && nullable(nf.Type) {
			// Explicit nulls now occur: keep them on decoding.
			of.OmitNull = false
			delete(of.Props, schemas.PropOmitNull)
			changed = true
		}
	}
	// Fields the new documents lack must tolerate their absence.
	for _, of := range o.Fields {
		if seen[of.BSONName] || nullable(of.Type) || of.HasDefault {
			continue
		}
		if !m.widen {
			return false, m.refuse(joinField(path, of.BSONName), "documents lack the field, and earlier readers require it")
		}
		makeOptional(of)
		setProp(of, schemas.PropOmitNull, true)
		of.OmitNull = true
		changed = true
	}
	return changed, nil
}

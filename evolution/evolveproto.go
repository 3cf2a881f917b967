package evolution

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// Protobuf evolution merges the inferred file into a model of the latest
// version, then edits the latest version's text to match the model (see
// protoedit.go): what the new version does not need to change (options,
// comments, reserved ranges and names, services, imports, enums, layout)
// is kept as written.

type pmFile struct {
	syntax   string
	pkg      string
	imports  []string
	messages []*pmMsg
	enums    []*pmEnum
}

type pmMsg struct {
	name   string
	full   string
	items  []*pmItem // fields and oneofs in declaration order
	nested []*pmMsg
	enums  []*pmEnum
	// reservedNames are the field names the message reserves.
	reservedNames []string
	// old marks a message of the latest version, whose text is edited.
	old bool
}

type pmItem struct {
	field *pmField
	oneof *pmOneof
}

type pmOneof struct {
	name   string
	fields []*pmField
	old    bool // declared in the latest version
}

type pmField struct {
	label    string
	typ      string // scalar name, ".full.Name", or "map<K, V>"
	name     string
	number   int
	jsonName string // written when not empty
	kind     schemas.Kind
	elemKind schemas.Kind // the kind of one element, for repeated fields
	// enum marks a field of an enum type (not NullValue), which the codec
	// writes strings (value names) and int32s (numbers) into.
	enum bool
	// was is the field as the latest version declares it, nil for a new
	// field; the text is edited where they differ.
	was *pmField
}

type pmEnum struct {
	name   string
	values []string // "NAME = N"
}

func typeString(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return fmt.Sprintf("map<%s, %s>", typeString(fd.MapKey()), typeString(fd.MapValue()))
	case fd.Message() != nil:
		return "." + string(fd.Message().FullName())
	case fd.Enum() != nil:
		return "." + string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

// kindItem marks an _Item wrapper: array elements of several kinds.
const kindItem schemas.Kind = 250

// elemKindOf is the kind of one value of a field: for a repeated field, of
// one element.
func elemKindOf(fd protoreflect.FieldDescriptor) schemas.Kind {
	if fd.Message() != nil && protobuf.IsItemName(string(fd.Message().Name())) {
		return kindItem
	}
	if fd.IsList() {
		return bsonKindOf(scalarOnly{fd})
	}
	return bsonKindOf(fd)
}

// scalarOnly hides that a field is repeated, to classify its elements.
type scalarOnly struct{ protoreflect.FieldDescriptor }

func (scalarOnly) IsList() bool { return false }

func (scalarOnly) Cardinality() protoreflect.Cardinality { return protoreflect.Optional }

// bsonKindOf is the BSON kind a field carries, as infer writes them; 0 for
// types infer does not write.
func bsonKindOf(fd protoreflect.FieldDescriptor) schemas.Kind {
	if fd.IsList() {
		return schemas.KindArray
	}
	switch fd.Kind() {
	case protoreflect.DoubleKind:
		return schemas.KindDouble
	case protoreflect.StringKind:
		return schemas.KindString
	case protoreflect.BoolKind:
		return schemas.KindBool
	case protoreflect.Int32Kind:
		return schemas.KindInt32
	case protoreflect.Int64Kind:
		return schemas.KindInt64
	case protoreflect.BytesKind:
		return schemas.KindBinary
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			return schemas.KindNull
		}
	case protoreflect.MessageKind:
		md := fd.Message()
		name := string(md.Name())
		switch {
		case md.FullName() == "google.protobuf.Timestamp":
			return schemas.KindDate
		case protobuf.IsListName(name):
			return schemas.KindArray
		}
		if k, ok := protobuf.HelperKind(md); ok {
			return k
		}
		return schemas.KindDocument
	}
	return 0
}

func modelField(fd protoreflect.FieldDescriptor) *pmField {
	f := &pmField{label: label(fd), typ: typeString(fd), name: string(fd.Name()), number: int(fd.Number()), kind: bsonKindOf(fd), elemKind: elemKindOf(fd)}
	f.enum = fd.Kind() == protoreflect.EnumKind && fd.Enum().FullName() != "google.protobuf.NullValue"
	if fd.JSONName() != protobuf.DefaultJSONName(f.name) {
		f.jsonName = fd.JSONName()
	}
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		f.label = ""
	}
	return f
}

func modelEnum(ed protoreflect.EnumDescriptor) *pmEnum {
	e := &pmEnum{name: string(ed.Name())}
	for i := 0; i < ed.Values().Len(); i++ {
		v := ed.Values().Get(i)
		e.values = append(e.values, fmt.Sprintf("%s = %d", v.Name(), v.Number()))
	}
	return e
}

func modelMessage(md protoreflect.MessageDescriptor) *pmMsg {
	m := &pmMsg{name: string(md.Name()), full: string(md.FullName())}
	oneofs := map[string]*pmOneof{}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			o := oneofs[string(od.Name())]
			if o == nil {
				o = &pmOneof{name: string(od.Name())}
				oneofs[o.name] = o
				m.items = append(m.items, &pmItem{oneof: o})
			}
			o.fields = append(o.fields, modelField(fd))
			continue
		}
		m.items = append(m.items, &pmItem{field: modelField(fd)})
	}
	for i := 0; i < md.Messages().Len(); i++ {
		if nd := md.Messages().Get(i); !nd.IsMapEntry() {
			m.nested = append(m.nested, modelMessage(nd))
		}
	}
	for i := 0; i < md.Enums().Len(); i++ {
		m.enums = append(m.enums, modelEnum(md.Enums().Get(i)))
	}
	for i := 0; i < md.ReservedNames().Len(); i++ {
		m.reservedNames = append(m.reservedNames, string(md.ReservedNames().Get(i)))
	}
	return m
}

// markOld marks every message, oneof and field of a model as the latest
// version's, remembering each field as declared.
func (f *pmFile) markOld() {
	var walk func(m *pmMsg)
	walk = func(m *pmMsg) {
		m.old = true
		for _, it := range m.items {
			if it.field != nil {
				was := *it.field
				it.field.was = &was
				continue
			}
			it.oneof.old = true
			for _, x := range it.oneof.fields {
				was := *x
				x.was = &was
			}
		}
		for _, n := range m.nested {
			walk(n)
		}
	}
	for _, m := range f.messages {
		walk(m)
	}
}

func modelFile(fd protoreflect.FileDescriptor) *pmFile {
	f := &pmFile{syntax: fd.Syntax().String(), pkg: string(fd.Package())}
	for i := 0; i < fd.Imports().Len(); i++ {
		f.imports = append(f.imports, fd.Imports().Get(i).Path())
	}
	for i := 0; i < fd.Messages().Len(); i++ {
		f.messages = append(f.messages, modelMessage(fd.Messages().Get(i)))
	}
	for i := 0; i < fd.Enums().Len(); i++ {
		f.enums = append(f.enums, modelEnum(fd.Enums().Get(i)))
	}
	return f
}

func (f *pmFile) render() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "syntax = %q;\n", f.syntax)
	if f.pkg != "" {
		fmt.Fprintf(&b, "\npackage %s;\n", f.pkg)
	}
	if len(f.imports) > 0 {
		b.WriteByte('\n')
		for _, imp := range f.imports {
			fmt.Fprintf(&b, "import %q;\n", imp)
		}
	}
	for _, m := range f.messages {
		b.WriteByte('\n')
		m.render(&b, "")
	}
	for _, e := range f.enums {
		b.WriteByte('\n')
		e.render(&b, "")
	}
	return b.Bytes()
}

func (f *pmField) line() string {
	var b strings.Builder
	if f.label != "" {
		b.WriteString(f.label + " ")
	}
	fmt.Fprintf(&b, "%s %s = %d", f.typ, f.name, f.number)
	if f.jsonName != "" {
		fmt.Fprintf(&b, " [json_name = %s]", strconv.Quote(f.jsonName))
	}
	return b.String() + ";"
}

func (m *pmMsg) render(b *bytes.Buffer, indent string) {
	fmt.Fprintf(b, "%smessage %s {\n", indent, m.name)
	for _, it := range m.items {
		if it.field != nil {
			fmt.Fprintf(b, "%s  %s\n", indent, it.field.line())
			continue
		}
		fmt.Fprintf(b, "%s  oneof %s {\n", indent, it.oneof.name)
		for _, f := range it.oneof.fields {
			fmt.Fprintf(b, "%s    %s\n", indent, f.line())
		}
		fmt.Fprintf(b, "%s  }\n", indent)
	}
	for _, n := range m.nested {
		b.WriteByte('\n')
		n.render(b, indent+"  ")
	}
	for _, e := range m.enums {
		b.WriteByte('\n')
		e.render(b, indent+"  ")
	}
	fmt.Fprintf(b, "%s}\n", indent)
}

func (e *pmEnum) render(b *bytes.Buffer, indent string) {
	fmt.Fprintf(b, "%senum %s {\n", indent, e.name)
	for _, v := range e.values {
		fmt.Fprintf(b, "%s  %s;\n", indent, v)
	}
	fmt.Fprintf(b, "%s}\n", indent)
}

// numberUse records, per message full name, the field numbers any version
// of the history used or reserved, so that numbers are never reused.
type numberUse struct {
	max      map[string]int          // the highest used or reserved
	taken    map[string]map[int]bool // every number used
	reserved map[string][][2]int     // reserved ranges, inclusive
}

// maxFieldNumber is the highest field number Protobuf allows.
const maxFieldNumber = 536870911

func maxNumbers(history []Schema) (*numberUse, error) {
	u := &numberUse{max: map[string]int{}, taken: map[string]map[int]bool{}, reserved: map[string][][2]int{}}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		full := string(md.FullName())
		if u.taken[full] == nil {
			u.taken[full] = map[int]bool{}
		}
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			n := int(fields.Get(i).Number())
			u.max[full] = max(u.max[full], n)
			u.taken[full][n] = true
		}
		rr := md.ReservedRanges()
		for i := 0; i < rr.Len(); i++ {
			r := [2]int{int(rr.Get(i)[0]), min(int(rr.Get(i)[1])-1, maxFieldNumber)}
			u.max[full] = max(u.max[full], r[1])
			u.reserved[full] = append(u.reserved[full], r)
		}
		for i := 0; i < md.Messages().Len(); i++ {
			walk(md.Messages().Get(i))
		}
	}
	for _, h := range history {
		pf, err := parseProto(h)
		if err != nil {
			return nil, err
		}
		for i := 0; i < pf.fd.Messages().Len(); i++ {
			walk(pf.fd.Messages().Get(i))
		}
	}
	return u, nil
}

// free reports whether number n may be given to a new field of msg.
func (u *numberUse) free(msg string, n int) bool {
	if n < 1 || n > maxFieldNumber || n >= 19000 && n <= 19999 || u.taken[msg][n] {
		return false
	}
	for _, r := range u.reserved[msg] {
		if n >= r[0] && n <= r[1] {
			return false
		}
	}
	return true
}

// next takes the number of a new field of msg: the one after the highest
// used or reserved; when a reservation reaches the maximum, the lowest
// number never used nor reserved.
func (u *numberUse) next(msg string) int {
	n := u.max[msg] + 1
	if n >= 19000 && n <= 19999 { // reserved by Protobuf
		n = 20000
	}
	if n > maxFieldNumber {
		n = 1
		for !u.free(msg, n) && n <= maxFieldNumber {
			n++
		}
	} else {
		u.max[msg] = n
	}
	if u.taken[msg] == nil {
		u.taken[msg] = map[int]bool{}
	}
	u.taken[msg][n] = true
	return n
}

type protoMerger struct {
	level Level
	widen bool
	used  *numberUse
	file  *pmFile
	nfile protoreflect.FileDescriptor
	// rename maps the full name of a message of the new file to the full
	// name it has in the merged model, where the two differ.
	rename map[string]string
	copied map[string]bool // messages of the new file already copied
	// reserved holds, per model message, the JSON names of the batch being
	// merged into it.
	reserved map[*pmMsg][]string

	// exactNumbers keeps int32 and int64 apart: neither carries the other,
	// and int32 does not widen in place; a new kind joins a oneof.
	exactNumbers bool
}

// field models a field of the new file, with its type named as in the model.
func (m *protoMerger) field(fd protoreflect.FieldDescriptor) *pmField {
	f := modelField(fd)
	f.typ = m.renamed(f.typ)
	return f
}

func (m *protoMerger) renamed(typ string) string {
	if strings.HasPrefix(typ, "map<") {
		return typ // map values are scalars or helpers in inferred schemas
	}
	if to, ok := m.rename[strings.TrimPrefix(typ, ".")]; ok {
		return "." + to
	}
	return typ
}

// copyMessage models a message of the new file under a new full name, with
// its nested messages and the types its fields name renamed to match.
func (m *protoMerger) copyMessage(md protoreflect.MessageDescriptor, full string) *pmMsg {
	var record func(d protoreflect.MessageDescriptor, to string)
	record = func(d protoreflect.MessageDescriptor, to string) {
		if string(d.FullName()) != to {
			m.rename[string(d.FullName())] = to
		}
		for i := 0; i < d.Messages().Len(); i++ {
			n := d.Messages().Get(i)
			record(n, to+"."+string(n.Name()))
		}
	}
	record(md, full)
	var build func(d protoreflect.MessageDescriptor, to string) *pmMsg
	build = func(d protoreflect.MessageDescriptor, to string) *pmMsg {
		x := modelMessage(d)
		x.full = to
		x.name = to[strings.LastIndexByte(to, '.')+1:]
		for _, it := range x.items {
			if it.field != nil {
				it.field.typ = m.renamed(it.field.typ)
			} else {
				for _, f := range it.oneof.fields {
					f.typ = m.renamed(f.typ)
				}
			}
		}
		x.nested = nil
		for i := 0; i < d.Messages().Len(); i++ {
			if n := d.Messages().Get(i); !n.IsMapEntry() {
				x.nested = append(x.nested, build(n, to+"."+string(n.Name())))
			}
		}
		return x
	}
	return build(md, full)
}

func (m *protoMerger) refuse(path, format string, args ...any) error {
	return m.refuseRule(RuleUnsupported, path, format, args...)
}

func (m *protoMerger) refuseRule(rule, path, format string, args ...any) error {
	return &EvolveError{Field: path, Rule: rule, Reason: fmt.Sprintf(format, args...), Level: m.level}
}

func (m *protoMerger) next(msg string) int { return m.used.next(msg) }

func evolveProto(level Level, history []Schema, inferred Schema, exactNumbers bool) ([]byte, bool, error) {
	old, err := parseProto(history[len(history)-1])
	if err != nil {
		return nil, false, err
	}
	nw, err := parseProto(inferred)
	if err != nil {
		return nil, false, err
	}
	if old.fd.Package() != nw.fd.Package() {
		return nil, false, &EvolveError{Reason: fmt.Sprintf("the package changed from %q to %q", old.fd.Package(), nw.fd.Package()), Level: level}
	}
	used, err := maxNumbers(history)
	if err != nil {
		return nil, false, err
	}
	m := &protoMerger{level: level, widen: !level.Forward(), exactNumbers: exactNumbers, used: used, file: modelFile(old.fd), nfile: nw.fd, rename: map[string]string{}, copied: map[string]bool{}, reserved: map[*pmMsg][]string{}}
	m.file.markOld()
	if old.fd.Messages().Len() == 0 || nw.fd.Messages().Len() == 0 {
		return nil, false, &EvolveError{Reason: "a schema declares no message", Level: level}
	}
	oTop, nTop := old.fd.Messages().Get(0), nw.fd.Messages().Get(0)
	if oTop.Name() != nTop.Name() {
		return nil, false, &EvolveError{Reason: fmt.Sprintf("the document message is %s, not %s", oTop.Name(), nTop.Name()), Level: level}
	}
	changed, err := m.message(m.file.messages[0], nTop, "")
	if err != nil || !changed {
		return nil, false, err
	}
	for _, imp := range importsOf(nw.fd) {
		if !slices.Contains(m.file.imports, imp) {
			m.file.imports = append(m.file.imports, imp)
		}
	}
	latest := history[len(history)-1]
	text, err := editProto(latest.Text, m.file, importsOf(old.fd))
	if err != nil {
		return nil, false, err
	}
	// Never propose a version that protoc would reject.
	next, err := parseProto(Schema{Format: schemas.Protobuf, Text: text, ImportPaths: latest.ImportPaths, Dependencies: latest.Dependencies, References: latest.References})
	if err != nil {
		return nil, false, fmt.Errorf("evolution produced an invalid schema: %w", err)
	}
	// The edited text must declare exactly the merged model.
	if got, want := modelFile(next.fd).render(), m.file.render(); !bytes.Equal(got, want) {
		return nil, false, fmt.Errorf("evolution: editing the latest version went wrong: %s", firstDifference(got, want))
	}
	if err := protobuf.CheckProtocNames(next.fd); err != nil {
		return nil, false, &EvolveError{Rule: RuleUnsupported, Reason: fmt.Sprintf("the next version would break protoc's naming rules: %v", err), Level: level}
	}
	return text, true, nil
}

func importsOf(fd protoreflect.FileDescriptor) []string {
	var out []string
	for i := 0; i < fd.Imports().Len(); i++ {
		out = append(out, fd.Imports().Get(i).Path())
	}
	return out
}

// groupsOf returns a message's fields grouped by BSON name, in order.
func groupsOf(md protoreflect.MessageDescriptor) ([]string, map[string][]protoreflect.FieldDescriptor) {
	var order []string
	byName := map[string][]protoreflect.FieldDescriptor{}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := protobuf.BSONName(fd)
		if _, seen := byName[name]; !seen {
			order = append(order, name)
		}
		byName[name] = append(byName[name], fd)
	}
	return order, byName
}

// message merges the new message nd into the model om.
func (m *protoMerger) message(om *pmMsg, nd protoreflect.MessageDescriptor, path string) (bool, error) {
	// Index the model's items by BSON name: a field, a oneof of its kinds,
	// or a repeated field with its <field>__more oneof. The model keeps
	// json names only where they differ from the default, as BSONName
	// reads them.
	fieldBSON := map[string]string{}
	for _, it := range om.items {
		if it.field != nil {
			name := it.field.name
			if it.field.jsonName != "" {
				name = protobuf.UnescapeJSONName(it.field.jsonName)
			}
			fieldBSON[it.field.name] = name
		}
	}
	oldByName := map[string][]*pmItem{}
	for _, it := range om.items {
		if it.field != nil {
			name := fieldBSON[it.field.name]
			oldByName[name] = append(oldByName[name], it)
			continue
		}
		name := it.oneof.name
		if base, ok := strings.CutSuffix(name, protobuf.MoreSuffix); ok {
			name = base
			if bn, ok := fieldBSON[base]; ok {
				name = bn
			}
		} else {
			for _, f := range it.oneof.fields {
				if f.jsonName != "" {
					name = protobuf.UnescapeJSONName(f.jsonName)
					break
				}
			}
		}
		oldByName[name] = append(oldByName[name], it)
	}
	changed := false
	order, newByName := groupsOf(nd)
	// Every BSON name of the batch ends up the JSON name of the field that
	// carries it, so new fields without a json_name keep clear of them.
	m.reserved[om] = make([]string, 0, len(order))
	for _, bname := range order {
		m.reserved[om] = append(m.reserved[om], protobuf.EscapeJSONName(bname))
	}
	for _, bname := range order {
		fpath := joinField(path, bname)
		nfs := newByName[bname]
		items := oldByName[bname]
		if len(items) == 0 {
			if err := m.addGroup(om, bname, nfs, fpath); err != nil {
				return false, err
			}
			changed = true
			continue
		}
		c, err := m.mergeGroup(om, items, nfs, fpath)
		if err != nil {
			return false, err
		}
		changed = changed || c
	}
	return changed, nil
}

// scope returns the names taken in the model message om under protoc's
// rules, with the JSON names reserved for the batch being merged into it.
func (m *protoMerger) scope(om *pmMsg) *protobuf.NameScope {
	s := protobuf.NewNameScope()
	for _, it := range om.items {
		if it.field != nil {
			s.AddField(it.field.name, it.field.jsonName)
			continue
		}
		s.AddSymbol(it.oneof.name)
		for _, f := range it.oneof.fields {
			s.AddField(f.name, f.jsonName)
		}
	}
	for _, n := range om.nested {
		s.AddSymbol(n.name)
	}
	for _, e := range om.enums {
		s.AddSymbol(e.name)
		for _, v := range e.values {
			if name, _, ok := strings.Cut(v, " "); ok {
				s.AddSymbol(name)
			}
		}
	}
	for _, j := range m.reserved[om] {
		s.TakeJSON(j)
	}
	// A reserved name is not a field's to take: a document field of that
	// name gets another, and keeps its own in json_name.
	for _, r := range om.reservedNames {
		s.AddSymbol(r)
	}
	return s
}

// freeJSON makes the JSON name want free in om for a new field, by giving
// an explicit json_name to the field whose JSON name it is, without
// changing the field's name, number or BSON name: a field whose default
// JSON name it is gets its BSON name; a further member of a oneof of kinds
// (once the first member carries the BSON name) or of a <field>__more
// oneof, which carries no BSON name, gets a fresh one.
func (m *protoMerger) freeJSON(om *pmMsg, want, path string) error {
	for range len(om.items) + 1 {
		f, o := holderOfJSON(om, want)
		if f == nil {
			return nil
		}
		if o != nil && (strings.HasSuffix(o.name, protobuf.MoreSuffix) || isKindOneof(o) && f != o.fields[0]) {
			if isKindOneof(o) && o.fields[0].jsonName == "" {
				// The codec takes the first json_name among the members as
				// the BSON name: the first member must carry it first.
				if err := m.setJSON(om, o.fields[0], o.name, path); err != nil {
					return err
				}
			}
			f.jsonName = m.scope(om).FreshJSONName(f.name)
			continue
		}
		if f.jsonName != "" || o != nil && !isKindOneof(o) {
			return m.refuse(path, "the JSON name %q is taken by field %s of %s", want, f.name, om.name)
		}
		bname := f.name // no json_name: the field carries its own name
		if o != nil {
			bname = o.name // the first member carries the oneof's
		}
		if err := m.setJSON(om, f, bname, path); err != nil {
			return err
		}
	}
	return m.refuse(path, "cannot free the JSON name %q in %s", want, om.name)
}

// setJSON gives f a json_name carrying bname, freeing it first.
func (m *protoMerger) setJSON(om *pmMsg, f *pmField, bname, path string) error {
	j := protobuf.EscapeJSONName(bname)
	if err := m.freeJSON(om, j, path); err != nil {
		return err
	}
	f.jsonName = j
	return nil
}

// holderOfJSON returns the field of om whose effective JSON name is j, and
// its oneof.
func holderOfJSON(om *pmMsg, j string) (*pmField, *pmOneof) {
	for _, it := range om.items {
		if it.field != nil {
			if protobuf.EffectiveJSONName(it.field.name, it.field.jsonName) == j {
				return it.field, nil
			}
			continue
		}
		for _, f := range it.oneof.fields {
			if protobuf.EffectiveJSONName(f.name, f.jsonName) == j {
				return f, it.oneof
			}
		}
	}
	return nil, nil
}

// isKindOneof reports whether a model oneof holds the kinds of one BSON
// field, as protobuf.IsKindOneof does for a descriptor.
func isKindOneof(o *pmOneof) bool {
	for _, f := range o.fields {
		if !protobuf.IsKindMember(o.name, f.name) {
			return false
		}
	}
	return true
}

// memberKind returns the <kind> part of the name of a member of a oneof of
// kinds.
func memberKind(nf protoreflect.FieldDescriptor) string {
	rest := strings.TrimPrefix(string(nf.Name()), string(nf.ContainingOneof().Name())+"_")
	if j := strings.LastIndexByte(rest, '_'); j >= 0 {
		if _, err := strconv.Atoi(rest[j+1:]); err == nil {
			rest = rest[:j]
		}
	}
	return rest
}

// addGroup adds a BSON field the message did not have, with new numbers,
// and names chosen against the message's: the BSON name itself where it is
// a free identifier, else a sanitized, numbered form and a json_name.
func (m *protoMerger) addGroup(om *pmMsg, bname string, nfs []protoreflect.FieldDescriptor, path string) error {
	for _, nf := range nfs {
		if err := m.bringType(om, nf); err != nil {
			return err
		}
	}
	ej := protobuf.EscapeJSONName(bname)
	if len(nfs) == 1 && (nfs[0].ContainingOneof() == nil || nfs[0].ContainingOneof().IsSynthetic()) {
		f := m.field(nfs[0])
		s := m.scope(om)
		f.name = s.FieldName(bname, false)
		def := protobuf.DefaultJSONName(f.name)
		f.jsonName = ""
		if f.name != bname || def != bname && s.HasJSON(def) {
			f.jsonName = ej
		}
		if protobuf.EffectiveJSONName(f.name, f.jsonName) == ej {
			if err := m.freeJSON(om, ej, path); err != nil {
				return err
			}
		}
		f.number = m.next(om.full)
		om.items = append(om.items, &pmItem{field: f})
		return nil
	}
	o := &pmOneof{name: m.scope(om).FieldName(bname, true)}
	if o.name != bname {
		// The first member carries the BSON name.
		if err := m.freeJSON(om, ej, path); err != nil {
			return err
		}
	}
	s := m.scope(om)
	s.AddSymbol(o.name)
	s.TakeJSON(ej)
	for i, nf := range nfs {
		f := m.field(nf)
		f.name = s.MemberName(o.name, memberKind(nf))
		f.label, f.jsonName = "", ""
		if i == 0 && o.name != bname {
			f.jsonName = ej
		}
		f.number = m.next(om.full)
		o.fields = append(o.fields, f)
	}
	om.items = append(om.items, &pmItem{oneof: o})
	return nil
}

// errNewVariant tells mergeGroup that an array needs a new variant.
var errNewVariant = fmt.Errorf("needs a new variant")

// mergeGroup merges new variants of a BSON field into the items that carry
// it: a field, a oneof of its kinds, or a repeated field and its __more
// oneof.
func (m *protoMerger) mergeGroup(om *pmMsg, items []*pmItem, nfs []protoreflect.FieldDescriptor, path string) (bool, error) {
	changed := false
	for _, nf := range nfs {
		var variants []*pmField
		for _, it := range items {
			if it.field != nil {
				variants = append(variants, it.field)
			} else {
				variants = append(variants, it.oneof.fields...)
			}
		}
		nk := bsonKindOf(nf)
		nlabel := label(nf)
		found := false
		for _, ov := range variants {
			switch {
			case ov.kind == schemas.KindArray && nk == schemas.KindArray:
				c, err := m.mergeArray(om, ov, nf, path)
				if err == errNewVariant {
					continue // another array member may take it, or a new one
				}
				if err != nil {
					return false, err
				}
				found, changed = true, changed || c
			case ov.kind == nk && ov.kind != 0 && (ov.label == "repeated") == (nlabel == "repeated"):
				found = true
				if err := m.mergeTypes(om, ov, nf, path); err != nil {
					return false, err
				}
				if nk == schemas.KindDocument {
					c, err := m.mergeNested(om, ov, nf, path)
					if err != nil {
						return false, err
					}
					changed = changed || c
				}
			case ov.kind == schemas.KindInt64 && nk == schemas.KindInt32 && !m.exactNumbers:
				found = true // an int32 fits an int64 field
			case ov.enum && (ov.label == "repeated") == (nlabel == "repeated") && (nk == schemas.KindString || nk == schemas.KindInt32):
				// A hand-written enum field takes its value names and
				// numbers; the codec refuses any other value by name.
				found = true
			case ov.kind == schemas.KindInt32 && nk == schemas.KindInt64 && (ov.label == "repeated") == (nlabel == "repeated") && !m.exactNumbers:
				// int32 and int64 share the wire encoding: widen in place.
				ov.typ, ov.kind = "int64", schemas.KindInt64
				found, changed = true, true
			}
			if found {
				break
			}
		}
		if found {
			continue
		}
		if nk == 0 {
			return false, m.refuse(path, "the field's new type %s cannot be added", typeString(nf))
		}
		if !m.widen {
			return false, m.refuseRule(RuleLevelForbidsChange, path, "values of a new kind (%s) cannot be read by earlier readers", nk)
		}
		if err := m.bringType(om, nf); err != nil {
			return false, err
		}
		oneof, err := m.oneofFor(om, &items, path)
		if err != nil {
			return false, err
		}
		f := m.field(nf)
		if nf.IsList() {
			// A oneof member cannot be repeated: the array goes into a _List
			// message, as infer writes arrays inside oneofs.
			listName := m.scope(om).MessageName(infer.MessageName(oneof.name) + protobuf.ListSuffix)
			list := &pmMsg{name: listName, full: om.full + "." + listName, items: []*pmItem{{field: &pmField{
				label: "repeated", typ: f.typ, name: protobuf.ListField, number: 1, kind: schemas.KindArray, elemKind: f.elemKind,
			}}}}
			om.nested = append(om.nested, list)
			f.typ, f.elemKind = "."+list.full, schemas.KindArray
		}
		f.name = m.scope(om).MemberName(oneof.name, nk.String())
		f.label, f.jsonName = "", ""
		f.number = m.next(om.full)
		oneof.fields = append(oneof.fields, f)
		changed = true
	}
	return changed, nil
}

// oneofFor returns the oneof that takes a new kind of a BSON field: its
// existing oneof; for a singular field, a oneof the field is moved into
// (its first member keeps the number and type, so old data still reads);
// for a repeated field, which cannot join a oneof, a <field>__more oneof
// beside it.
func (m *protoMerger) oneofFor(om *pmMsg, items *[]*pmItem, path string) (*pmOneof, error) {
	for _, it := range *items {
		if it.oneof != nil {
			return it.oneof, nil
		}
	}
	it := (*items)[0]
	old := it.field
	switch {
	case old.label == "repeated":
		// The codec finds the field a __more oneof extends by its name.
		name := old.name + protobuf.MoreSuffix
		if m.scope(om).HasSymbol(name) {
			return nil, m.refuse(path, "the name %q, needed for more kinds of the array field %s, is taken in %s", name, old.name, om.name)
		}
		o := &pmOneof{name: name}
		more := &pmItem{oneof: o}
		at := slices.Index(om.items, it)
		om.items = slices.Insert(om.items, at+1, more)
		*items = append(*items, more)
		return o, nil
	case old.label == "required" || old.kind == 0:
		return nil, m.refuse(path, "a %s field cannot take values of another kind", strings.TrimSpace(old.label+" "+old.typ))
	}
	bname := old.name
	if old.jsonName != "" {
		bname = protobuf.UnescapeJSONName(old.jsonName)
	}
	s := m.scope(om)
	s.RemoveField(old.name, old.jsonName)
	o := &pmOneof{name: old.name}
	if strings.HasSuffix(o.name, protobuf.MoreSuffix) {
		o.name = s.DeriveFieldName(bname, true)
	} else {
		s.AddSymbol(o.name)
	}
	// The field keeps its number and type as the first member; its BSON
	// name, when not the oneof's, stays in its json_name.
	old.name = s.MemberName(o.name, old.kind.String())
	old.label = ""
	old.jsonName = ""
	if bname != o.name {
		old.jsonName = protobuf.EscapeJSONName(bname)
	}
	o.fields = []*pmField{old}
	it.field, it.oneof = nil, o
	return o, nil
}

// mergeArray merges the elements of a new array field into an existing
// array field, whatever each side's representation (a plain repeated field,
// or an _List message keeping [] apart from a missing field).
func (m *protoMerger) mergeArray(om *pmMsg, ov *pmField, nf protoreflect.FieldDescriptor, path string) (bool, error) {
	oldElem := ov
	if ov.label != "repeated" {
		holder := m.find(strings.TrimPrefix(ov.typ, "."))
		if holder == nil || len(holder.items) != 1 || holder.items[0].field == nil {
			return false, m.refuse(path, "message %s is not an array wrapper", ov.typ)
		}
		oldElem = holder.items[0].field
	}
	newElem := nf
	if !nf.IsList() {
		if newElem = nf.Message().Fields().ByName(protobuf.ListField); newElem == nil {
			return false, m.refuse(path, "message %s is not an array wrapper", nf.Message().FullName())
		}
	}
	ok, nk := oldElem.elemKind, elemKindOf(newElem)
	switch {
	case ok == kindItem && nk == kindItem:
		return m.message(m.find(strings.TrimPrefix(oldElem.typ, ".")), newElem.Message(), path+"[]")
	case ok == kindItem:
		// A new element kind joins the wrapper's oneof of kinds.
		item := m.find(strings.TrimPrefix(oldElem.typ, "."))
		if item == nil || len(item.items) != 1 || item.items[0].oneof == nil {
			return false, m.refuse(path, "message %s is not an element wrapper", oldElem.typ)
		}
		return m.mergeGroup(item, item.items, []protoreflect.FieldDescriptor{scalarOnly{newElem}}, path+"[]")
	case ok == nk && (ok == schemas.KindDocument || ok == schemas.KindArray):
		target := m.find(strings.TrimPrefix(oldElem.typ, "."))
		if target == nil {
			return false, m.refuse(path, "message %s is not in the schema", oldElem.typ)
		}
		return m.message(target, newElem.Message(), path+"[]")
	case ok == nk:
		return false, nil
	case ok == schemas.KindInt64 && nk == schemas.KindInt32 && !m.exactNumbers:
		return false, nil
	case ok == schemas.KindInt32 && nk == schemas.KindInt64 && !m.exactNumbers:
		oldElem.typ, oldElem.elemKind = "int64", schemas.KindInt64
		if oldElem.label != "repeated" {
			oldElem.kind = schemas.KindInt64
		}
		return true, nil
	}
	return false, errNewVariant // elements of another kind: another array member
}

// mergeTypes checks that a variant keeps its type where kinds match.
func (m *protoMerger) mergeTypes(om *pmMsg, ov *pmField, nf protoreflect.FieldDescriptor, path string) error {
	if nf.Message() == nil || ov.kind == schemas.KindDocument || ov.kind == schemas.KindArray {
		return nil
	}
	if ov.typ != typeString(nf) && ov.kind != schemas.KindBinaryOther {
		return m.refuse(path, "the field's type changed from %s to %s", ov.typ, typeString(nf))
	}
	return nil
}

// mergeNested merges the message a document or list field refers to.
func (m *protoMerger) mergeNested(om *pmMsg, ov *pmField, nf protoreflect.FieldDescriptor, path string) (bool, error) {
	nd := nf.Message()
	if nd == nil {
		if ov.typ != typeString(nf) {
			return false, m.refuse(path, "the array's element type changed from %s to %s", ov.typ, typeString(nf))
		}
		return false, nil
	}
	target := m.find(strings.TrimPrefix(ov.typ, "."))
	if target == nil {
		return false, m.refuse(path, "message %s is not in the schema", ov.typ)
	}
	return m.message(target, nd, path)
}

// find returns the model message with the given full name.
func (m *protoMerger) find(full string) *pmMsg {
	var walk func(ms []*pmMsg) *pmMsg
	walk = func(ms []*pmMsg) *pmMsg {
		for _, x := range ms {
			if x.full == full {
				return x
			}
			if r := walk(x.nested); r != nil {
				return r
			}
		}
		return nil
	}
	return walk(m.file.messages)
}

// bringType copies into the model the message a new field refers to, when
// the model lacks it: a message nested in the new field's message goes into
// host, the model message that corresponds to it (whose name may differ);
// a top-level message (a helper) goes to the file.
func (m *protoMerger) bringType(host *pmMsg, nf protoreflect.FieldDescriptor) error {
	if nf.IsMap() {
		nf = nf.MapValue()
	}
	md := nf.Message()
	if md == nil || md.ParentFile().Path() != m.nfile.Path() {
		return nil
	}
	if _, top := md.Parent().(protoreflect.FileDescriptor); top {
		if m.find(string(md.FullName())) == nil {
			m.file.messages = append(m.file.messages, m.copyMessage(md, string(md.FullName())))
		}
		return m.bringFields(md)
	}
	if m.copied[string(md.FullName())] {
		return nil
	}
	m.copied[string(md.FullName())] = true
	// The type belongs to a new field or a new variant: a message of the
	// same name in host belongs to another variant, so the copy takes a
	// free name.
	name := m.scope(host).MessageName(string(md.Name()))
	host.nested = append(host.nested, m.copyMessage(md, host.full+"."+name))
	return m.bringFields(md)
}

// bringFields brings the top-level helpers the fields of a copied message
// refer to.
func (m *protoMerger) bringFields(md protoreflect.MessageDescriptor) error {
	var walk func(d protoreflect.MessageDescriptor) error
	walk = func(d protoreflect.MessageDescriptor) error {
		fields := d.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			t := fd.Message()
			if t == nil || t.ParentFile().Path() != m.nfile.Path() {
				continue
			}
			if _, top := t.Parent().(protoreflect.FileDescriptor); top && m.find(string(t.FullName())) == nil {
				m.file.messages = append(m.file.messages, m.copyMessage(t, string(t.FullName())))
				if err := walk(t); err != nil {
					return err
				}
			}
		}
		for i := 0; i < d.Messages().Len(); i++ {
			if err := walk(d.Messages().Get(i)); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(md)
}

// firstDifference describes where two texts first differ, by line.
func firstDifference(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d declares %q, not %q", i+1, gl, wl)
		}
	}
	return "no difference"
}

package evolution

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// The Protobuf difference types, with Confluent's names.
const (
	PackageChanged                 = "PACKAGE_CHANGED"
	MessageAdded                   = "MESSAGE_ADDED"
	MessageRemoved                 = "MESSAGE_REMOVED"
	MessageMoved                   = "MESSAGE_MOVED"
	EnumAdded                      = "ENUM_ADDED"
	EnumRemoved                    = "ENUM_REMOVED"
	EnumConstAdded                 = "ENUM_CONST_ADDED"
	EnumConstChanged               = "ENUM_CONST_CHANGED"
	EnumConstRemoved               = "ENUM_CONST_REMOVED"
	FieldAdded                     = "FIELD_ADDED"
	FieldRemoved                   = "FIELD_REMOVED"
	FieldNameChanged               = "FIELD_NAME_CHANGED"
	FieldKindChanged               = "FIELD_KIND_CHANGED"
	FieldScalarKindChanged         = "FIELD_SCALAR_KIND_CHANGED"
	FieldNamedTypeChanged          = "FIELD_NAMED_TYPE_CHANGED"
	FieldNumericLabelChanged       = "FIELD_NUMERIC_LABEL_CHANGED"
	FieldStringOrBytesLabelChanged = "FIELD_STRING_OR_BYTES_LABEL_CHANGED"
	RequiredFieldAdded             = "REQUIRED_FIELD_ADDED"
	RequiredFieldRemoved           = "REQUIRED_FIELD_REMOVED"
	OneofAdded                     = "ONEOF_ADDED"
	OneofRemoved                   = "ONEOF_REMOVED"
	OneofFieldAdded                = "ONEOF_FIELD_ADDED"
	OneofFieldRemoved              = "ONEOF_FIELD_REMOVED"
	OneofFieldMovedToTopLevel      = "ONEOF_FIELD_MOVED_TO_TOP_LEVEL"
	MultipleFieldsMovedToOneof     = "MULTIPLE_FIELDS_MOVED_TO_ONEOF"
	FieldMovedToExistingOneof      = "FIELD_MOVED_TO_EXISTING_ONEOF"
)

// compatibleChanges are the differences Confluent accepts under BACKWARD.
var compatibleChanges = map[string]bool{
	MessageAdded: true, MessageMoved: true, EnumAdded: true, EnumRemoved: true,
	EnumConstAdded: true, EnumConstChanged: true, EnumConstRemoved: true,
	FieldAdded: true, FieldRemoved: true, FieldNameChanged: true,
	FieldStringOrBytesLabelChanged: true, OneofAdded: true, OneofRemoved: true,
	OneofFieldAdded: true, OneofFieldMovedToTopLevel: true,
}

var diffMessages = map[string]string{
	PackageChanged:                 "the package changed",
	MessageAdded:                   "a message was added",
	MessageRemoved:                 "a message was removed",
	MessageMoved:                   "a message moved",
	EnumAdded:                      "an enum was added",
	EnumRemoved:                    "an enum was removed",
	EnumConstAdded:                 "an enum constant was added",
	EnumConstChanged:               "an enum constant was renamed",
	EnumConstRemoved:               "an enum constant was removed",
	FieldAdded:                     "a field was added",
	FieldRemoved:                   "a field was removed",
	FieldNameChanged:               "a field was renamed",
	FieldKindChanged:               "the field changed kind (scalar, message or map)",
	FieldScalarKindChanged:         "the field's scalar type changed to one that is not wire-compatible",
	FieldNamedTypeChanged:          "the field's message type changed incompatibly",
	FieldNumericLabelChanged:       "the label (optional, repeated, required) of a numeric field changed",
	FieldStringOrBytesLabelChanged: "the label of a string or bytes field changed",
	RequiredFieldAdded:             "a required field was added",
	RequiredFieldRemoved:           "a required field was removed",
	OneofAdded:                     "a oneof was added",
	OneofRemoved:                   "a oneof was removed",
	OneofFieldAdded:                "a field was added to a oneof",
	OneofFieldRemoved:              "a field was removed from a oneof",
	OneofFieldMovedToTopLevel:      "a field moved out of its oneof",
	MultipleFieldsMovedToOneof:     "several existing fields moved into one oneof",
	FieldMovedToExistingOneof:      "an existing field joined a oneof with other existing fields",
}

// Difference is one change between two Protobuf schemas.
type Difference struct {
	Type string
	Path string // "#/Message/3"
}

// String renders the difference as Confluent's tests write it.
func (d Difference) String() string { return d.Type + " " + d.Path }

// DiffProtobuf lists the differences from original to update, as
// Confluent's SchemaDiff.compare does.
func DiffProtobuf(original, update Schema) ([]Difference, error) {
	o, err := parseProto(original)
	if err != nil {
		return nil, err
	}
	u, err := parseProto(update)
	if err != nil {
		return nil, err
	}
	return protoDiff(o, u), nil
}

// protoFile is a compiled file with the registry references of its imports.
type protoFile struct {
	fd   protoreflect.FileDescriptor
	refs map[string]Reference
}

func parseProto(s Schema) (*protoFile, error) {
	name := s.Name
	if name == "" || !strings.HasSuffix(name, ".proto") {
		name = "schema.proto"
	}
	ps, err := protobuf.Compile(name, s.Text, protobuf.Options{ImportPaths: s.ImportPaths, Sources: s.Dependencies})
	if err != nil {
		return nil, err
	}
	return &protoFile{fd: ps.File, refs: s.References}, nil
}

func protoIncompatible(diffs []Difference) []Issue {
	var issues []Issue
	for _, d := range diffs {
		if !compatibleChanges[d.Type] {
			issues = append(issues, Issue{Type: d.Type, Path: d.Path, Message: diffMessages[d.Type]})
		}
	}
	return issues
}

type diffCtx struct {
	orig, upd *protoFile
	path      []string
	visiting  map[protoreflect.FullName]bool // original messages being compared
	diffs     []Difference
}

func (c *diffCtx) add(typ string) {
	c.diffs = append(c.diffs, Difference{Type: typ, Path: "#/" + strings.Join(c.path, "/")})
}

func (c *diffCtx) enter(part string) func() {
	c.path = append(c.path, part)
	return func() { c.path = c.path[:len(c.path)-1] }
}

func (c *diffCtx) compatible() bool {
	for _, d := range c.diffs {
		if !compatibleChanges[d.Type] {
			return false
		}
	}
	return true
}

func protoDiff(orig, upd *protoFile) []Difference {
	c := &diffCtx{orig: orig, upd: upd, visiting: map[protoreflect.FullName]bool{}}
	if orig.fd.Package() != upd.fd.Package() {
		c.add(PackageChanged)
	}
	c.typeElements(orig.fd.Messages(), orig.fd.Enums(), upd.fd.Messages(), upd.fd.Enums())
	return c.diffs
}

// messages returns the messages by name with their index among messages,
// leaving out map entries, which do not exist in the .proto text.
func messages(ms protoreflect.MessageDescriptors) (map[string]protoreflect.MessageDescriptor, map[string]int) {
	byName := map[string]protoreflect.MessageDescriptor{}
	index := map[string]int{}
	n := 0
	for i := 0; i < ms.Len(); i++ {
		m := ms.Get(i)
		if m.IsMapEntry() {
			continue
		}
		byName[string(m.Name())] = m
		index[string(m.Name())] = n
		n++
	}
	return byName, index
}

func enums(es protoreflect.EnumDescriptors) map[string]protoreflect.EnumDescriptor {
	out := map[string]protoreflect.EnumDescriptor{}
	for i := 0; i < es.Len(); i++ {
		out[string(es.Get(i).Name())] = es.Get(i)
	}
	return out
}

func sortedUnion[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func (c *diffCtx) typeElements(om protoreflect.MessageDescriptors, oe protoreflect.EnumDescriptors, um protoreflect.MessageDescriptors, ue protoreflect.EnumDescriptors) {
	oMsgs, oIdx := messages(om)
	uMsgs, uIdx := messages(um)
	for _, name := range sortedUnion(oMsgs, uMsgs) {
		leave := c.enter(name)
		o, u := oMsgs[name], uMsgs[name]
		switch {
		case u == nil:
			c.add(MessageRemoved)
		case o == nil:
			c.add(MessageAdded)
		default:
			c.message(o, u)
			if oIdx[name] != uIdx[name] {
				c.add(MessageMoved)
			}
		}
		leave()
	}
	oEnums, uEnums := enums(oe), enums(ue)
	for _, name := range sortedUnion(oEnums, uEnums) {
		leave := c.enter(name)
		o, u := oEnums[name], uEnums[name]
		switch {
		case u == nil:
			c.add(EnumRemoved)
		case o == nil:
			c.add(EnumAdded)
		default:
			c.enum(o, u)
		}
		leave()
	}
}

func (c *diffCtx) enum(o, u protoreflect.EnumDescriptor) {
	ov, uv := map[int]string{}, map[int]string{}
	for i := 0; i < o.Values().Len(); i++ {
		ov[int(o.Values().Get(i).Number())] = string(o.Values().Get(i).Name())
	}
	for i := 0; i < u.Values().Len(); i++ {
		uv[int(u.Values().Get(i).Number())] = string(u.Values().Get(i).Name())
	}
	for _, n := range sortedTags(ov, uv) {
		leave := c.enter(strconv.Itoa(n))
		on, inO := ov[n]
		un, inU := uv[n]
		switch {
		case !inU:
			c.add(EnumConstRemoved)
		case !inO:
			c.add(EnumConstAdded)
		case on != un:
			c.add(EnumConstChanged)
		}
		leave()
	}
}

func sortedTags[V any](a, b map[int]V) []int {
	tags := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			tags = append(tags, k)
		}
	}
	slices.Sort(tags)
	return tags
}

// oneofOf returns the name of the real (not synthetic) oneof holding fd.
func oneofOf(fd protoreflect.FieldDescriptor) string {
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		return string(od.Name())
	}
	return ""
}

type msgFields struct {
	byTag   map[int]protoreflect.FieldDescriptor
	oneofOf map[int]string
	oneofs  map[string][]protoreflect.FieldDescriptor
	order   []string // oneof names in declaration order
}

func collectFields(md protoreflect.MessageDescriptor) msgFields {
	f := msgFields{byTag: map[int]protoreflect.FieldDescriptor{}, oneofOf: map[int]string{}, oneofs: map[string][]protoreflect.FieldDescriptor{}}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		f.byTag[int(fd.Number())] = fd
		if o := oneofOf(fd); o != "" {
			f.oneofOf[int(fd.Number())] = o
			if _, seen := f.oneofs[o]; !seen {
				f.order = append(f.order, o)
			}
			f.oneofs[o] = append(f.oneofs[o], fd)
		}
	}
	return f
}

func (c *diffCtx) message(o, u protoreflect.MessageDescriptor) {
	if c.visiting[o.FullName()] {
		return
	}
	c.visiting[o.FullName()] = true
	defer delete(c.visiting, o.FullName())

	of, uf := collectFields(o), collectFields(u)

	// A oneof removed by name none of whose members survive is a complete
	// deletion, which is compatible.
	deleted := map[string]bool{}
	for name, members := range of.oneofs {
		if _, kept := uf.oneofs[name]; kept {
			continue
		}
		survives := false
		for _, m := range members {
			if uf.byTag[int(m.Number())] != nil {
				survives = true
			}
		}
		if !survives {
			deleted[name] = true
		}
	}

	// New mutual exclusivity: an update oneof whose pre-existing members come
	// from more than one original group (a oneof, or a top-level field each).
	for _, name := range uf.order {
		leave := c.enter(name)
		groups := map[string]bool{}
		movedIn := 0
		for _, m := range uf.oneofs[name] {
			tag := int(m.Number())
			if oo, ok := of.oneofOf[tag]; ok {
				groups["oneof:"+oo] = true
			} else if of.byTag[tag] != nil {
				groups["field:"+strconv.Itoa(tag)] = true
				movedIn++
			}
		}
		if len(groups) > 1 {
			if movedIn > 1 {
				c.add(MultipleFieldsMovedToOneof)
			} else {
				c.add(FieldMovedToExistingOneof)
			}
		}
		leave()
	}

	for _, name := range sortedUnion(of.oneofs, uf.oneofs) {
		leave := c.enter(name)
		_, inO := of.oneofs[name]
		_, inU := uf.oneofs[name]
		switch {
		case !inU:
			c.add(OneofRemoved)
		case !inO:
			c.add(OneofAdded)
		}
		leave()
	}

	for _, tag := range sortedTags(of.byTag, uf.byTag) {
		ofd, ufd := of.byTag[tag], uf.byTag[tag]
		oo, uo := of.oneofOf[tag], uf.oneofOf[tag]
		t := strconv.Itoa(tag)
		switch {
		case ufd == nil:
			if oo != "" {
				if !deleted[oo] {
					leave := c.enter(oo)
					leave2 := c.enter(t)
					c.add(OneofFieldRemoved)
					leave2()
					leave()
				}
				continue
			}
			leave := c.enter(t)
			if ofd.Cardinality() == protoreflect.Required {
				c.add(RequiredFieldRemoved)
			} else {
				c.add(FieldRemoved)
			}
			leave()
		case ofd == nil:
			if uo != "" {
				leave := c.enter(uo)
				leave2 := c.enter(t)
				c.add(OneofFieldAdded)
				leave2()
				leave()
				continue
			}
			leave := c.enter(t)
			if ufd.Cardinality() == protoreflect.Required {
				c.add(RequiredFieldAdded)
			} else {
				c.add(FieldAdded)
			}
			leave()
		default:
			if oo != "" && uo == "" {
				leave := c.enter(t)
				c.add(OneofFieldMovedToTopLevel)
				leave()
			}
			var leaveOneof func()
			if uo != "" {
				leaveOneof = c.enter(uo)
			}
			leave := c.enter(t)
			c.field(ofd, ufd)
			leave()
			if leaveOneof != nil {
				leaveOneof()
			}
		}
	}
	c.typeElements(o.Messages(), o.Enums(), u.Messages(), u.Enums())
}

// label is the field's label as the .proto text writes it: "" for none.
func label(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return ""
	case fd.Cardinality() == protoreflect.Repeated:
		return "repeated"
	case fd.Cardinality() == protoreflect.Required:
		return "required"
	case fd.HasOptionalKeyword():
		return "optional"
	}
	return ""
}

func (c *diffCtx) field(o, u protoreflect.FieldDescriptor) {
	if o.Name() != u.Name() {
		c.add(FieldNameChanged)
	}
	c.labelsAndTypes(label(o), label(u), fieldType{o}, fieldType{u})
}

// fieldType is the type of a field, or of a map key or value.
type fieldType struct {
	fd protoreflect.FieldDescriptor
}

type fieldKind int

const (
	kindScalar fieldKind = iota + 1 // enums included
	kindMessage
	kindMap
)

func (t fieldType) kind() fieldKind {
	switch {
	case t.fd.IsMap():
		return kindMap
	case t.fd.Kind() == protoreflect.MessageKind || t.fd.Kind() == protoreflect.GroupKind:
		return kindMessage
	}
	return kindScalar
}

// scalarGroup groups the scalar types that are wire-compatible.
func (t fieldType) scalarGroup() string {
	switch t.fd.Kind() {
	case protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.BoolKind:
		return "GENERAL_NUMBER"
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return "SIGNED_NUMBER"
	case protoreflect.StringKind, protoreflect.BytesKind:
		return "STRING_OR_BYTES"
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return "FIXED32"
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return "FIXED64"
	case protoreflect.FloatKind:
		return "FLOAT"
	case protoreflect.DoubleKind:
		return "DOUBLE"
	}
	return "ANY"
}

func (c *diffCtx) labelsAndTypes(ol, ul string, o, u fieldType) {
	if o.kind() != u.kind() {
		c.add(FieldKindChanged)
		return
	}
	switch o.kind() {
	case kindScalar:
		og, ug := o.scalarGroup(), u.scalarGroup()
		if og != ug {
			c.add(FieldScalarKindChanged)
			return
		}
		if ol != "" && ul != "" && ol != ul {
			if og == "STRING_OR_BYTES" {
				c.add(FieldStringOrBytesLabelChanged)
			} else {
				c.add(FieldNumericLabelChanged)
			}
		}
	case kindMessage:
		c.messageTypes(o.fd.Message(), u.fd.Message())
	case kindMap:
		c.labelsAndTypes("", "", fieldType{o.fd.MapKey()}, fieldType{u.fd.MapKey()})
		c.labelsAndTypes("", "", fieldType{o.fd.MapValue()}, fieldType{u.fd.MapValue()})
	}
}

// localName is a message's full name without its file's package.
func localName(md protoreflect.MessageDescriptor) string {
	full := string(md.FullName())
	if pkg := string(md.ParentFile().Package()); pkg != "" {
		return strings.TrimPrefix(full, pkg+".")
	}
	return full
}

// ref returns the registry reference of the file a message comes from: the
// main file has an empty one, an import has the one given or none.
func (f *protoFile) ref(md protoreflect.MessageDescriptor) *Reference {
	path := md.ParentFile().Path()
	if path == f.fd.Path() {
		return &Reference{Version: -1}
	}
	if r, ok := f.refs[path]; ok {
		return &r
	}
	return nil
}

func (c *diffCtx) messageTypes(o, u protoreflect.MessageDescriptor) {
	ol, ul := localName(o), localName(u)
	if ol != ul {
		c.add(FieldNamedTypeChanged)
		return
	}
	or, ur := c.orig.ref(o), c.upd.ref(u)
	if or != nil && ur != nil && *or == *ur {
		return // both local, or the same registered version
	}
	sub := &diffCtx{orig: c.orig, upd: c.upd, path: strings.Split(ol, "."), visiting: maps.Clone(c.visiting)}
	sub.message(o, u)
	c.diffs = append(c.diffs, sub.diffs...)
	if !sub.compatible() {
		c.add(FieldNamedTypeChanged)
	}
}

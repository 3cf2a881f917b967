// Protobuf schemas given as a serialized FileDescriptorProto: printed as
// .proto text, which is what the registry stores.

package server

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// base64Text matches a schema given as base64; .proto text never does, as
// any definition needs a ';' or a '{'.
var base64Text = regexp.MustCompile(`^[A-Za-z0-9+/\r\n]+={0,2}$`)

// serializedProto decodes a Protobuf schema given as a base64
// FileDescriptorProto, as Confluent accepts it on registration, and prints
// it as .proto text. ok is false when text is not base64.
func serializedProto(text string) (printed string, ok bool, err error) {
	if !base64Text.MatchString(text) {
		return "", false, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\n", "", "\r", "").Replace(text))
	if err != nil {
		return "", false, nil
	}
	var fd descriptorpb.FileDescriptorProto
	if err := proto.Unmarshal(raw, &fd); err != nil {
		return "", true, fmt.Errorf("a base64 schema that is not a FileDescriptorProto: %w", err)
	}
	printed, err = printProto(&fd)
	return printed, true, err
}

// printProto writes a file descriptor as .proto source. Custom options
// (extensions of the descriptor options) are refused: without their
// definitions they cannot be named. Editions files are refused too.
func printProto(fd *descriptorpb.FileDescriptorProto) (string, error) {
	p := &protoPrinter{}
	switch fd.GetSyntax() {
	case "", "proto2":
		p.proto3 = false
		p.line(0, `syntax = "proto2";`)
	case "proto3":
		p.proto3 = true
		p.line(0, `syntax = "proto3";`)
	default:
		return "", fmt.Errorf("file %q: syntax %q is not supported", fd.GetName(), fd.GetSyntax())
	}
	if fd.GetPackage() != "" {
		p.line(0, "package %s;", fd.GetPackage())
	}
	for i, dep := range fd.GetDependency() {
		kind := ""
		switch {
		case slices.Contains(fd.GetPublicDependency(), int32(i)):
			kind = "public "
		case slices.Contains(fd.GetWeakDependency(), int32(i)):
			kind = "weak "
		}
		p.line(0, "import %s%s;", kind, quoteProto(dep))
	}
	p.options(0, fd.GetOptions(), "file")
	for _, m := range fd.GetMessageType() {
		p.message(0, m, nil)
	}
	for _, e := range fd.GetEnumType() {
		p.enum(0, e)
	}
	p.extensions(0, fd.GetExtension())
	for _, s := range fd.GetService() {
		p.line(0, "service %s {", s.GetName())
		p.options(1, s.GetOptions(), "service "+s.GetName())
		for _, m := range s.GetMethod() {
			in, out := m.GetInputType(), m.GetOutputType()
			if m.GetClientStreaming() {
				in = "stream " + in
			}
			if m.GetServerStreaming() {
				out = "stream " + out
			}
			if m.GetOptions() == nil || len(m.GetOptions().ProtoReflect().GetUnknown()) == 0 && !hasOptions(m.GetOptions()) {
				p.line(1, "rpc %s (%s) returns (%s);", m.GetName(), in, out)
				continue
			}
			p.line(1, "rpc %s (%s) returns (%s) {", m.GetName(), in, out)
			p.options(2, m.GetOptions(), "method "+m.GetName())
			p.line(1, "}")
		}
		p.line(0, "}")
	}
	if p.err != nil {
		return "", p.err
	}
	return p.b.String(), nil
}

type protoPrinter struct {
	b      strings.Builder
	proto3 bool
	err    error
}

func (p *protoPrinter) line(depth int, format string, args ...any) {
	p.b.WriteString(strings.Repeat("  ", depth))
	fmt.Fprintf(&p.b, format, args...)
	p.b.WriteByte('\n')
}

func hasOptions(m proto.Message) bool {
	has := false
	m.ProtoReflect().Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool { has = true; return false })
	return has
}

// optionValues lists an options message's options as name = value pairs.
func (p *protoPrinter) optionValues(m proto.Message, where string) []string {
	if m == nil || !m.ProtoReflect().IsValid() {
		return nil
	}
	if len(m.ProtoReflect().GetUnknown()) > 0 && p.err == nil {
		p.err = fmt.Errorf("%s: custom options are not supported in a serialized schema", where)
	}
	var out []string
	m.ProtoReflect().Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(f.Name())
		if f.IsExtension() {
			name = "(" + string(f.FullName()) + ")"
		}
		if f.IsList() {
			for i := range v.List().Len() {
				out = append(out, name+" = "+optionValue(f, v.List().Get(i)))
			}
			return true
		}
		out = append(out, name+" = "+optionValue(f, v))
		return true
	})
	slices.Sort(out) // by name, as Confluent orders them
	return out
}

func optionValue(f protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch f.Kind() {
	case protoreflect.StringKind:
		return quoteProto(v.String())
	case protoreflect.BytesKind:
		return quoteProto(string(v.Bytes()))
	case protoreflect.EnumKind:
		if ev := f.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return "{ " + prototext.MarshalOptions{}.Format(v.Message().Interface()) + " }"
	}
	return v.String()
}

func (p *protoPrinter) options(depth int, m proto.Message, where string) {
	for _, o := range p.optionValues(m, where) {
		p.line(depth, "option %s;", o)
	}
}

// quoteProto quotes a string for .proto source: printable ASCII as it is,
// every other byte in octal.
func quoteProto(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03o", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var scalarNames = map[descriptorpb.FieldDescriptorProto_Type]string{
	descriptorpb.FieldDescriptorProto_TYPE_DOUBLE: "double", descriptorpb.FieldDescriptorProto_TYPE_FLOAT: "float",
	descriptorpb.FieldDescriptorProto_TYPE_INT64: "int64", descriptorpb.FieldDescriptorProto_TYPE_UINT64: "uint64",
	descriptorpb.FieldDescriptorProto_TYPE_INT32: "int32", descriptorpb.FieldDescriptorProto_TYPE_FIXED64: "fixed64",
	descriptorpb.FieldDescriptorProto_TYPE_FIXED32: "fixed32", descriptorpb.FieldDescriptorProto_TYPE_BOOL: "bool",
	descriptorpb.FieldDescriptorProto_TYPE_STRING: "string", descriptorpb.FieldDescriptorProto_TYPE_BYTES: "bytes",
	descriptorpb.FieldDescriptorProto_TYPE_UINT32: "uint32", descriptorpb.FieldDescriptorProto_TYPE_SFIXED32: "sfixed32",
	descriptorpb.FieldDescriptorProto_TYPE_SFIXED64: "sfixed64", descriptorpb.FieldDescriptorProto_TYPE_SINT32: "sint32",
	descriptorpb.FieldDescriptorProto_TYPE_SINT64: "sint64",
}

func fieldType(f *descriptorpb.FieldDescriptorProto) string {
	if n, ok := scalarNames[f.GetType()]; ok {
		return n
	}
	return f.GetTypeName()
}

// jsonCamel is protoc's default JSON name of a field.
func jsonCamel(name string) string {
	var b strings.Builder
	upper := false
	for _, c := range name {
		if c == '_' {
			upper = true
			continue
		}
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		upper = false
		b.WriteRune(c)
	}
	return b.String()
}

// shortName is the last part of a full name.
func shortName(full string) string { return full[strings.LastIndexByte(full, '.')+1:] }

// message prints a message; group names the nested types printed as
// groups by their fields (not again as messages).
func (p *protoPrinter) message(depth int, m *descriptorpb.DescriptorProto, asGroup *descriptorpb.FieldDescriptorProto) {
	if asGroup == nil {
		p.line(depth, "message %s {", m.GetName())
	}
	in := depth + 1
	p.options(in, m.GetOptions(), "message "+m.GetName())
	nested := map[string]*descriptorpb.DescriptorProto{}
	for _, n := range m.GetNestedType() {
		nested[n.GetName()] = n
	}
	consumed := map[string]bool{} // nested types printed at their field: map entries and groups
	oneofDone := map[int32]bool{}
	for _, f := range m.GetField() {
		if f.OneofIndex != nil && !f.GetProto3Optional() {
			idx := f.GetOneofIndex()
			if idx < 0 || int(idx) >= len(m.GetOneofDecl()) {
				if p.err == nil {
					p.err = fmt.Errorf("message %s: field %s names oneof %d of %d", m.GetName(), f.GetName(), idx, len(m.GetOneofDecl()))
				}
				continue
			}
			if oneofDone[idx] {
				continue
			}
			oneofDone[idx] = true
			o := m.GetOneofDecl()[idx]
			p.line(in, "oneof %s {", o.GetName())
			p.options(in+1, o.GetOptions(), "oneof "+o.GetName())
			for _, of := range m.GetField() {
				if of.OneofIndex != nil && of.GetOneofIndex() == idx && !of.GetProto3Optional() {
					p.field(in+1, of, nested, consumed, true)
				}
			}
			p.line(in, "}")
			continue
		}
		p.field(in, f, nested, consumed, false)
	}
	for _, n := range m.GetNestedType() {
		if !consumed[n.GetName()] {
			p.message(in, n, nil)
		}
	}
	for _, e := range m.GetEnumType() {
		p.enum(in, e)
	}
	p.extensions(in, m.GetExtension())
	for _, r := range m.GetExtensionRange() {
		p.line(in, "extensions %s;", rangeText(r.GetStart(), r.GetEnd()-1, 536870911))
	}
	var ranges []string
	for _, r := range m.GetReservedRange() {
		ranges = append(ranges, rangeText(r.GetStart(), r.GetEnd()-1, 536870911))
	}
	if len(ranges) > 0 {
		p.line(in, "reserved %s;", strings.Join(ranges, ", "))
	}
	if names := m.GetReservedName(); len(names) > 0 {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = quoteProto(n)
		}
		p.line(in, "reserved %s;", strings.Join(q, ", "))
	}
	if asGroup == nil {
		p.line(depth, "}")
	}
}

func rangeText(start, end, max int32) string {
	switch {
	case start == end:
		return strconv.Itoa(int(start))
	case end >= max:
		return fmt.Sprintf("%d to max", start)
	}
	return fmt.Sprintf("%d to %d", start, end)
}

func (p *protoPrinter) field(depth int, f *descriptorpb.FieldDescriptorProto, nested map[string]*descriptorpb.DescriptorProto, consumed map[string]bool, inOneof bool) {
	label := ""
	switch {
	case inOneof:
	case f.GetLabel() == descriptorpb.FieldDescriptorProto_LABEL_REPEATED:
		label = "repeated "
	case f.GetLabel() == descriptorpb.FieldDescriptorProto_LABEL_REQUIRED:
		label = "required "
	case !p.proto3 || f.GetProto3Optional():
		label = "optional "
	}
	typ := fieldType(f)
	if f.GetType() == descriptorpb.FieldDescriptorProto_TYPE_MESSAGE {
		if entry := nested[shortName(f.GetTypeName())]; entry != nil && entry.GetOptions().GetMapEntry() && label == "repeated " && len(entry.GetField()) == 2 {
			consumed[entry.GetName()] = true
			k, v := entry.GetField()[0], entry.GetField()[1]
			label, typ = "", fmt.Sprintf("map<%s, %s>", fieldType(k), fieldType(v))
		}
	}
	var opts []string
	if f.DefaultValue != nil {
		v := f.GetDefaultValue()
		switch f.GetType() {
		case descriptorpb.FieldDescriptorProto_TYPE_STRING:
			v = quoteProto(v)
		case descriptorpb.FieldDescriptorProto_TYPE_BYTES:
			v = `"` + v + `"` // already escaped in the descriptor
		}
		opts = append(opts, "default = "+v)
	}
	if f.JsonName != nil && f.GetJsonName() != jsonCamel(f.GetName()) {
		opts = append(opts, "json_name = "+quoteProto(f.GetJsonName()))
	}
	opts = append(opts, p.optionValues(f.GetOptions(), "field "+f.GetName())...)
	suffix := ""
	if len(opts) > 0 {
		suffix = " [" + strings.Join(opts, ", ") + "]"
	}
	if f.GetType() == descriptorpb.FieldDescriptorProto_TYPE_GROUP {
		g := nested[shortName(f.GetTypeName())]
		if g != nil {
			consumed[g.GetName()] = true
			p.line(depth, "%sgroup %s = %d%s {", label, g.GetName(), f.GetNumber(), suffix)
			p.message(depth, g, f)
			p.line(depth, "}")
			return
		}
	}
	p.line(depth, "%s%s %s = %d%s;", label, typ, f.GetName(), f.GetNumber(), suffix)
}

func (p *protoPrinter) enum(depth int, e *descriptorpb.EnumDescriptorProto) {
	p.line(depth, "enum %s {", e.GetName())
	p.options(depth+1, e.GetOptions(), "enum "+e.GetName())
	for _, v := range e.GetValue() {
		suffix := ""
		if opts := p.optionValues(v.GetOptions(), "enum value "+v.GetName()); len(opts) > 0 {
			suffix = " [" + strings.Join(opts, ", ") + "]"
		}
		p.line(depth+1, "%s = %d%s;", v.GetName(), v.GetNumber(), suffix)
	}
	var ranges []string
	for _, r := range e.GetReservedRange() {
		ranges = append(ranges, rangeText(r.GetStart(), r.GetEnd(), 2147483647)) // inclusive end
	}
	if len(ranges) > 0 {
		p.line(depth+1, "reserved %s;", strings.Join(ranges, ", "))
	}
	if names := e.GetReservedName(); len(names) > 0 {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = quoteProto(n)
		}
		p.line(depth+1, "reserved %s;", strings.Join(q, ", "))
	}
	p.line(depth, "}")
}

// extensions prints extension fields in extend blocks, one per extendee,
// in order of first appearance.
func (p *protoPrinter) extensions(depth int, exts []*descriptorpb.FieldDescriptorProto) {
	var order []string
	by := map[string][]*descriptorpb.FieldDescriptorProto{}
	for _, x := range exts {
		if _, ok := by[x.GetExtendee()]; !ok {
			order = append(order, x.GetExtendee())
		}
		by[x.GetExtendee()] = append(by[x.GetExtendee()], x)
	}
	for _, extendee := range order {
		p.line(depth, "extend %s {", extendee)
		for _, x := range by[extendee] {
			p.field(depth+1, x, nil, map[string]bool{}, false)
		}
		p.line(depth, "}")
	}
}

// normalizedProto is a Protobuf schema in Confluent's normal form
// (ProtobufSchemaUtils.toNormalizedString), byte for byte: imports sorted
// and without duplicates, options sorted by name with custom ones named
// in full and merged, fields, oneofs, enum values, reserved and extension
// ranges sorted, types named in full with a leading dot, extend blocks of
// one extendee merged, messages kept in order (message indexes depend on
// it). A normal form protoc refuses (Confluent does not compile it; a
// proto3 enum whose negative value sorts first is one, a weak import,
// which Confluent's printer drops, another) is an error; the registry
// then keeps the schema as given, as it keeps only schemas it compiles.
func normalizedProto(text string, deps map[string]string) (string, error) {
	printed, err := confluentProto(text, deps, true, false)
	if err != nil {
		return "", err
	}
	if _, err := protobuf.Compile("schema.proto", []byte(printed), protobuf.Options{Sources: deps}); err != nil {
		return "", fmt.Errorf("normal form does not compile: %w", err)
	}
	return printed, nil
}

// withoutExtensions is a Protobuf schema as format=ignore_extensions
// answers it in Confluent (formattedString with a FormatContext that
// ignores extensions), byte for byte: without extend blocks and extension
// ranges, and without custom options other than Confluent's own
// confluent.* ones (written with a leading dot, as (.confluent.x), they go
// too, as in Confluent).
func withoutExtensions(text string, _ map[string]string) (string, error) {
	return confluentProto(text, nil, false, true)
}

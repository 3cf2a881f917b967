// Protobuf schemas printed as Confluent's registry prints them: its
// canonical string, its normalized string (normalize=true) and
// format=ignore_extensions, all written by ProtobufSchemaUtils from the
// tree Wire parses (see protowire.go). The rules below follow
// ProtobufSchemaUtils.toString(FormatContext, ...) and its FormatContext
// in confluentinc/schema-registry (protobuf-provider).

package server

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// protoSymbols are the names Confluent's normalization resolves against,
// collected as its Context.collectTypeInfo does from the schema, the
// schemas it references and the well-known files: messages and enums,
// and extension fields, by full name without a leading dot.
type protoSymbols struct {
	types map[string]*symMessage
	exts  map[string]symField
}

// symMessage is a message's fields by name (oneof fields included); nil
// fields for an enum.
type symMessage struct {
	enum   bool
	fields map[string]symField
}

// symField is what merging option values needs of a field: whether it
// is repeated, and its type as written (resolved where the option is
// printed, as Confluent does; descriptors give it in full).
type symField struct {
	repeated bool
	typ      string
}

func newProtoSymbols() *protoSymbols {
	return &protoSymbols{types: map[string]*symMessage{}, exts: map[string]symField{}}
}

// addWire collects the names a parsed file defines.
func (s *protoSymbols) addWire(f *wireFile) {
	prefix := ""
	if f.pkg != "" {
		prefix = f.pkg + "."
	}
	addExtends := func(scope string, es []*wireExtend) {
		for _, e := range es {
			for _, fd := range e.fields {
				s.exts[scope+fd.name] = symField{repeated: fd.label == "repeated", typ: fd.typ}
			}
		}
	}
	var types func(scope string, ts []any)
	types = func(scope string, ts []any) {
		for _, t := range ts {
			switch t := t.(type) {
			case *wireMessage:
				name := scope + t.name
				m := &symMessage{fields: map[string]symField{}}
				add := func(fs []*wireField) {
					for _, fd := range fs {
						m.fields[fd.name] = symField{repeated: fd.label == "repeated", typ: fd.typ}
					}
				}
				add(t.fields)
				for _, o := range t.oneofs {
					add(o.fields)
				}
				s.types[name] = m
				addExtends(name+".", t.extends)
				types(name+".", t.nested)
			case *wireEnum:
				s.types[scope+t.name] = &symMessage{enum: true}
			}
		}
	}
	addExtends(prefix, f.extends)
	types(prefix, f.types)
}

// addDescriptor collects the names of a compiled file (a well-known one,
// whose text Confluent has and this registry does not).
func (s *protoSymbols) addDescriptor(fd protoreflect.FileDescriptor) {
	field := func(f protoreflect.FieldDescriptor) symField {
		typ := ""
		switch {
		case f.IsMap():
			typ = "map<>"
		case f.Message() != nil:
			typ = "." + string(f.Message().FullName())
		case f.Enum() != nil:
			typ = "." + string(f.Enum().FullName())
		}
		return symField{repeated: f.IsList(), typ: typ}
	}
	exts := func(xs protoreflect.ExtensionDescriptors) {
		for i := range xs.Len() {
			s.exts[string(xs.Get(i).FullName())] = field(xs.Get(i))
		}
	}
	enums := func(es protoreflect.EnumDescriptors) {
		for i := range es.Len() {
			s.types[string(es.Get(i).FullName())] = &symMessage{enum: true}
		}
	}
	var messages func(ms protoreflect.MessageDescriptors)
	messages = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue // Wire's tree has no map entry messages
			}
			sm := &symMessage{fields: map[string]symField{}}
			for j := range m.Fields().Len() {
				sm.fields[string(m.Fields().Get(j).Name())] = field(m.Fields().Get(j))
			}
			s.types[string(m.FullName())] = sm
			messages(m.Messages())
			enums(m.Enums())
			exts(m.Extensions())
		}
	}
	messages(fd.Messages())
	enums(fd.Enums())
	exts(fd.Extensions())
}

// wellKnownSymbols are the names of google/protobuf/*.proto, which
// Confluent resolves against whether a schema imports them or not.
var wellKnownSymbols = sync.OnceValue(func() *protoSymbols {
	s := newProtoSymbols()
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if strings.HasPrefix(fd.Path(), "google/protobuf/") {
			s.addDescriptor(fd)
		}
		return true
	})
	return s
})

// confluentFormat is Confluent's FormatContext: what to print and the
// scope names are resolved in.
type confluentFormat struct {
	normalize, ignoreExtensions bool
	syms                        *protoSymbols
	pkg                         string
	scope                       []string
	err                         error
}

// confluentProto prints a Protobuf schema as Confluent does. With neither
// flag it is Confluent's canonical string (what Confluent stores for a
// schema registered without normalize); normalize gives its normalized
// string and ignoreExtensions what format=ignore_extensions answers. deps
// are the texts of the schema's references, by import path; normalizing
// resolves names against them, the schema and the well-known files, as
// Confluent does (the schema need not compile: Confluent does not compile
// it to normalize it).
func confluentProto(text string, deps map[string]string, normalize, ignoreExtensions bool) (string, error) {
	f, err := parseWire(text)
	if err != nil {
		return "", fmt.Errorf("parsing the schema as Confluent does: %w", err)
	}
	c := &confluentFormat{normalize: normalize, ignoreExtensions: ignoreExtensions, pkg: f.pkg}
	if normalize {
		c.syms = newProtoSymbols()
		wk := wellKnownSymbols()
		maps.Copy(c.syms.types, wk.types)
		maps.Copy(c.syms.exts, wk.exts)
		for _, name := range slices.Sorted(maps.Keys(deps)) {
			if df, err := parseWire(deps[name]); err == nil {
				c.syms.addWire(df)
			}
		}
		c.syms.addWire(f)
	}
	out := c.file(f)
	if c.err != nil {
		return "", c.err
	}
	return out, nil
}

func (c *confluentFormat) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

func (c *confluentFormat) enter(name string) func() {
	c.scope = append(c.scope, name)
	return func() { c.scope = c.scope[:len(c.scope)-1] }
}

// resolveIn is Confluent's Context.resolveFull: a name with a leading dot
// as it is; otherwise the package and enclosing names as prefixes, from
// the innermost out, then the name alone. It returns the full name
// without a leading dot.
func (c *confluentFormat) resolveIn(exists func(string) bool, name string) (string, bool) {
	if c.syms == nil {
		return "", false
	}
	if strings.HasPrefix(name, ".") {
		n := name[1:]
		return n, exists(n)
	}
	var prefix []string
	if c.pkg != "" {
		prefix = strings.Split(c.pkg, ".")
	}
	prefix = append(prefix, c.scope...)
	for ; len(prefix) > 0; prefix = prefix[:len(prefix)-1] {
		if n := strings.Join(prefix, ".") + "." + name; exists(n) {
			return n, true
		}
	}
	return name, exists(name)
}

func (c *confluentFormat) isType(n string) bool { return c.syms.types[n] != nil }

func (c *confluentFormat) isExt(n string) bool { _, ok := c.syms.exts[n]; return ok }

// resolveType is a type's full name with a leading dot.
func (c *confluentFormat) resolveType(name string) string {
	n, ok := c.resolveIn(c.isType, name)
	if !ok {
		c.fail(fmt.Errorf("could not resolve type %s", name))
		return name
	}
	return "." + n
}

// javaLines is Java's String.split("\n"): trailing empty strings dropped.
func javaLines(s string) []string {
	if s == "" {
		return []string{""}
	}
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func appendIndented(b *strings.Builder, s string) {
	for _, l := range javaLines(s) {
		b.WriteString("  ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
}

func (c *confluentFormat) file(f *wireFile) string {
	var b strings.Builder
	if f.syntax != "" && (!c.normalize || f.syntax == "proto3") {
		fmt.Fprintf(&b, "syntax = %q;\n", f.syntax)
	}
	if f.pkg != "" {
		fmt.Fprintf(&b, "package %s;\n", f.pkg)
	}
	if len(f.imports) > 0 || len(f.publicImports) > 0 {
		b.WriteByte('\n')
		imports, public := f.imports, f.publicImports
		if c.normalize {
			imports, public = sortedUnique(imports), sortedUnique(public)
		}
		for _, i := range imports {
			fmt.Fprintf(&b, "import \"%s\";\n", i)
		}
		for _, i := range public {
			fmt.Fprintf(&b, "import public \"%s\";\n", i)
		}
	}
	if opts := c.filterOptions(f.options); len(opts) > 0 {
		b.WriteByte('\n')
		for _, o := range opts {
			b.WriteString(c.optionStatement(o))
		}
	}
	if len(f.types) > 0 {
		b.WriteByte('\n')
		c.types(&b, f.types, false)
	}
	if !c.ignoreExtensions && len(f.extends) > 0 {
		b.WriteByte('\n')
		for _, e := range c.extends(f.extends) {
			b.WriteString(c.extend(e))
		}
	}
	if len(f.services) > 0 {
		b.WriteByte('\n')
		for _, s := range f.services {
			b.WriteString(c.service(s))
		}
	}
	return b.String()
}

func sortedUnique(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// types prints messages first, then enums, each in its order: message
// indexes depend on the order of messages.
func (c *confluentFormat) types(b *strings.Builder, types []any, indent bool) {
	write := func(s string) {
		if indent {
			appendIndented(b, s)
		} else {
			b.WriteString(s)
		}
	}
	for _, t := range types {
		if m, ok := t.(*wireMessage); ok {
			leave := c.enter(m.name)
			write(c.message(m))
			leave()
		}
	}
	for _, t := range types {
		if e, ok := t.(*wireEnum); ok {
			leave := c.enter(e.name)
			write(c.enum(e))
			leave()
		}
	}
}

// extends merges, when normalizing, the extend blocks of one extendee
// (named in full) into one.
func (c *confluentFormat) extends(es []*wireExtend) []*wireExtend {
	if !c.normalize {
		return es
	}
	var out []*wireExtend
	by := map[string]*wireExtend{}
	for _, e := range es {
		name := c.resolveType(e.name)
		m := by[name]
		if m == nil {
			m = &wireExtend{name: name}
			by[name] = m
			out = append(out, m)
		}
		m.fields = append(m.fields, e.fields...)
	}
	return out
}

func (c *confluentFormat) service(s *wireService) string {
	var b strings.Builder
	fmt.Fprintf(&b, "service %s {", s.name)
	c.optionLines(&b, s.options)
	if len(s.rpcs) > 0 {
		b.WriteByte('\n')
		for _, r := range s.rpcs {
			appendIndented(&b, c.rpc(r))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func (c *confluentFormat) rpc(r *wireRPC) string {
	var b strings.Builder
	req, resp := r.req, r.resp
	if c.normalize {
		req, resp = c.resolveType(req), c.resolveType(resp)
	}
	if r.reqStream {
		req = "stream " + req
	}
	if r.respStream {
		resp = "stream " + resp
	}
	fmt.Fprintf(&b, "rpc %s (%s) returns (%s)", r.name, req, resp)
	if opts := c.filterOptions(r.options); len(opts) > 0 {
		b.WriteString(" {\n")
		for _, o := range opts {
			appendIndented(&b, c.optionStatement(o))
		}
		b.WriteByte('}')
	}
	b.WriteString(";\n")
	return b.String()
}

// sortedReserved flattens reserved statements to one value each, ordered
// by start (names last), then by Kotlin's text of the value.
func sortedReserved(rs []*wireReserved) []*wireReserved {
	var out []*wireReserved
	for _, r := range rs {
		for _, v := range r.values {
			out = append(out, &wireReserved{values: []any{v}})
		}
	}
	key := func(v any) int {
		switch v := v.(type) {
		case wireRange:
			return v.start
		case int:
			return v
		}
		return math.MaxInt32
	}
	text := func(v any) string {
		if r, ok := v.(wireRange); ok {
			return fmt.Sprintf("%d..%d", r.start, r.end)
		}
		return fmt.Sprint(v)
	}
	slices.SortStableFunc(out, func(a, b *wireReserved) int {
		if d := cmp.Compare(key(a.values[0]), key(b.values[0])); d != 0 {
			return d
		}
		return strings.Compare(text(a.values[0]), text(b.values[0]))
	})
	return out
}

func (c *confluentFormat) enum(e *wireEnum) string {
	var b strings.Builder
	c.openBlock(&b, "enum", e.name, e.reserved)
	if len(e.reserved) == 0 && (len(e.options) > 0 || len(e.constants) > 0) {
		b.WriteByte('\n')
	}
	for _, o := range c.filterOptions(e.options) {
		appendIndented(&b, c.optionStatement(o))
	}
	consts := e.constants
	if c.normalize {
		consts = slices.Clone(consts)
		slices.SortStableFunc(consts, func(a, b *wireConstant) int {
			return cmp.Or(cmp.Compare(a.tag, b.tag), strings.Compare(a.name, b.name))
		})
	}
	for _, k := range consts {
		var l strings.Builder
		fmt.Fprintf(&l, "%s = %d", k.name, k.tag)
		if opts := c.filterOptions(k.options); len(opts) > 0 {
			l.WriteByte(' ')
			c.appendOptions(&l, optionsAsValues(opts))
		}
		l.WriteString(";\n")
		appendIndented(&b, l.String())
	}
	b.WriteString("}\n")
	return b.String()
}

// openBlock writes the first line of a message or enum and its reserved
// statements, which Confluent prints first (sorted when normalizing).
func (c *confluentFormat) openBlock(b *strings.Builder, keyword, name string, reserved []*wireReserved) {
	fmt.Fprintf(b, "%s %s {", keyword, name)
	if len(reserved) == 0 {
		return
	}
	b.WriteByte('\n')
	if c.normalize {
		reserved = sortedReserved(reserved)
	}
	for _, r := range reserved {
		appendIndented(b, c.reserved(r))
	}
}

// optionLines writes the option statements of a message, oneof or
// service that the format keeps, after a newline, when there are any.
func (c *confluentFormat) optionLines(b *strings.Builder, options []*wireOption) {
	opts := c.filterOptions(options)
	if len(opts) == 0 {
		return
	}
	b.WriteByte('\n')
	for _, o := range opts {
		appendIndented(b, c.optionStatement(o))
	}
}

func optionsAsValues(opts []*wireOption) []any {
	out := make([]any, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

func byTag(fs []*wireField) []*wireField {
	fs = slices.Clone(fs)
	slices.SortStableFunc(fs, func(a, b *wireField) int { return cmp.Compare(a.tag, b.tag) })
	return fs
}

func (c *confluentFormat) message(m *wireMessage) string {
	var b strings.Builder
	c.openBlock(&b, "message", m.name, m.reserved)
	c.optionLines(&b, m.options)
	if len(m.fields) > 0 {
		b.WriteByte('\n')
		fs := m.fields
		if c.normalize {
			fs = byTag(fs)
		}
		for _, f := range fs {
			appendIndented(&b, c.field(f))
		}
	}
	if len(m.oneofs) > 0 {
		b.WriteByte('\n')
		oneofs := m.oneofs
		if c.normalize {
			oneofs = nil
			for _, o := range m.oneofs {
				if len(o.fields) > 0 {
					oneofs = append(oneofs, &wireOneof{name: o.name, fields: byTag(o.fields), groups: o.groups, options: o.options})
				}
			}
			slices.SortStableFunc(oneofs, func(a, b *wireOneof) int { return cmp.Compare(a.fields[0].tag, b.fields[0].tag) })
		}
		for _, o := range oneofs {
			appendIndented(&b, c.oneof(o))
		}
	}
	if len(m.groups) > 0 {
		b.WriteByte('\n')
		for _, g := range c.sortedGroups(m.groups) {
			appendIndented(&b, c.group(g))
		}
	}
	if !c.ignoreExtensions && len(m.extensions) > 0 {
		b.WriteByte('\n')
		exts := m.extensions
		if c.normalize {
			exts = nil
			for _, e := range m.extensions {
				for _, v := range e.values {
					exts = append(exts, &wireExtensions{values: []any{v}, options: e.options})
				}
			}
			start := func(v any) int {
				if r, ok := v.(wireRange); ok {
					return r.start
				}
				return v.(int)
			}
			slices.SortStableFunc(exts, func(a, b *wireExtensions) int { return cmp.Compare(start(a.values[0]), start(b.values[0])) })
		}
		for _, e := range exts {
			appendIndented(&b, c.extensionRange(e))
		}
	}
	if !c.ignoreExtensions && len(m.extends) > 0 {
		b.WriteByte('\n')
		for _, e := range c.extends(m.extends) {
			appendIndented(&b, c.extend(e))
		}
	}
	if len(m.nested) > 0 {
		b.WriteByte('\n')
		c.types(&b, m.nested, true)
	}
	b.WriteString("}\n")
	return b.String()
}

func (c *confluentFormat) sortedGroups(gs []*wireGroup) []*wireGroup {
	if c.normalize {
		gs = slices.Clone(gs)
		slices.SortStableFunc(gs, func(a, b *wireGroup) int { return cmp.Compare(a.tag, b.tag) })
	}
	return gs
}

func (c *confluentFormat) rangeText(v any) string {
	switch v := v.(type) {
	case string:
		return `"` + v + `"`
	case int:
		return strconv.Itoa(v)
	case wireRange:
		if c.normalize && v.start == v.end {
			return strconv.Itoa(v.start)
		}
		if v.end < wireMaxTag {
			return fmt.Sprintf("%d to %d", v.start, v.end)
		}
		return fmt.Sprintf("%d to max", v.start)
	}
	return fmt.Sprint(v)
}

func (c *confluentFormat) reserved(r *wireReserved) string {
	parts := make([]string, len(r.values))
	for i, v := range r.values {
		parts[i] = c.rangeText(v)
	}
	return "reserved " + strings.Join(parts, ", ") + ";\n"
}

func (c *confluentFormat) extensionRange(e *wireExtensions) string {
	parts := make([]string, len(e.values))
	for i, v := range e.values {
		parts[i] = c.rangeText(v)
	}
	var b strings.Builder
	b.WriteString("extensions " + strings.Join(parts, ", "))
	if opts := c.filterOptions(e.options); len(opts) > 0 {
		b.WriteByte(' ')
		c.appendOptions(&b, optionsAsValues(opts))
	}
	b.WriteString(";\n")
	return b.String()
}

func (c *confluentFormat) oneof(o *wireOneof) string {
	var b strings.Builder
	fmt.Fprintf(&b, "oneof %s {", o.name)
	c.optionLines(&b, o.options)
	if len(o.fields) > 0 {
		b.WriteByte('\n')
		for _, f := range o.fields {
			appendIndented(&b, c.field(f))
		}
	}
	if len(o.groups) > 0 {
		b.WriteByte('\n')
		for _, g := range c.sortedGroups(o.groups) {
			appendIndented(&b, c.group(g))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func (c *confluentFormat) group(g *wireGroup) string {
	var b strings.Builder
	if g.label != "" {
		b.WriteString(g.label + " ")
	}
	fmt.Fprintf(&b, "group %s = %d {", g.name, g.tag)
	if len(g.fields) > 0 {
		b.WriteByte('\n')
		fs := g.fields
		if c.normalize {
			fs = byTag(fs)
		}
		for _, f := range fs {
			appendIndented(&b, c.field(f))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func (c *confluentFormat) extend(e *wireExtend) string {
	var b strings.Builder
	fmt.Fprintf(&b, "extend %s {", e.name)
	if len(e.fields) > 0 {
		b.WriteByte('\n')
		fs := e.fields
		if c.normalize {
			fs = byTag(fs)
		}
		for _, f := range fs {
			appendIndented(&b, c.field(f))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

var protoScalars = map[string]bool{
	"bool": true, "bytes": true, "double": true, "float": true, "fixed32": true, "fixed64": true,
	"int32": true, "int64": true, "sfixed32": true, "sfixed64": true, "sint32": true, "sint64": true,
	"string": true, "uint32": true, "uint64": true,
}

// defaultKind is Confluent's toKind: how a default value of a field's
// type is printed, by the type's simple name.
func defaultKind(typ string) wireKind {
	switch typ[strings.LastIndexByte(typ, '.')+1:] {
	case "bool":
		return kindBoolean
	case "string":
		return kindString
	case "bytes", "double", "float", "fixed32", "fixed64", "int32", "int64", "sfixed32", "sfixed64", "sint32", "sint64", "uint32", "uint64":
		return kindNumber
	}
	return kindEnum
}

func (c *confluentFormat) field(f *wireField) string {
	label, typ := f.label, f.typ
	isMap := strings.HasPrefix(typ, "map<")
	if c.normalize {
		if !protoScalars[typ] && !isMap {
			typ = c.resolveType(typ)
		}
		if isMap {
			key, val, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(typ, "map<"), ">"), ", ")
			if n, ok := c.resolveIn(c.isType, val); ok {
				typ = "map<" + key + ", ." + n + ">"
			}
			label = ""
		}
	}
	var b strings.Builder
	if label != "" {
		b.WriteString(label + " ")
	}
	fmt.Fprintf(&b, "%s %s = %d", typ, f.name, f.tag)
	opts := slices.Clone(f.options)
	if f.dflt != nil {
		opts = append(opts, &wireOption{name: "default", kind: defaultKind(typ), value: *f.dflt})
	}
	if f.jsonName != nil {
		opts = append(opts, &wireOption{name: "json_name", kind: kindString, value: *f.jsonName})
	}
	if opts = c.filterOptions(opts); len(opts) > 0 {
		b.WriteByte(' ')
		c.appendOptions(&b, optionsAsValues(opts))
	}
	b.WriteString(";\n")
	return b.String()
}

func (c *confluentFormat) optionStatement(o *wireOption) string {
	return "option " + c.option(o) + ";\n"
}

// option is Confluent's toString(FormatContext, OptionElement).
func (c *confluentFormat) option(o *wireOption) string {
	var b strings.Builder
	if o.paren {
		b.WriteString("(" + o.name + ")")
	} else {
		b.WriteString(o.name)
	}
	switch o.kind {
	case kindString:
		b.WriteString(` = "` + escapeJavaChars(fmt.Sprint(o.value)) + `"`)
	case kindBoolean, kindEnum:
		b.WriteString(" = " + fmt.Sprint(o.value))
	case kindNumber:
		b.WriteString(" = " + c.formatNumber(fmt.Sprint(o.value)))
	case kindOption:
		b.WriteString("." + c.option(o.value.(*wireOption)))
	case kindMap:
		b.WriteString(" = {\n")
		c.formatOptionMap(&b, o.value.(*wireMap))
		b.WriteByte('}')
	case kindList:
		b.WriteString(" = ")
		c.appendOptions(&b, o.value.([]any))
	}
	return b.String()
}

func (c *confluentFormat) formatOptionMap(b *strings.Builder, m *wireMap) {
	keys := m.keys
	vals := m.vals
	if c.normalize {
		vals = map[string]any{}
		keys = nil
		for _, k := range m.keys {
			v := m.vals[k]
			if l, ok := v.([]any); ok && len(l) == 0 {
				continue
			}
			if strings.HasPrefix(k, "[") && strings.HasSuffix(k, "]") {
				if n, ok := c.resolveIn(c.isExt, k[1:len(k)-1]); ok {
					k = "[" + n + "]"
				}
			}
			if _, dup := vals[k]; dup {
				continue // the first one wins
			}
			vals[k] = v
			keys = append(keys, k)
		}
		slices.Sort(keys)
	}
	for i, k := range keys {
		kv := k + ": " + c.formatValue(vals[k])
		if i != len(keys)-1 {
			kv += ","
		}
		appendIndented(b, kv)
	}
}

// formatValue is Confluent's formatOptionMapOrListValue.
func (c *confluentFormat) formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return `"` + escapeJavaChars(v) + `"`
	case *wireMap:
		var b strings.Builder
		b.WriteString("{\n")
		c.formatOptionMap(&b, v)
		b.WriteByte('}')
		return b.String()
	case []any:
		if c.normalize && len(v) == 1 {
			return c.formatValue(v[0])
		}
		var b strings.Builder
		b.WriteString("[\n")
		for i, x := range v {
			s := c.formatValue(x)
			if i != len(v)-1 {
				s += ","
			}
			appendIndented(&b, s)
		}
		b.WriteByte(']')
		return b.String()
	case wirePrim:
		switch v.kind {
		case kindBoolean, kindEnum:
			return v.value
		case kindNumber:
			return c.formatNumber(v.value)
		}
		return c.formatValue(v.value)
	case *wireOption:
		return c.option(v)
	}
	return fmt.Sprint(v)
}

// appendOptions is Confluent's appendOptions: one value in brackets on
// the line, several one per line.
func (c *confluentFormat) appendOptions(b *strings.Builder, vs []any) {
	if len(vs) == 1 {
		b.WriteString("[" + c.formatValue(vs[0]) + "]")
		return
	}
	b.WriteString("[\n")
	for i, v := range vs {
		s := c.formatValue(v)
		if i < len(vs)-1 {
			s += ","
		}
		appendIndented(b, s)
	}
	b.WriteByte(']')
}

// escapeJavaChars is Confluent's ProtobufSchemaUtils.escapeChars.
func escapeJavaChars(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case 7:
			b.WriteString(`\a`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\v':
			b.WriteString(`\v`)
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// formatNumber is Confluent's formatNumber: when normalizing, the number
// as commons-lang3's NumberUtils.createNumber reads it (hex and octal
// integers, decimals as a float when one holds them) written by Java's
// DecimalFormat (no grouping, at most three fraction digits); words it
// does not read as a number (-inf) stay as written.
func (c *confluentFormat) formatNumber(s string) string {
	if !c.normalize {
		return s
	}
	if out, ok := javaNumber(s); ok {
		return out
	}
	return s
}

func javaNumber(s string) (string, bool) {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	if body == "" {
		return "", false
	}
	sign := ""
	if neg {
		sign = "-"
	}
	// A type suffix: f and d make a decimal, l an integer.
	double := false
	switch last := body[len(body)-1]; {
	case len(body) > 1 && (last == 'f' || last == 'F' || last == 'd' || last == 'D') && !strings.HasPrefix(body, "0x") && !strings.HasPrefix(body, "0X"):
		body, double = body[:len(body)-1], last == 'd' || last == 'D'
		if !strings.ContainsAny(body, ".eE") {
			body += ".0"
		}
		s = sign + body
	case len(body) > 1 && (last == 'l' || last == 'L'):
		body = body[:len(body)-1]
		if strings.ContainsAny(body, ".eE") {
			return "", false
		}
	}
	switch {
	case strings.HasPrefix(body, "0x") || strings.HasPrefix(body, "0X") || strings.HasPrefix(body, "#"):
		digits := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(body, "0x"), "0X"), "#")
		n, ok := parseBigInt(digits, 16)
		if !ok {
			return "", false
		}
		return sign + n, true
	case !strings.ContainsAny(body, ".eE"):
		base := 10
		if len(body) > 1 && body[0] == '0' {
			base, body = 8, body[1:]
		}
		n, ok := parseBigInt(body, base)
		if !ok {
			return "", false
		}
		if n == "0" {
			sign = ""
		}
		return sign + n, true
	}
	for _, r := range body {
		if !(r >= '0' && r <= '9' || r == '.' || r == 'e' || r == 'E' || r == '-' || r == '+') {
			return "", false
		}
	}
	f32, err := strconv.ParseFloat(s, 32)
	v := f32
	if double || err != nil || math.IsInf(f32, 0) {
		if v, err = strconv.ParseFloat(s, 64); err != nil || math.IsInf(v, 0) {
			return "", false
		}
	} else {
		v = float64(float32(f32))
	}
	out := strconv.FormatFloat(v, 'f', 3, 64)
	out = strings.TrimRight(strings.TrimRight(out, "0"), ".")
	if strings.HasPrefix(out, "-") || !math.Signbit(v) {
		return out, true
	}
	return "-" + out, true // Java writes -0
}

// parseBigInt reads digits of base as a non-negative integer, written in
// decimal; any size, as createNumber falls back to BigInteger.
func parseBigInt(digits string, base int) (string, bool) {
	if digits == "" {
		return "", false
	}
	n, ok := new(big.Int).SetString(digits, base)
	if !ok || n.Sign() < 0 || strings.ContainsAny(digits, "+-_") {
		return "", false
	}
	return n.String(), true
}

// filterOptions is Confluent's FormatContext.filterOptions: without
// extensions, custom options other than confluent.* ones are left out;
// normalizing names custom options in full (and turns a path such as
// (opt).a.b = 1 into the message value {a: {b: 1}}), sorts options by
// name and merges the settings of one non-repeated custom option into
// one value.
func (c *confluentFormat) filterOptions(opts []*wireOption) []*wireOption {
	if len(opts) == 0 {
		return opts
	}
	if c.ignoreExtensions {
		var kept []*wireOption
		for _, o := range opts {
			if !o.paren || strings.HasPrefix(o.name, "confluent.") {
				kept = append(kept, o)
			}
		}
		opts = kept
	}
	if !c.normalize {
		return opts
	}
	named := make([]*wireOption, 0, len(opts))
	for _, o := range opts {
		if o.paren {
			if n, ok := c.resolveIn(c.isExt, o.name); ok {
				o = transformOption(&wireOption{name: n, kind: o.kind, value: o.value, paren: o.paren})
			}
		}
		named = append(named, o)
	}
	slices.SortStableFunc(named, func(a, b *wireOption) int { return strings.Compare(a.name, b.name) })
	var out []*wireOption
	for i := 0; i < len(named); {
		j := i
		for j < len(named) && named[j].name == named[i].name {
			j++
		}
		group := named[i:j]
		if fd, ok := c.syms.exts[named[i].name]; ok && !fd.repeated {
			merged := group[0]
			for _, o := range group[1:] {
				merged = c.mergeOption(&fd, merged, o)
			}
			out = append(out, merged)
		} else {
			out = append(out, group...)
		}
		i = j
	}
	return out
}

// transformOption is Confluent's ProtobufSchema.transform: an option with
// a path becomes a message value.
func transformOption(o *wireOption) *wireOption {
	if o.kind != kindOption {
		return o
	}
	return &wireOption{name: o.name, kind: kindMap, value: optionPathMap(o), paren: o.paren}
}

func optionPathMap(o *wireOption) *wireMap {
	v := o.value.(*wireOption)
	var mv any = v.value
	switch v.kind {
	case kindBoolean, kindEnum, kindNumber:
		mv = wirePrim{v.kind, fmt.Sprint(v.value)}
	case kindOption:
		mv = optionPathMap(v)
	}
	m := newWireMap()
	m.put(v.name, mv)
	return m
}

func (c *confluentFormat) mergeOption(fd *symField, existing, replacement *wireOption) *wireOption {
	replacement = transformOption(replacement)
	em, ok1 := existing.value.(*wireMap)
	rm, ok2 := replacement.value.(*wireMap)
	if existing.kind == kindMap && replacement.kind == kindMap && ok1 && ok2 {
		return &wireOption{name: replacement.name, kind: kindMap, value: c.mergeOptionMaps(fd, em, rm), paren: replacement.paren}
	}
	return replacement // the earlier setting is dropped
}

// messageOf is Confluent's resolveMessageType: the message a field holds,
// its type name resolved where the option is printed; nil for a map, a
// scalar or an enum.
func (c *confluentFormat) messageOf(fd *symField) *symMessage {
	if fd == nil {
		return nil
	}
	n, ok := c.resolveIn(c.isType, fd.typ)
	if !ok || c.syms.types[n].enum {
		return nil
	}
	return c.syms.types[n]
}

func (c *confluentFormat) mergeOptionMaps(container *symField, existing, replacement *wireMap) *wireMap {
	md := c.messageOf(container)
	merged := newWireMap()
	for _, k := range existing.keys {
		merged.put(k, existing.vals[k])
	}
	for _, k := range replacement.keys {
		var nested *symField
		if md != nil {
			if f, ok := md.fields[k]; ok {
				nested = &f
			}
		}
		if old, ok := merged.get(k); ok {
			merged.put(k, c.mergeOptionValues(nested, old, replacement.vals[k]))
		} else {
			merged.put(k, replacement.vals[k])
		}
	}
	return merged
}

// mergeOptionValues: two message values of a singular message field
// merge, a singular field takes the later value, and a repeated (or
// unknown) field collects both, without duplicates.
func (c *confluentFormat) mergeOptionValues(fd *symField, v1, v2 any) any {
	singular := fd != nil && !fd.repeated
	m1, ok1 := v1.(*wireMap)
	m2, ok2 := v2.(*wireMap)
	if singular && ok1 && ok2 && c.messageOf(fd) != nil {
		return c.mergeOptionMaps(fd, m1, m2)
	}
	if singular {
		return v2
	}
	var out []any
	add := func(v any) {
		for _, x := range out {
			if wireEqual(x, v) {
				return
			}
		}
		out = append(out, v)
	}
	for _, v := range []any{v1, v2} {
		if l, ok := v.([]any); ok {
			for _, x := range l {
				add(x)
			}
		} else {
			add(v)
		}
	}
	return out
}

// wireEqual is Java's equals on option values: maps by content.
func wireEqual(a, b any) bool {
	switch a := a.(type) {
	case *wireMap:
		bm, ok := b.(*wireMap)
		if !ok || len(a.keys) != len(bm.keys) {
			return false
		}
		for _, k := range a.keys {
			bv, ok := bm.vals[k]
			if !ok || !wireEqual(a.vals[k], bv) {
				return false
			}
		}
		return true
	case []any:
		bl, ok := b.([]any)
		if !ok || len(a) != len(bl) {
			return false
		}
		for i := range a {
			if !wireEqual(a[i], bl[i]) {
				return false
			}
		}
		return true
	case *wireOption:
		bo, ok := b.(*wireOption)
		return ok && a.name == bo.name && a.kind == bo.kind && a.paren == bo.paren && wireEqual(a.value, bo.value)
	}
	return a == b
}

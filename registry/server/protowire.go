// A reader of .proto text into the elements Confluent's registry prints
// Protobuf schemas from. Confluent parses a schema with Square Wire's
// ProtoParser (wire-schema 6.4.5) and prints that tree (see
// confluentproto.go); to print the same bytes, this reader keeps what Wire
// keeps and drops what Wire drops: type names as written, options as
// written (their values as Wire's OptionReader reads them: strings
// unescaped, numbers as their words, message literals as ordered maps),
// fields, oneofs, groups, reserved and extension ranges in separate lists,
// comments and layout dropped.

package server

import (
	"fmt"
	"strconv"
	"strings"
)

// wireMaxTag is Wire's MAX_TAG_VALUE, what "max" reads as in a range.
const wireMaxTag = 536870911

type wireKind int

const (
	kindString wireKind = iota
	kindBoolean
	kindNumber
	kindEnum
	kindMap
	kindList
	kindOption
)

// wireOption is Wire's OptionElement. value is a string for the scalar
// kinds, *wireMap for kindMap, []any for kindList and *wireOption for
// kindOption (a name with a path, as in (foo).bar = 1).
type wireOption struct {
	name  string
	kind  wireKind
	value any
	paren bool
}

// wirePrim is Wire's OptionPrimitive: a boolean, number or enum value
// inside a map or a list. Strings there are plain strings.
type wirePrim struct {
	kind  wireKind
	value string
}

// wireMap is an insertion-ordered map, as Kotlin's mutableMapOf.
type wireMap struct {
	keys []string
	vals map[string]any
}

func newWireMap() *wireMap { return &wireMap{vals: map[string]any{}} }

func (m *wireMap) get(k string) (any, bool) { v, ok := m.vals[k]; return v, ok }

func (m *wireMap) put(k string, v any) {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

type wireRange struct{ start, end int } // inclusive

type wireFile struct {
	syntax                              string // "" when the file has no syntax statement
	pkg                                 string
	imports, publicImports, weakImports []string
	options                             []*wireOption
	types                               []any // *wireMessage, *wireEnum
	extends                             []*wireExtend
	services                            []*wireService
}

type wireMessage struct {
	name       string
	nested     []any
	options    []*wireOption
	reserved   []*wireReserved
	fields     []*wireField
	oneofs     []*wireOneof
	extensions []*wireExtensions
	groups     []*wireGroup
	extends    []*wireExtend
}

type wireEnum struct {
	name      string
	options   []*wireOption
	constants []*wireConstant
	reserved  []*wireReserved
}

type wireConstant struct {
	name    string
	tag     int
	options []*wireOption
}

type wireField struct {
	label    string // "", "optional", "required" or "repeated"
	typ      string
	name     string
	tag      int
	dflt     *string
	jsonName *string
	options  []*wireOption
}

type wireOneof struct {
	name    string
	fields  []*wireField
	groups  []*wireGroup
	options []*wireOption
}

type wireGroup struct {
	label  string
	name   string
	tag    int
	fields []*wireField
}

// wireReserved values are strings (names), ints and wireRanges.
type wireReserved struct{ values []any }

type wireExtensions struct {
	values  []any // ints and wireRanges
	options []*wireOption
}

type wireExtend struct {
	name   string
	fields []*wireField
}

type wireService struct {
	name    string
	rpcs    []*wireRPC
	options []*wireOption
}

type wireRPC struct {
	name                  string
	req, resp             string
	reqStream, respStream bool
	options               []*wireOption
}

// wireError is a syntax error at a line and column of the text.
type wireError struct {
	line, col int
	msg       string
}

func (e *wireError) Error() string { return fmt.Sprintf("line %d:%d: %s", e.line, e.col, e.msg) }

// wireReader is Wire's SyntaxReader.
type wireReader struct {
	data      []rune
	pos       int
	line      int
	lineStart int
}

// fail stops parsing with an error at the cursor (recovered by parseWire).
func (r *wireReader) fail(format string, args ...any) {
	panic(&wireError{line: r.line + 1, col: r.pos - r.lineStart + 1, msg: fmt.Sprintf(format, args...)})
}

func (r *wireReader) exhausted() bool { return r.pos == len(r.data) }

func (r *wireReader) skipWhitespace() {
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			r.pos++
			if c == '\n' {
				r.line++
				r.lineStart = r.pos
			}
		case c == '/':
			r.skipComment()
		default:
			return
		}
	}
}

func (r *wireReader) skipComment() {
	r.pos++
	if r.pos >= len(r.data) {
		r.fail("unexpected '/'")
	}
	switch r.data[r.pos] {
	case '*':
		r.pos++
		for {
			if r.pos+1 >= len(r.data) {
				r.fail("unterminated comment")
			}
			if r.data[r.pos] == '*' && r.data[r.pos+1] == '/' {
				r.pos += 2
				return
			}
			if r.data[r.pos] == '\n' {
				r.line++
				r.lineStart = r.pos + 1
			}
			r.pos++
		}
	case '/':
		for r.pos < len(r.data) && r.data[r.pos] != '\n' {
			r.pos++
		}
	default:
		r.fail("unexpected '/'")
	}
}

func (r *wireReader) peekChar() rune {
	r.skipWhitespace()
	if r.pos >= len(r.data) {
		r.fail("unexpected end of file")
	}
	return r.data[r.pos]
}

// peekIs consumes c if it is next, as Wire's peekChar(c).
func (r *wireReader) peekIs(c rune) bool {
	if r.peekChar() == c {
		r.pos++
		return true
	}
	return false
}

func (r *wireReader) readChar() rune {
	c := r.peekChar()
	r.pos++
	return c
}

func (r *wireReader) require(c rune) {
	if got := r.readChar(); got != c {
		r.pos--
		r.fail("expected '%c' but was '%c'", c, got)
	}
}

func (r *wireReader) readWord() string {
	r.skipWhitespace()
	start := r.pos
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' {
			r.pos++
			continue
		}
		break
	}
	if start == r.pos {
		r.fail("expected a word")
	}
	return string(r.data[start:r.pos])
}

func (r *wireReader) readName(retainWrap bool) string {
	switch r.peekChar() {
	case '(', '[':
		open := r.data[r.pos]
		close := map[rune]rune{'(': ')', '[': ']'}[open]
		r.pos++
		w := r.readWord()
		if r.readChar() != close {
			r.fail("expected '%c'", close)
		}
		if retainWrap {
			return string(open) + w + string(close)
		}
		return w
	}
	return r.readWord()
}

func (r *wireReader) readDataType() string { return r.readDataTypeFrom(r.readWord()) }

func (r *wireReader) readDataTypeFrom(name string) string {
	if name == "map" {
		r.require('<')
		key := r.readDataType()
		r.require(',')
		val := r.readDataType()
		r.require('>')
		return "map<" + key + ", " + val + ">"
	}
	var b strings.Builder
	b.WriteString(name)
	for r.peekChar() == '.' {
		r.pos++
		b.WriteString("." + r.readWord())
	}
	return b.String()
}

func (r *wireReader) readInt() int {
	w := r.readWord()
	tag, base := w, 10
	if strings.HasPrefix(tag, "0x") || strings.HasPrefix(tag, "0X") {
		tag, base = tag[2:], 16
	}
	n, err := strconv.ParseInt(tag, base, 32)
	if err != nil {
		r.fail("expected an integer but was %s", w)
	}
	return int(n)
}

func (r *wireReader) readQuotedString() string {
	quote := r.readChar()
	if quote != '"' && quote != '\'' {
		r.pos--
		r.fail("expected quoted string")
	}
	var b strings.Builder
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		r.pos++
		if c == quote {
			if p := r.peekChar(); p == '"' || p == '\'' { // adjacent strings are one
				quote = r.readChar()
				continue
			}
			return b.String()
		}
		if c == '\\' {
			if r.pos >= len(r.data) {
				r.fail("unexpected end of file")
			}
			c = r.data[r.pos]
			r.pos++
			switch c {
			case 'a':
				c = 7
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'v':
				c = '\v'
			case 'x', 'X':
				c = r.readNumericEscape(16, 2)
			case '0', '1', '2', '3', '4', '5', '6', '7':
				r.pos--
				c = r.readNumericEscape(8, 3)
			}
		}
		b.WriteRune(c)
		if c == '\n' {
			r.line++
			r.lineStart = r.pos
		}
	}
	r.fail("unterminated string")
	return ""
}

func (r *wireReader) readNumericEscape(radix, n int) rune {
	value := -1
	end := min(r.pos+n, len(r.data))
	for r.pos < end {
		d := hexDigit(r.data[r.pos])
		if d < 0 || d >= radix {
			break
		}
		if value < 0 {
			value = d
		} else {
			value = value*radix + d
		}
		r.pos++
	}
	if value < 0 {
		r.fail("expected a digit after \\x or \\X")
	}
	return rune(value)
}

func hexDigit(c rune) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func (r *wireReader) readString() string {
	if p := r.peekChar(); p == '"' || p == '\'' {
		return r.readQuotedString()
	}
	return r.readWord()
}

// readOptions reads [a = 1, b = 2] when present.
func (r *wireReader) readOptions() []*wireOption {
	if !r.peekIs('[') {
		return nil
	}
	var out []*wireOption
	for {
		out = append(out, r.readOption('='))
		if r.peekIs(']') {
			return out
		}
		if !r.peekIs(',') {
			r.fail("expected ',' or ']'")
		}
	}
}

func (r *wireReader) readOption(sep rune) *wireOption {
	isExt := r.peekChar() == '['
	paren := r.peekChar() == '('
	name := r.readName(false)
	if isExt {
		name = "[" + name + "]"
	}
	var subNames []string
	var c rune
	for {
		c = r.readChar()
		if c != '.' {
			break
		}
		sub := r.readName(true)
		if strings.HasPrefix(sub, "(") {
			subNames = append(subNames, sub)
		} else {
			subNames = append(subNames, strings.Split(sub, ".")...)
		}
	}
	if sep == ':' && c == '{' {
		r.pos-- // a message value may omit the ':'
	} else if c != sep {
		r.pos--
		r.fail("expected '%c' in option", sep)
	}
	kind, value := r.readKindAndValue()
	for i := len(subNames) - 1; i >= 0; i-- {
		sub, p := subNames[i], false
		if strings.HasPrefix(sub, "(") {
			sub, p = sub[1:len(sub)-1], true
		}
		value = &wireOption{name: sub, kind: kind, value: value, paren: p}
		kind = kindOption
	}
	return &wireOption{name: name, kind: kind, value: value, paren: paren}
}

func (r *wireReader) readKindAndValue() (wireKind, any) {
	switch p := r.peekChar(); {
	case p == '{':
		return kindMap, r.readMap()
	case p == '[':
		return kindList, r.readList()
	case p == '"' || p == '\'':
		return kindString, r.readString()
	case p >= '0' && p <= '9' || p == '-':
		return kindNumber, r.readWord()
	}
	switch w := r.readWord(); w {
	case "true", "false":
		return kindBoolean, w
	default:
		return kindEnum, w
	}
}

func primOrValue(o *wireOption) any {
	if o.kind == kindBoolean || o.kind == kindEnum || o.kind == kindNumber {
		return wirePrim{o.kind, o.value.(string)}
	}
	return o.value
}

func (r *wireReader) readMap() *wireMap {
	r.require('{')
	m := newWireMap()
	for {
		if r.peekIs('}') {
			return m
		}
		o := r.readOption(':')
		v := primOrValue(o)
		if nested, ok := v.(*wireOption); ok {
			inner, _ := m.get(o.name)
			im, ok := inner.(*wireMap)
			if !ok {
				im = newWireMap()
				m.put(o.name, im)
			}
			im.put(nested.name, nested.value)
		} else {
			switch prev, ok := m.get(o.name); {
			case !ok:
				m.put(o.name, v)
			default:
				list, isList := prev.([]any)
				if !isList {
					list = []any{prev}
				}
				if vl, ok := v.([]any); ok {
					list = append(list, vl...)
				} else {
					list = append(list, v)
				}
				m.put(o.name, list)
			}
		}
		if !r.peekIs(',') {
			r.peekIs(';')
		}
	}
}

func (r *wireReader) readList() []any {
	r.require('[')
	out := []any{}
	for {
		if r.peekIs(']') {
			return out
		}
		kind, value := r.readKindAndValue()
		if kind == kindBoolean || kind == kindEnum || kind == kindNumber {
			value = wirePrim{kind, value.(string)}
		}
		out = append(out, value)
		if r.peekIs(',') {
			continue
		}
		if r.peekChar() != ']' {
			r.fail("expected ',' or ']'")
		}
	}
}

// parseWire reads .proto text as Wire's ProtoParser does. Text Wire
// refuses is an error naming the line and column.
func parseWire(text string) (f *wireFile, err error) {
	defer func() {
		if p := recover(); p != nil {
			we, ok := p.(*wireError)
			if !ok {
				panic(p)
			}
			f, err = nil, we
		}
	}()
	p := &wireParser{r: &wireReader{data: []rune(text)}, f: &wireFile{}}
	p.file()
	return p.f, nil
}

type wireParser struct {
	r            *wireReader
	f            *wireFile
	declarations int
	syntaxSeen   bool
}

type wireContext int

const (
	ctxFile wireContext = iota
	ctxMessage
	ctxEnum
	ctxRPC
	ctxExtend
	ctxService
)

func (p *wireParser) file() {
	for {
		p.r.skipWhitespace()
		if p.r.exhausted() {
			return
		}
		switch d := p.declaration(ctxFile).(type) {
		case *wireMessage, *wireEnum:
			p.f.types = append(p.f.types, d)
		case *wireService:
			p.f.services = append(p.f.services, d)
		case *wireOption:
			p.f.options = append(p.f.options, d)
		case *wireExtend:
			p.f.extends = append(p.f.extends, d)
		}
	}
}

func (p *wireParser) declaration(ctx wireContext) any {
	r := p.r
	index := p.declarations
	p.declarations++
	if r.peekIs(';') {
		return nil
	}
	label := r.readWord()
	switch {
	case label == "package" && ctx == ctxFile:
		p.f.pkg = r.readName(false)
		r.require(';')
		return nil
	case label == "import" && ctx == ctxFile:
		if c := r.peekChar(); c == '"' || c == '\'' {
			p.f.imports = append(p.f.imports, r.readQuotedString())
		} else {
			switch r.readString() {
			case "weak":
				p.f.weakImports = append(p.f.weakImports, r.readQuotedString())
			case "public":
				p.f.publicImports = append(p.f.publicImports, r.readQuotedString())
			default:
				r.fail("expected quoted string")
			}
		}
		r.require(';')
		return nil
	case label == "syntax" && ctx == ctxFile:
		if p.syntaxSeen {
			r.fail("too many syntax definitions")
		}
		r.require('=')
		if index != 0 {
			r.fail("'syntax' element must be the first declaration in a file")
		}
		s := r.readQuotedString()
		if s != "proto2" && s != "proto3" {
			r.fail("unexpected syntax: %s", s)
		}
		p.f.syntax, p.syntaxSeen = s, true
		r.require(';')
		return nil
	case label == "option":
		o := r.readOption('=')
		r.require(';')
		return o
	case label == "reserved":
		return p.reserved()
	case label == "message" && (ctx == ctxFile || ctx == ctxMessage):
		return p.message()
	case label == "enum" && (ctx == ctxFile || ctx == ctxMessage):
		return p.enum()
	case label == "service" && ctx == ctxFile:
		return p.service()
	case label == "extend" && (ctx == ctxFile || ctx == ctxMessage):
		return p.extend()
	case label == "rpc" && ctx == ctxService:
		return p.rpc()
	case label == "oneof" && ctx == ctxMessage:
		return p.oneof()
	case label == "extensions" && ctx == ctxMessage:
		return p.extensions()
	case ctx == ctxMessage || ctx == ctxExtend:
		return p.field(label)
	case ctx == ctxEnum:
		return p.constant(label)
	}
	r.fail("unexpected label: %s", label)
	return nil
}

func (p *wireParser) message() *wireMessage {
	m := &wireMessage{name: p.r.readName(false)}
	p.r.require('{')
	for !p.r.peekIs('}') {
		switch d := p.declaration(ctxMessage).(type) {
		case *wireField:
			m.fields = append(m.fields, d)
		case *wireOneof:
			m.oneofs = append(m.oneofs, d)
		case *wireGroup:
			m.groups = append(m.groups, d)
		case *wireMessage, *wireEnum:
			m.nested = append(m.nested, d)
		case *wireExtensions:
			m.extensions = append(m.extensions, d)
		case *wireOption:
			m.options = append(m.options, d)
		case *wireExtend:
			m.extends = append(m.extends, d)
		case *wireReserved:
			m.reserved = append(m.reserved, d)
		}
	}
	return m
}

func (p *wireParser) extend() *wireExtend {
	e := &wireExtend{name: p.r.readName(false)}
	p.r.require('{')
	for !p.r.peekIs('}') {
		if f, ok := p.declaration(ctxExtend).(*wireField); ok {
			e.fields = append(e.fields, f)
		}
	}
	return e
}

func (p *wireParser) service() *wireService {
	s := &wireService{name: p.r.readName(false)}
	p.r.require('{')
	for !p.r.peekIs('}') {
		switch d := p.declaration(ctxService).(type) {
		case *wireRPC:
			s.rpcs = append(s.rpcs, d)
		case *wireOption:
			s.options = append(s.options, d)
		}
	}
	return s
}

func (p *wireParser) enum() *wireEnum {
	e := &wireEnum{name: p.r.readName(false)}
	p.r.require('{')
	for !p.r.peekIs('}') {
		switch d := p.declaration(ctxEnum).(type) {
		case *wireConstant:
			e.constants = append(e.constants, d)
		case *wireOption:
			e.options = append(e.options, d)
		case *wireReserved:
			e.reserved = append(e.reserved, d)
		}
	}
	return e
}

func (p *wireParser) field(word string) any {
	r := p.r
	var label, typ string
	switch word {
	case "required":
		if p.f.syntax == "proto3" {
			r.fail("'required' label forbidden in proto3 field declarations")
		}
		label, typ = word, r.readDataType()
	case "optional", "repeated":
		label, typ = word, r.readDataType()
	default:
		if p.f.syntax != "proto3" && (word != "map" || r.peekChar() != '<') {
			r.fail("unexpected label: %s", word)
		}
		typ = r.readDataTypeFrom(word)
	}
	if strings.HasPrefix(typ, "map<") && label != "" {
		r.fail("'map' type cannot have label")
	}
	if typ == "group" {
		return p.group(label)
	}
	return p.fieldOf(label, typ)
}

func (p *wireParser) fieldOf(label, typ string) *wireField {
	r := p.r
	f := &wireField{label: label, typ: typ, name: r.readName(false)}
	r.require('=')
	f.tag = r.readInt()
	opts := r.readOptions()
	strip := func(name string) *string {
		var v *string
		kept := opts[:0:0]
		for _, o := range opts {
			if o.name == name {
				s := optionValueString(o)
				v = &s
				continue
			}
			kept = append(kept, o)
		}
		opts = kept
		return v
	}
	f.dflt = strip("default")
	f.jsonName = strip("json_name")
	f.options = opts
	r.require(';')
	return f
}

// optionValueString is Kotlin's toString of an option's value, as Wire
// keeps a default or json_name: the text for the scalar kinds.
func optionValueString(o *wireOption) string {
	if s, ok := o.value.(string); ok {
		return s
	}
	return fmt.Sprint(o.value)
}

func (p *wireParser) oneof() *wireOneof {
	r := p.r
	o := &wireOneof{name: r.readName(false)}
	r.require('{')
	for !r.peekIs('}') {
		switch typ := r.readDataType(); typ {
		case "group":
			o.groups = append(o.groups, p.group(""))
		case "option":
			o.options = append(o.options, r.readOption('='))
			r.require(';')
		default:
			o.fields = append(o.fields, p.fieldOf("", typ))
		}
	}
	return o
}

func (p *wireParser) group(label string) *wireGroup {
	r := p.r
	g := &wireGroup{label: label, name: r.readWord()}
	r.require('=')
	g.tag = r.readInt()
	r.require('{')
	for !r.peekIs('}') {
		f, ok := p.field(r.readWord()).(*wireField)
		if !ok {
			r.fail("expected field declaration")
		}
		g.fields = append(g.fields, f)
	}
	return g
}

func (p *wireParser) rangeEnd() int {
	if w := p.r.readWord(); w == "max" {
		return wireMaxTag
	} else if n, err := strconv.ParseInt(w, 10, 32); err == nil {
		return int(n)
	}
	p.r.fail("expected an integer")
	return 0
}

func (p *wireParser) reserved() *wireReserved {
	r := p.r
	res := &wireReserved{}
	for {
		if c := r.peekChar(); c == '"' || c == '\'' {
			res.values = append(res.values, r.readQuotedString())
		} else {
			start := r.readInt()
			if c := r.peekChar(); c == ',' || c == ';' {
				res.values = append(res.values, start)
			} else {
				if r.readWord() != "to" {
					r.fail("expected ',', ';', or 'to'")
				}
				res.values = append(res.values, wireRange{start, p.rangeEnd()})
			}
		}
		switch r.readChar() {
		case ';':
			return res
		case ',':
		default:
			r.pos--
			r.fail("expected ',' or ';'")
		}
	}
}

func (p *wireParser) extensions() *wireExtensions {
	r := p.r
	e := &wireExtensions{}
	for {
		start := r.readInt()
		if c := r.peekChar(); c == ',' || c == ';' || c == '[' {
			e.values = append(e.values, start)
		} else {
			if r.readWord() != "to" {
				r.fail("expected ',', ';', '[' or 'to'")
			}
			e.values = append(e.values, wireRange{start, p.rangeEnd()})
		}
		if r.peekChar() == '[' {
			e.options = append(e.options, r.readOptions()...)
			r.require(';')
			return e
		}
		switch r.readChar() {
		case ';':
			return e
		case ',':
		default:
			r.pos--
			r.fail("expected ',' or ';'")
		}
	}
}

func (p *wireParser) constant(name string) *wireConstant {
	r := p.r
	r.require('=')
	c := &wireConstant{name: name, tag: r.readInt()}
	c.options = r.readOptions()
	r.require(';')
	return c
}

func (p *wireParser) rpc() *wireRPC {
	r := p.r
	rpc := &wireRPC{name: r.readName(false)}
	r.require('(')
	if w := r.readWord(); w == "stream" {
		rpc.req, rpc.reqStream = r.readDataType(), true
	} else {
		rpc.req = r.readDataTypeFrom(w)
	}
	r.require(')')
	if r.readWord() != "returns" {
		r.fail("expected 'returns'")
	}
	r.require('(')
	if w := r.readWord(); w == "stream" {
		rpc.resp, rpc.respStream = r.readDataType(), true
	} else {
		rpc.resp = r.readDataTypeFrom(w)
	}
	r.require(')')
	if r.peekIs('{') {
		for !r.peekIs('}') {
			if o, ok := p.declaration(ctxRPC).(*wireOption); ok {
				rpc.options = append(rpc.options, o)
			}
		}
	} else {
		r.require(';')
	}
	return rpc
}

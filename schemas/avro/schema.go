// Package avro parses Avro schemas and converts BSON documents to and from
// the Avro binary encoding.
//
// The parser follows the Avro 1.12 specification: primitive and complex
// types, named types with namespaces and aliases, logical types (an invalid
// logical type is ignored, as the specification requires), and field
// defaults, which are checked against their types. Custom properties are
// kept, among them schemaflow's bsonName and bsonOmitNull.
//
// The codec walks BSON and the parsed schema together and writes Avro binary
// directly, without building intermediate maps. Values are coerced only when
// no information is lost (an int32 into a long, an int64 into a double when
// it fits exactly); anything else is a *DataError naming the field.
package avro

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
)

// Kind is an Avro type.
type Kind uint8

// The Avro types.
const (
	Null Kind = iota + 1
	Boolean
	Int
	Long
	Float
	Double
	Bytes
	String
	Record
	Enum
	Array
	Map
	Union
	Fixed
)

var kindNames = map[Kind]string{
	Null: "null", Boolean: "boolean", Int: "int", Long: "long", Float: "float", Double: "double",
	Bytes: "bytes", String: "string", Record: "record", Enum: "enum", Array: "array", Map: "map",
	Union: "union", Fixed: "fixed",
}

// String returns the Avro name of the kind.
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

var primitives = map[string]Kind{
	"null": Null, "boolean": Boolean, "int": Int, "long": Long, "float": Float,
	"double": Double, "bytes": Bytes, "string": String,
}

// Type is one node of a parsed schema. Named types (record, enum, fixed) are
// shared: every reference to a name points at the same *Type.
type Type struct {
	Kind Kind
	// Name is the full name of a named type.
	Name    string
	Aliases []string // full names
	Doc     string
	// Logical is the logical type, or "" when absent or invalid.
	Logical   string
	Precision int // decimal
	Scale     int // decimal

	Fields []*Field // record

	Symbols        []string // enum
	EnumDefault    string
	HasEnumDefault bool

	Items    *Type   // array
	Values   *Type   // map
	Branches []*Type // union
	Size     int     // fixed

	// Props holds the custom properties, the attributes the specification
	// does not define.
	Props map[string]any

	// bsonKind is the BSON kind a schemaflow helper type carries, or 0.
	bsonKind schemas.Kind
	// byBSON maps a record field's BSON name to its index.
	byBSON map[string]int
	// minSize is the fewest bytes a value of this type takes; 0 when a
	// value can be empty (null, a record of such fields).
	minSize int
}

// Field is a record field.
type Field struct {
	Name       string
	Aliases    []string
	Doc        string
	Type       *Type
	Default    any // decoded JSON (json.Number for numbers); valid when HasDefault
	HasDefault bool
	Order      string // "ascending" (default), "descending" or "ignore"
	Props      map[string]any

	// BSONName is the field's name in BSON documents: the bsonName property,
	// or Name.
	BSONName string
	// OmitNull is the bsonOmitNull property: a null value stands for a
	// missing BSON field.
	OmitNull bool
	// bsonKey is BSONName prepared for the encoder's field lookups.
	bsonKey rawbson.Key
}

// Schema is a parsed Avro schema.
type Schema struct {
	Root  *Type
	named map[string]*Type
	text  []byte
}

// Named returns the named type with the given full name, or nil.
func (s *Schema) Named(fullName string) *Type { return s.named[fullName] }

// NamedTypes returns every named type of the schema, by full name.
func (s *Schema) NamedTypes() map[string]*Type { return maps.Clone(s.named) }

// Text returns the schema text the Schema was parsed from.
func (s *Schema) Text() []byte { return s.text }

// SchemaError reports an invalid schema, with the JSON path of the problem.
type SchemaError struct {
	Path string
	Msg  string
}

// Error implements error.
func (e *SchemaError) Error() string {
	if e.Path == "" {
		return "avro schema: " + e.Msg
	}
	return fmt.Sprintf("avro schema: %s: %s", e.Path, e.Msg)
}

// Parse parses an Avro schema from its JSON text.
func Parse(text []byte) (*Schema, error) { return ParseWith(text) }

// ParseWith parses an Avro schema that may use the named types of other
// schemas: schema references, as a registry resolves them.
func ParseWith(text []byte, known ...*Schema) (*Schema, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &SchemaError{Msg: "invalid JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &SchemaError{Msg: "invalid JSON: data after the schema"}
	}
	p := &parser{named: map[string]*Type{}}
	for _, k := range known {
		maps.Copy(p.named, k.named)
	}
	root, err := p.parse(v, "", "")
	if err != nil {
		return nil, err
	}
	s := &Schema{Root: root, named: p.named, text: slices.Clone(text)}
	computeMinSize(root, map[*Type]bool{})
	return s, nil
}

type parser struct {
	named map[string]*Type
}

func errAt(path, format string, args ...any) error {
	return &SchemaError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

func at(path string, part any) string { return fmt.Sprintf("%s/%v", path, part) }

func (p *parser) parse(v any, ns, path string) (*Type, error) {
	switch x := v.(type) {
	case string:
		return p.ref(x, ns, path)
	case []any:
		return p.union(x, ns, path)
	case map[string]any:
		return p.object(x, ns, path)
	}
	return nil, errAt(path, "a type must be a string, an object or an array, not %s", jsonKind(v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}

func (p *parser) ref(name, ns, path string) (*Type, error) {
	if k, ok := primitives[name]; ok {
		return &Type{Kind: k}, nil
	}
	if t := p.named[fullName(name, ns)]; t != nil {
		return t, nil
	}
	if t := p.named[name]; t != nil { // a name in the null namespace
		return t, nil
	}
	return nil, errAt(path, "unknown type %q", name)
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func (p *parser) union(branches []any, ns, path string) (*Type, error) {
	t := &Type{Kind: Union}
	seen := map[string]bool{}
	for i, b := range branches {
		bt, err := p.parse(b, ns, at(path, i))
		if err != nil {
			return nil, err
		}
		if bt.Kind == Union {
			return nil, errAt(at(path, i), "a union may not directly contain a union")
		}
		key := bt.Kind.String()
		if bt.Name != "" {
			key = bt.Name
		}
		if seen[key] {
			return nil, errAt(at(path, i), "duplicate %q in union", key)
		}
		seen[key] = true
		t.Branches = append(t.Branches, bt)
	}
	return t, nil
}

var reserved = map[string]bool{
	"type": true, "name": true, "namespace": true, "fields": true, "items": true, "values": true,
	"symbols": true, "size": true, "doc": true, "aliases": true, "default": true, "logicalType": true,
	"precision": true, "scale": true, "order": true,
}

func customProps(m map[string]any, extra ...string) map[string]any {
	var out map[string]any
	for k, v := range m {
		if reserved[k] || slices.Contains(extra, k) {
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		out[k] = v
	}
	return out
}

func (p *parser) object(m map[string]any, ns, path string) (*Type, error) {
	tv, ok := m["type"]
	if !ok {
		return nil, errAt(path, "missing \"type\"")
	}
	name, isString := tv.(string)
	if !isString {
		// {"type": {...}} or {"type": [...]}: the object is a wrapper.
		return p.parse(tv, ns, at(path, "type"))
	}
	var t *Type
	var err error
	switch name {
	case "record", "error":
		t, err = p.record(m, ns, path)
	case "enum":
		t, err = p.enum(m, ns, path)
	case "fixed":
		t, err = p.fixed(m, ns, path)
	case "array":
		t = &Type{Kind: Array}
		items, ok := m["items"]
		if !ok {
			return nil, errAt(path, "array without \"items\"")
		}
		t.Items, err = p.parse(items, ns, at(path, "items"))
	case "map":
		t = &Type{Kind: Map}
		values, ok := m["values"]
		if !ok {
			return nil, errAt(path, "map without \"values\"")
		}
		t.Values, err = p.parse(values, ns, at(path, "values"))
	default:
		k, ok := primitives[name]
		if !ok {
			// {"type": "SomeNamedType"}
			return p.ref(name, ns, path)
		}
		t = &Type{Kind: k}
	}
	if err != nil {
		return nil, err
	}
	if t.Props == nil && t.Kind != Record && t.Kind != Enum && t.Kind != Fixed {
		t.Props = customProps(m)
	}
	if lt, ok := m["logicalType"].(string); ok {
		applyLogical(t, lt, m)
	}
	return t, nil
}

// applyLogical records a logical type when it is valid for the type; the
// specification says an invalid one is ignored.
func applyLogical(t *Type, lt string, m map[string]any) {
	valid := false
	switch lt {
	case "decimal":
		prec, ok1 := intProp(m, "precision")
		scale, ok2 := intProp(m, "scale")
		if !ok2 {
			scale, ok2 = 0, true
			if _, present := m["scale"]; present {
				ok2 = false
			}
		}
		if ok1 && ok2 && prec > 0 && scale >= 0 && scale <= prec && (t.Kind == Bytes || t.Kind == Fixed) {
			if t.Kind == Fixed {
				// The precision must fit in the fixed size.
				maxPrec := int(math.Floor(math.Log10(2) * float64(8*t.Size-1)))
				if prec > maxPrec {
					break
				}
			}
			t.Precision, t.Scale = prec, scale
			valid = true
		}
	case "uuid":
		valid = t.Kind == String || (t.Kind == Fixed && t.Size == 16)
	case "date", "time-millis":
		valid = t.Kind == Int
	case "time-micros", "timestamp-millis", "timestamp-micros", "timestamp-nanos",
		"local-timestamp-millis", "local-timestamp-micros", "local-timestamp-nanos":
		valid = t.Kind == Long
	case "duration":
		valid = t.Kind == Fixed && t.Size == 12
	case "big-decimal":
		valid = t.Kind == Bytes
	}
	if valid {
		t.Logical = lt
	}
}

func intProp(m map[string]any, key string) (int, bool) {
	n, ok := m[key].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > math.MaxInt32 {
		return 0, false
	}
	return int(i), true
}

// declare parses the name, namespace and aliases of a named type and
// registers it.
func (p *parser) declare(t *Type, m map[string]any, ns, path string) (string, error) {
	name, ok := m["name"].(string)
	if !ok {
		return "", errAt(path, "a %s needs a string \"name\"", t.Kind)
	}
	if nsv, present := m["namespace"]; present {
		s, ok := nsv.(string)
		if !ok && nsv != nil {
			return "", errAt(path, "\"namespace\" must be a string")
		}
		ns = s
	}
	full := fullName(name, ns)
	if err := checkFullName(full); err != nil {
		return "", errAt(path, "%v", err)
	}
	if _, isPrim := primitives[full]; isPrim {
		return "", errAt(path, "%q is a primitive type name and cannot name a %s", full, t.Kind)
	}
	if p.named[full] != nil {
		return "", errAt(path, "%q is defined twice", full)
	}
	t.Name = full
	if d, ok := m["doc"].(string); ok {
		t.Doc = d
	}
	// The namespace of the full name applies to nested and alias names.
	ns = ""
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		ns = full[:i]
	}
	if av, present := m["aliases"]; present {
		list, ok := av.([]any)
		if !ok {
			return "", errAt(path, "\"aliases\" must be an array of names")
		}
		for _, a := range list {
			s, ok := a.(string)
			if !ok {
				return "", errAt(path, "\"aliases\" must be an array of names")
			}
			s = fullName(s, ns)
			if err := checkFullName(s); err != nil {
				return "", errAt(at(path, "aliases"), "%v", err)
			}
			t.Aliases = append(t.Aliases, s)
		}
	}
	p.named[full] = t
	t.bsonKind = schemas.KindForAvroHelper(full)
	return ns, nil
}

func checkFullName(full string) error {
	for _, part := range strings.Split(full, ".") {
		if !legalName(part) {
			return fmt.Errorf("%q is not a valid name", full)
		}
	}
	return nil
}

func legalName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func (p *parser) record(m map[string]any, ns, path string) (*Type, error) {
	t := &Type{Kind: Record, Props: customProps(m)}
	ns, err := p.declare(t, m, ns, path)
	if err != nil {
		return nil, err
	}
	fv, ok := m["fields"].([]any)
	if !ok {
		return nil, errAt(path, "record %q needs a \"fields\" array", t.Name)
	}
	t.byBSON = make(map[string]int, len(fv))
	names := map[string]bool{}
	for i, f := range fv {
		fpath := at(at(path, "fields"), i)
		fm, ok := f.(map[string]any)
		if !ok {
			return nil, errAt(fpath, "a field must be an object")
		}
		fld, err := p.field(fm, ns, fpath)
		if err != nil {
			return nil, err
		}
		if names[fld.Name] {
			return nil, errAt(fpath, "duplicate field %q in record %q", fld.Name, t.Name)
		}
		names[fld.Name] = true
		if _, dup := t.byBSON[fld.BSONName]; dup {
			return nil, errAt(fpath, "two fields of record %q carry the BSON name %q", t.Name, fld.BSONName)
		}
		t.byBSON[fld.BSONName] = len(t.Fields)
		fld.bsonKey = rawbson.MakeKey(fld.BSONName)
		t.Fields = append(t.Fields, fld)
	}
	if t.bsonKind != 0 && !helperShapeOK(t) {
		t.bsonKind = 0 // a record that merely shares the name is an ordinary record
	}
	return t, nil
}

func (p *parser) field(m map[string]any, ns, path string) (*Field, error) {
	name, ok := m["name"].(string)
	if !ok {
		return nil, errAt(path, "a field needs a string \"name\"")
	}
	if !legalName(name) {
		return nil, errAt(path, "field name %q is not a valid name", name)
	}
	tv, ok := m["type"]
	if !ok {
		return nil, errAt(path, "field %q has no \"type\"", name)
	}
	ft, err := p.parse(tv, ns, at(path, "type"))
	if err != nil {
		return nil, err
	}
	f := &Field{Name: name, Type: ft, Order: "ascending", BSONName: name, Props: customProps(m, "name", "type")}
	if d, ok := m["doc"].(string); ok {
		f.Doc = d
	}
	if o, present := m["order"]; present {
		s, _ := o.(string)
		if s != "ascending" && s != "descending" && s != "ignore" {
			return nil, errAt(path, "field %q: order must be ascending, descending or ignore", name)
		}
		f.Order = s
	}
	if av, present := m["aliases"]; present {
		list, ok := av.([]any)
		if !ok {
			return nil, errAt(path, "field %q: \"aliases\" must be an array of names", name)
		}
		for _, a := range list {
			s, ok := a.(string)
			if !ok || !legalName(s) {
				return nil, errAt(path, "field %q: alias %v is not a valid name", name, a)
			}
			f.Aliases = append(f.Aliases, s)
		}
	}
	if d, present := m["default"]; present {
		if err := checkDefault(ft, d); err != nil {
			return nil, errAt(at(path, "default"), "field %q: invalid default: %v", name, err)
		}
		f.Default, f.HasDefault = d, true
	}
	if bn, present := m[schemas.PropBSONName]; present {
		s, ok := bn.(string)
		if !ok || strings.IndexByte(s, 0) >= 0 {
			return nil, errAt(path, "field %q: %s must be a string without NUL bytes", name, schemas.PropBSONName)
		}
		f.BSONName = s
	}
	if on, present := m[schemas.PropOmitNull]; present {
		b, ok := on.(bool)
		if !ok {
			return nil, errAt(path, "field %q: %s must be a boolean", name, schemas.PropOmitNull)
		}
		f.OmitNull = b
	}
	return f, nil
}

func (p *parser) enum(m map[string]any, ns, path string) (*Type, error) {
	t := &Type{Kind: Enum, Props: customProps(m)}
	if _, err := p.declare(t, m, ns, path); err != nil {
		return nil, err
	}
	sv, ok := m["symbols"].([]any)
	if !ok {
		return nil, errAt(path, "enum %q needs a \"symbols\" array", t.Name)
	}
	for _, s := range sv {
		str, ok := s.(string)
		if !ok || !legalName(str) {
			return nil, errAt(at(path, "symbols"), "enum %q: symbol %v is not a valid name", t.Name, s)
		}
		if slices.Contains(t.Symbols, str) {
			return nil, errAt(at(path, "symbols"), "enum %q: duplicate symbol %q", t.Name, str)
		}
		t.Symbols = append(t.Symbols, str)
	}
	if d, present := m["default"]; present {
		s, ok := d.(string)
		if !ok || !slices.Contains(t.Symbols, s) {
			return nil, errAt(at(path, "default"), "enum %q: default %v is not one of its symbols", t.Name, d)
		}
		t.EnumDefault, t.HasEnumDefault = s, true
	}
	if t.bsonKind != 0 && !(len(t.Symbols) == 1 && t.Symbols[0] == schemas.AvroHelperName(t.bsonKind)) {
		t.bsonKind = 0
	}
	return t, nil
}

func (p *parser) fixed(m map[string]any, ns, path string) (*Type, error) {
	t := &Type{Kind: Fixed, Props: customProps(m)}
	if _, err := p.declare(t, m, ns, path); err != nil {
		return nil, err
	}
	size, ok := intProp(m, "size")
	if !ok {
		return nil, errAt(path, "fixed %q needs a non-negative integer \"size\"", t.Name)
	}
	t.Size = size
	if t.bsonKind != 0 && !(t.bsonKind == schemas.KindUUID && size == 16) {
		t.bsonKind = 0
	}
	return t, nil
}

// helperShapeOK reports whether a record named like a schemaflow helper has
// the helper's fields, so that it can be decoded into the BSON type.
func helperShapeOK(t *Type) bool {
	want := map[schemas.Kind][]string{
		schemas.KindBinaryOther:   {"subtype:int", "data:bytes"},
		schemas.KindObjectID:      {"oid:string"},
		schemas.KindRegex:         {"pattern:string", "options:string"},
		schemas.KindJavaScript:    {"code:string"},
		schemas.KindDecimal128:    {"value:string"},
		schemas.KindTimestamp:     {"t:long", "i:long"},
		schemas.KindDBPointer:     {"ref:string", "id:record"},
		schemas.KindSymbol:        {"symbol:string"},
		schemas.KindCodeWithScope: {"code:string", "scope:bytes"},
		schemas.KindDate:          {"millis:long"},
	}[t.bsonKind]
	if want == nil || len(want) != len(t.Fields) {
		return false
	}
	for i, f := range t.Fields {
		if f.Name+":"+f.Type.Kind.String() != want[i] {
			return false
		}
	}
	if t.bsonKind == schemas.KindDBPointer && t.Fields[1].Type.bsonKind != schemas.KindObjectID {
		return false
	}
	return true
}

// checkDefault checks a default value against its type. For a union the
// default belongs to the first branch, as the specification says.
func checkDefault(t *Type, d any) error {
	switch t.Kind {
	case Union:
		return checkDefault(t.Branches[0], d)
	case Null:
		if d != nil {
			return errors.New("a null default must be null")
		}
	case Boolean:
		if _, ok := d.(bool); !ok {
			return errors.New("want a boolean")
		}
	case Int, Long:
		n, ok := d.(json.Number)
		if !ok {
			return errors.New("want an integer")
		}
		i, err := n.Int64()
		if err != nil {
			return errors.New("want an integer")
		}
		if t.Kind == Int && (i < math.MinInt32 || i > math.MaxInt32) {
			return errors.New("out of int range")
		}
	case Float, Double:
		n, ok := d.(json.Number)
		if !ok {
			if s, isStr := d.(string); isStr && (s == "NaN" || s == "Infinity" || s == "-Infinity") {
				return nil
			}
			return errors.New("want a number")
		}
		if _, err := n.Float64(); err != nil {
			return errors.New("want a number")
		}
	case String:
		if _, ok := d.(string); !ok {
			return errors.New("want a string")
		}
	case Bytes, Fixed:
		s, ok := d.(string)
		if !ok {
			return errors.New("want a string of code points 0-255")
		}
		b, err := latin1(s)
		if err != nil {
			return err
		}
		if t.Kind == Fixed && len(b) != t.Size {
			return fmt.Errorf("want %d bytes, got %d", t.Size, len(b))
		}
	case Enum:
		s, ok := d.(string)
		if !ok || !slices.Contains(t.Symbols, s) {
			return fmt.Errorf("want one of the symbols of %q", t.Name)
		}
	case Array:
		list, ok := d.([]any)
		if !ok {
			return errors.New("want an array")
		}
		for _, v := range list {
			if err := checkDefault(t.Items, v); err != nil {
				return err
			}
		}
	case Map:
		mm, ok := d.(map[string]any)
		if !ok {
			return errors.New("want an object")
		}
		for _, v := range mm {
			if err := checkDefault(t.Values, v); err != nil {
				return err
			}
		}
	case Record:
		mm, ok := d.(map[string]any)
		if !ok {
			return errors.New("want an object")
		}
		for _, f := range t.Fields {
			v, present := mm[f.Name]
			if !present {
				if !f.HasDefault {
					return fmt.Errorf("field %q missing", f.Name)
				}
				continue
			}
			if err := checkDefault(f.Type, v); err != nil {
				return fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
	}
	return nil
}

// latin1 converts a JSON string whose code points are 0-255 to bytes, the
// Avro encoding of bytes and fixed defaults.
func latin1(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 255 {
			return nil, fmt.Errorf("code point %U is above 255", r)
		}
		out = append(out, byte(r))
	}
	return out, nil
}

// computeMinSize fills minSize; a type met again on the way down is counted
// as 1 byte, which only makes the bound looser.
func computeMinSize(t *Type, visiting map[*Type]bool) int {
	if visiting[t] {
		return 1
	}
	if t.minSize != 0 || t.Kind == Null {
		return t.minSize
	}
	visiting[t] = true
	defer delete(visiting, t)
	switch t.Kind {
	case Boolean, Int, Long, Bytes, String, Enum, Union, Array, Map:
		t.minSize = 1
		for _, b := range t.Branches {
			computeMinSize(b, visiting)
		}
		if t.Items != nil {
			computeMinSize(t.Items, visiting)
		}
		if t.Values != nil {
			computeMinSize(t.Values, visiting)
		}
	case Float:
		t.minSize = 4
	case Double:
		t.minSize = 8
	case Fixed:
		t.minSize = t.Size
	case Record:
		n := 0
		for _, f := range t.Fields {
			n += computeMinSize(f.Type, visiting)
		}
		t.minSize = n
	}
	return t.minSize
}

package protobuf

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The rules below are the ones protoc (3.21 and later) applies to the names
// in a message, which protocompile only partly enforces:
//
//   - fields, oneofs (the synthetic oneofs of proto3 optional fields
//     included), nested messages, nested enums and their values share one
//     scope;
//   - proto3 field names must differ once lower-cased with underscores
//     removed (protoc 3.x: "The JSON camel-case name of field ... conflicts");
//   - default JSON names, and effective JSON names (json_name when written,
//     else the default), must be unique (protoc 22 and later);
//   - a custom JSON name may not look like an extension ("[...]") nor hold
//     a NUL byte;
//   - at most 65535 fields per message.
//
// Package infer and package evolution choose names with a NameScope, and
// CheckProtocNames verifies a compiled file against the same rules.

// MaxFields is the most fields protoc accepts in one message.
const MaxFields = 65535

// CamelKey is the key under which protoc 3.x compares proto3 field names:
// lower-cased, with underscores removed.
func CamelKey(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// looksLikeExtension reports whether protoc would take a JSON name for an
// extension's: it starts with '[' and ends with ']'.
func looksLikeExtension(s string) bool {
	return len(s) > 0 && s[0] == '[' && s[len(s)-1] == ']'
}

// escapedExtension reports whether s is zero or more backslashes followed
// by a name that looks like an extension's.
func escapedExtension(s string) bool {
	return looksLikeExtension(strings.TrimLeft(s, `\`))
}

// EscapeJSONName returns the json_name that carries a BSON field name.
// protoc rejects JSON names that start with '[' and end with ']', so such a
// name, and a name that is backslashes before one, gets one more leading
// backslash; every other name is its own JSON name. UnescapeJSONName undoes
// it.
func EscapeJSONName(bsonName string) string {
	if escapedExtension(bsonName) {
		return `\` + bsonName
	}
	return bsonName
}

// UnescapeJSONName returns the BSON field name a json_name carries: the
// inverse of EscapeJSONName.
func UnescapeJSONName(jsonName string) string {
	if strings.HasPrefix(jsonName, `\`) && escapedExtension(jsonName) {
		return jsonName[1:]
	}
	return jsonName
}

// IsIdentifier reports whether s is a Protobuf identifier:
// [A-Za-z_][A-Za-z0-9_]*.
func IsIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// hasAlnum reports whether s holds an ASCII letter or digit, so that its
// camel key and default JSON name are not empty.
func hasAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			return true
		}
	}
	return false
}

// Identifier turns any string into an identifier: each character outside
// [A-Za-z0-9_] (a non-ASCII character included) becomes '_', a leading digit
// gets a '_' prefix, and a result without a letter or digit gets the prefix
// "field".
func Identifier(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 1)
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		b.WriteByte('_')
	}
	for _, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if !hasAlnum(out) {
		out = "field" + out
	}
	return out
}

// syntheticLike reports whether a type name could be the name protoc gives
// the synthetic oneof of a proto3 optional field: "_" or "X...X_" before
// the rest. protoc picks those names without looking at nested messages
// and enums, so a type with such a name may collide with one.
func syntheticLike(name string) bool {
	return strings.HasPrefix(strings.TrimLeft(name, "X"), "_")
}

// NameScope holds the names taken in one message and hands out new ones
// that keep the message valid under protoc's rules. The zero value is not
// usable; call NewNameScope.
type NameScope struct {
	symbols map[string]bool // fields, oneofs, nested messages and enums
	camel   map[string]bool // CamelKey of each field
	json    map[string]bool // effective JSON name of each field, and reservations
}

// NewNameScope returns an empty scope.
func NewNameScope() *NameScope {
	return &NameScope{symbols: map[string]bool{}, camel: map[string]bool{}, json: map[string]bool{}}
}

// AddSymbol takes a name that is not a field: a oneof, a nested message, an
// enum or an enum value.
func (s *NameScope) AddSymbol(name string) { s.symbols[name] = true }

// RemoveSymbol frees a name taken with AddSymbol.
func (s *NameScope) RemoveSymbol(name string) { delete(s.symbols, name) }

// AddField takes a field's name, its camel key and its effective JSON name
// (jsonName when written, else the default).
func (s *NameScope) AddField(name, jsonName string) {
	s.symbols[name] = true
	s.camel[CamelKey(name)] = true
	s.json[EffectiveJSONName(name, jsonName)] = true
}

// RemoveField frees what AddField took.
func (s *NameScope) RemoveField(name, jsonName string) {
	delete(s.symbols, name)
	delete(s.camel, CamelKey(name))
	delete(s.json, EffectiveJSONName(name, jsonName))
}

// TakeJSON takes a JSON name: an effective one, or one kept from the fields
// handed out later without a json_name.
func (s *NameScope) TakeJSON(jsonName string) { s.json[jsonName] = true }

// ReleaseJSON frees an effective JSON name.
func (s *NameScope) ReleaseJSON(jsonName string) { delete(s.json, jsonName) }

// HasSymbol reports whether a name is taken in the scope.
func (s *NameScope) HasSymbol(name string) bool { return s.symbols[name] }

// HasJSON reports whether a JSON name is taken or reserved.
func (s *NameScope) HasJSON(jsonName string) bool { return s.json[jsonName] }

// EffectiveJSONName is the JSON name protoc checks for a field: jsonName
// when it is set, else the default derived from name.
func EffectiveJSONName(name, jsonName string) string {
	if jsonName != "" {
		return jsonName
	}
	return DefaultJSONName(name)
}

// fieldFree reports whether a field could be named name.
func (s *NameScope) fieldFree(name string) bool {
	return !s.symbols[name] && !s.camel[CamelKey(name)]
}

// KeepFieldName takes original as the name of a field that carries it, and
// reports true, when it is an identifier with a letter or digit that no
// field, oneof or type in the scope clashes with. With oneof the name is
// for a oneof, which may not end in MoreSuffix. Only the name and its camel
// key are taken; the caller decides the JSON name.
func (s *NameScope) KeepFieldName(original string, oneof bool) bool {
	if !IsIdentifier(original) || !hasAlnum(original) || !s.fieldFree(original) || (oneof && strings.HasSuffix(original, MoreSuffix)) {
		return false
	}
	s.symbols[original] = true
	s.camel[CamelKey(original)] = true
	return true
}

// DeriveFieldName takes and returns a new name for a field (or, with
// oneof, a oneof) carrying the BSON name original: original made an
// identifier, then numbered (_2, _3, ...) until it is free. Its default
// JSON name is never original, so that a json_name can carry original.
func (s *NameScope) DeriveFieldName(original string, oneof bool) string {
	base := Identifier(original)
	if base != original && DefaultJSONName(base) == original {
		base += "_field" // "1st" gives "_1st_field", not "_1st_2"
	}
	for i := 1; ; i++ {
		name := base
		if i > 1 {
			name = base + "_" + strconv.Itoa(i)
		}
		if !s.fieldFree(name) || DefaultJSONName(name) == original || (oneof && strings.HasSuffix(name, MoreSuffix)) {
			continue
		}
		s.symbols[name] = true
		s.camel[CamelKey(name)] = true
		return name
	}
}

// FieldName is KeepFieldName, else DeriveFieldName.
func (s *NameScope) FieldName(original string, oneof bool) string {
	if s.KeepFieldName(original, oneof) {
		return original
	}
	return s.DeriveFieldName(original, oneof)
}

// MemberName takes and returns a name for the member of kind kind of the
// oneof oneof: <oneof>_<kind>, then <oneof>_<kind>_2, ..., the first whose
// default JSON name is free too. The default JSON name is taken; a member
// that carries a json_name replaces it with TakeJSON.
func (s *NameScope) MemberName(oneof, kind string) string {
	base := oneof + "_" + kind
	for i := 1; ; i++ {
		name := base
		if i > 1 {
			name = base + "_" + strconv.Itoa(i)
		}
		if !s.fieldFree(name) || s.json[DefaultJSONName(name)] {
			continue
		}
		s.AddField(name, "")
		return name
	}
}

// FreshJSONName returns a JSON name for a field that must carry one but has
// no BSON name of its own (a further member of a oneof): its default JSON
// name with a number, the first that is free. It is not taken.
func (s *NameScope) FreshJSONName(name string) string {
	base := DefaultJSONName(name)
	for i := 2; ; i++ {
		j := base + "_" + strconv.Itoa(i)
		if !s.json[j] {
			return j
		}
	}
}

// MessageName takes and returns a name for a nested message: base if free,
// else base with a number, which goes before a role suffix ("A2_List") and
// after any other name ("A2"). A name that a synthetic oneof could take
// ("X_List") counts as taken.
func (s *NameScope) MessageName(base string) string {
	stem, suffix := base, ""
	for _, sfx := range []string{"_List", "_Item"} {
		if strings.HasSuffix(base, sfx) {
			stem, suffix = strings.TrimSuffix(base, sfx), sfx
		}
	}
	name := base
	for i := 2; s.symbols[name] || syntheticLike(name); i++ {
		name = fmt.Sprintf("%s%d%s", stem, i, suffix)
	}
	s.symbols[name] = true
	return name
}

// NameError is a name that protoc would reject.
type NameError struct {
	Message string // the full name of the message
	Problem string
}

// Error implements error.
func (e *NameError) Error() string {
	return fmt.Sprintf("message %s: %s", e.Message, e.Problem)
}

// CheckProtocNames checks every message of fd against the naming rules
// protoc applies and protocompile does not all apply (see NameScope), and
// returns the first problem as a *NameError.
func CheckProtocNames(fd protoreflect.FileDescriptor) error {
	msgs := fd.Messages()
	for i := 0; i < msgs.Len(); i++ {
		if err := checkMessageNames(msgs.Get(i)); err != nil {
			return err
		}
	}
	return nil
}

func checkMessageNames(md protoreflect.MessageDescriptor) error {
	fail := func(format string, args ...any) error {
		return &NameError{Message: string(md.FullName()), Problem: fmt.Sprintf(format, args...)}
	}
	fields := md.Fields()
	if fields.Len() > MaxFields {
		return fail("%d fields, more than protoc's %d", fields.Len(), MaxFields)
	}
	symbols := map[string]string{} // name -> what it names
	add := func(name, what string) error {
		if !IsIdentifier(name) {
			return fail("%s %q is not an identifier", what, name)
		}
		if prev, dup := symbols[name]; dup {
			return fail("%s %q has the name of a %s", what, name, prev)
		}
		symbols[name] = what
		return nil
	}
	// protoc names a synthetic oneof from the fields and real oneofs only.
	taken := map[string]bool{}
	for i := 0; i < fields.Len(); i++ {
		taken[string(fields.Get(i).Name())] = true
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		if od := oneofs.Get(i); !od.IsSynthetic() {
			taken[string(od.Name())] = true
			if err := add(string(od.Name()), "oneof"); err != nil {
				return err
			}
		}
	}
	camel := map[string]string{}
	defaults := map[string]string{}
	effective := map[string]string{}
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		name := string(f.Name())
		if err := add(name, "field"); err != nil {
			return err
		}
		if f.HasOptionalKeyword() && f.ContainingOneof() != nil && f.ContainingOneof().IsSynthetic() {
			oo := name
			if !strings.HasPrefix(oo, "_") {
				oo = "_" + oo
			}
			for taken[oo] {
				oo = "X" + oo
			}
			taken[oo] = true
			if err := add(oo, "synthetic oneof of field "+name); err != nil {
				return err
			}
		}
		if prev, dup := camel[CamelKey(name)]; dup {
			return fail("the JSON camel-case name of field %q conflicts with field %q", name, prev)
		}
		camel[CamelKey(name)] = name
		def := DefaultJSONName(name)
		if prev, dup := defaults[def]; dup {
			return fail("the default JSON name of field %q conflicts with field %q", name, prev)
		}
		defaults[def] = name
		eff := f.JSONName()
		if eff != def {
			if looksLikeExtension(eff) {
				return fail("the JSON name of field %q (%q) looks like an extension's", name, eff)
			}
			if strings.IndexByte(eff, 0) >= 0 {
				return fail("the JSON name of field %q holds a NUL byte", name)
			}
		}
		if prev, dup := effective[eff]; dup {
			return fail("the JSON name %q of field %q conflicts with field %q", eff, name, prev)
		}
		effective[eff] = name
	}
	nested := md.Messages()
	for i := 0; i < nested.Len(); i++ {
		if err := add(string(nested.Get(i).Name()), "message"); err != nil {
			return err
		}
	}
	enums := md.Enums()
	for i := 0; i < enums.Len(); i++ {
		ed := enums.Get(i)
		if err := add(string(ed.Name()), "enum"); err != nil {
			return err
		}
		for j := 0; j < ed.Values().Len(); j++ {
			if err := add(string(ed.Values().Get(j).Name()), "enum value"); err != nil {
				return err
			}
		}
	}
	for i := 0; i < nested.Len(); i++ {
		if err := checkMessageNames(nested.Get(i)); err != nil {
			return err
		}
	}
	return nil
}

package infer

import (
	"fmt"
	"strings"

	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// isLegalName reports whether s is a legal Avro name, which is also a legal
// Protobuf identifier: [A-Za-z_][A-Za-z0-9_]*.
func isLegalName(s string) bool { return protobuf.IsIdentifier(s) }

// sanitize turns s into a legal name: every byte outside [A-Za-z0-9_]
// (non-ASCII bytes included) becomes '_', a leading digit gets a '_' prefix,
// and the empty name becomes "_".
func sanitize(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	b.Grow(len(s) + 1)
	if s[0] >= '0' && s[0] <= '9' {
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
	return b.String()
}

// nameSet hands out unique names within one scope.
type nameSet map[string]bool

// unique returns base if it is free, else base_2, base_3, ... and marks the
// result as used.
func (s nameSet) unique(base string) string {
	name := base
	for i := 2; s[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	s[name] = true
	return name
}

// assignNames gives each original name a legal, unique name. Names that are
// already legal keep themselves, whatever their position; the others are
// sanitized and, on a collision, numbered in order (_2, _3, ...). The rule
// depends only on the list, so it is deterministic.
func assignNames(originals []string, used nameSet) []string {
	out := make([]string, len(originals))
	for i, o := range originals {
		if isLegalName(o) && !used[o] {
			used[o] = true
			out[i] = o
		}
	}
	for i, o := range originals {
		if out[i] == "" {
			out[i] = used.unique(sanitize(o))
		}
	}
	return out
}

// MessageName turns a field name into the Protobuf message-name part infer
// uses for it: "first-name" gives "FirstName", "_id" gives "Id". The result
// has no underscores, which keeps it apart from the "_List" and "_Item"
// wrapper names. A result that would not start with a letter gets an "F"
// prefix.
func MessageName(s string) string {
	var b strings.Builder
	up := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			if up {
				c -= 'a' - 'A'
			}
			b.WriteByte(c)
			up = false
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteByte(c)
			up = false
		default:
			up = true
		}
	}
	out := b.String()
	if out == "" || out[0] < 'A' || out[0] > 'Z' {
		out = "F" + out
	}
	return out
}

// validateFullName checks a dotted Avro full name or Protobuf package.
func validateFullName(what, s string, allowEmpty bool) error {
	if s == "" {
		if allowEmpty {
			return nil
		}
		return fmt.Errorf("%s is empty", what)
	}
	for _, part := range strings.Split(s, ".") {
		if !isLegalName(part) {
			return fmt.Errorf("%s %q is not a valid dotted name ([A-Za-z_][A-Za-z0-9_]* parts)", what, s)
		}
	}
	return nil
}

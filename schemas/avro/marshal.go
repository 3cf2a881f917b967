package avro

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// Marshal renders a type as Avro schema JSON. Named types are defined where
// they first appear and referred to by full name afterwards; names are
// written in full, so no namespace attribute is needed. Custom properties
// are kept, in key order, so the output is byte-stable.
func Marshal(t *Type) ([]byte, error) {
	var b bytes.Buffer
	m := &marshaler{defined: map[string]bool{}}
	if err := m.typ(&b, t); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

type marshaler struct {
	defined map[string]bool
	ns      string // the enclosing namespace
}

func namespaceOf(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[:i]
	}
	return ""
}

func writeJSON(b *bytes.Buffer, v any) error {
	enc, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b.Write(enc)
	return nil
}

// member writes ,"key":value (or without the comma at the start of an
// object, which the caller marks by first).
func member(b *bytes.Buffer, first *bool, key string, v any) error {
	if !*first {
		b.WriteByte(',')
	}
	*first = false
	if err := writeJSON(b, key); err != nil {
		return err
	}
	b.WriteByte(':')
	return writeJSON(b, v)
}

func props(b *bytes.Buffer, first *bool, p map[string]any) error {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := member(b, first, k, p[k]); err != nil {
			return err
		}
	}
	return nil
}

func (m *marshaler) typ(b *bytes.Buffer, t *Type) error {
	switch t.Kind {
	case Union:
		b.WriteByte('[')
		for i, br := range t.Branches {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := m.typ(b, br); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case Record, Enum, Fixed:
		if m.defined[t.Name] {
			return writeJSON(b, t.Name)
		}
		m.defined[t.Name] = true
		return m.named(b, t)
	case Array, Map:
		b.WriteByte('{')
		first := true
		if err := member(b, &first, "type", t.Kind.String()); err != nil {
			return err
		}
		b.WriteString(`,"` + map[Kind]string{Array: "items", Map: "values"}[t.Kind] + `":`)
		inner := t.Items
		if t.Kind == Map {
			inner = t.Values
		}
		if err := m.typ(b, inner); err != nil {
			return err
		}
		if err := props(b, &first, t.Props); err != nil {
			return err
		}
		b.WriteByte('}')
		return nil
	}
	if t.Logical == "" && len(t.Props) == 0 {
		return writeJSON(b, t.Kind.String())
	}
	b.WriteByte('{')
	first := true
	if err := member(b, &first, "type", t.Kind.String()); err != nil {
		return err
	}
	if err := logical(b, &first, t); err != nil {
		return err
	}
	if err := props(b, &first, t.Props); err != nil {
		return err
	}
	b.WriteByte('}')
	return nil
}

func logical(b *bytes.Buffer, first *bool, t *Type) error {
	if t.Logical == "" {
		return nil
	}
	if err := member(b, first, "logicalType", t.Logical); err != nil {
		return err
	}
	if t.Logical == "decimal" {
		if err := member(b, first, "precision", t.Precision); err != nil {
			return err
		}
		return member(b, first, "scale", t.Scale)
	}
	return nil
}

func (m *marshaler) named(b *bytes.Buffer, t *Type) error {
	b.WriteByte('{')
	first := true
	if err := member(b, &first, "type", t.Kind.String()); err != nil {
		return err
	}
	if err := member(b, &first, "name", t.Name); err != nil {
		return err
	}
	ns := namespaceOf(t.Name)
	if ns == "" && m.ns != "" {
		// A full name without dots would inherit the enclosing namespace.
		if err := member(b, &first, "namespace", ""); err != nil {
			return err
		}
	}
	saved := m.ns
	m.ns = ns
	defer func() { m.ns = saved }()
	if len(t.Aliases) > 0 {
		if err := member(b, &first, "aliases", t.Aliases); err != nil {
			return err
		}
	}
	if t.Doc != "" {
		if err := member(b, &first, "doc", t.Doc); err != nil {
			return err
		}
	}
	switch t.Kind {
	case Fixed:
		if err := member(b, &first, "size", t.Size); err != nil {
			return err
		}
		if err := logical(b, &first, t); err != nil {
			return err
		}
	case Enum:
		if err := member(b, &first, "symbols", t.Symbols); err != nil {
			return err
		}
		if t.HasEnumDefault {
			if err := member(b, &first, "default", t.EnumDefault); err != nil {
				return err
			}
		}
	case Record:
		b.WriteString(`,"fields":[`)
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := m.field(b, f); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	}
	if err := props(b, &first, t.Props); err != nil {
		return err
	}
	b.WriteByte('}')
	return nil
}

func (m *marshaler) field(b *bytes.Buffer, f *Field) error {
	b.WriteByte('{')
	first := true
	if err := member(b, &first, "name", f.Name); err != nil {
		return err
	}
	b.WriteString(`,"type":`)
	if err := m.typ(b, f.Type); err != nil {
		return err
	}
	if f.HasDefault {
		if err := member(b, &first, "default", f.Default); err != nil {
			return err
		}
	}
	if len(f.Aliases) > 0 {
		if err := member(b, &first, "aliases", f.Aliases); err != nil {
			return err
		}
	}
	if f.Doc != "" {
		if err := member(b, &first, "doc", f.Doc); err != nil {
			return err
		}
	}
	if f.Order != "" && f.Order != "ascending" {
		if err := member(b, &first, "order", f.Order); err != nil {
			return err
		}
	}
	// bsonName and bsonOmitNull live in Props with the other custom ones.
	if err := props(b, &first, f.Props); err != nil {
		return err
	}
	b.WriteByte('}')
	return nil
}

package check

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// locateJSON returns the 1-based line and column of the value a JSON
// pointer ("/fields/2/type") names in text, or 1, 1.
func locateJSON(text []byte, pointer string) (int, int) {
	var parts []string
	if p := strings.Trim(pointer, "/"); p != "" {
		parts = strings.Split(p, "/")
	}
	s := &jsonScan{b: text}
	s.ws()
	if off, ok := s.find(parts); ok {
		return lineCol(text, off)
	}
	return 1, 1
}

func lineCol(text []byte, off int) (int, int) {
	line, col := 1, 1
	for i := 0; i < off && i < len(text); i++ {
		if text[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// jsonScan is a small scanner over valid JSON that remembers offsets.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// find returns the offset of the value at path below the value at s.i.
func (s *jsonScan) find(path []string) (int, bool) {
	if len(path) == 0 {
		return s.i, true
	}
	if s.i >= len(s.b) {
		return 0, false
	}
	switch s.b[s.i] {
	case '{':
		s.i++
		for {
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] == '}' {
				return 0, false
			}
			key, ok := s.str()
			if !ok {
				return 0, false
			}
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return 0, false
			}
			s.i++
			s.ws()
			if key == path[0] {
				return s.find(path[1:])
			}
			if !s.skip() {
				return 0, false
			}
			s.ws()
			if s.i < len(s.b) && s.b[s.i] == ',' {
				s.i++
			}
		}
	case '[':
		want, err := strconv.Atoi(path[0])
		if err != nil {
			return 0, false
		}
		s.i++
		for n := 0; ; n++ {
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] == ']' {
				return 0, false
			}
			if n == want {
				return s.find(path[1:])
			}
			if !s.skip() {
				return 0, false
			}
			s.ws()
			if s.i < len(s.b) && s.b[s.i] == ',' {
				s.i++
			}
		}
	}
	return 0, false
}

func (s *jsonScan) str() (string, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	start := s.i + 1
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			v, err := strconv.Unquote(string(s.b[start-1 : s.i+1]))
			s.i++
			return v, err == nil
		}
	}
	return "", false
}

// skip moves past one value.
func (s *jsonScan) skip() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for ; s.i < len(s.b); s.i++ {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				s.i--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
		}
		return false
	}
	for s.i < len(s.b) && !strings.ContainsRune(",}] \t\r\n", rune(s.b[s.i])) {
		s.i++
	}
	return true
}

// locateProto returns the line and column of what a Confluent difference
// path ("#/Outer/Inner/3", "#/Msg/oneofname/4") names in a compiled file
// with source info, or 1, 1.
func locateProto(ps *protobuf.Schema, diffPath string) (int, int) {
	parts := strings.Split(strings.TrimPrefix(diffPath, "#/"), "/")
	var d protoreflect.Descriptor
	msgs := ps.File.Messages()
	var current protoreflect.MessageDescriptor
	for _, p := range parts {
		if p == "" {
			continue
		}
		if n, err := strconv.Atoi(p); err == nil && current != nil {
			if fd := current.Fields().ByNumber(protoreflect.FieldNumber(n)); fd != nil {
				d = fd
			}
			break
		}
		if m := msgs.ByName(protoreflect.Name(p)); m != nil {
			current, d, msgs = m, m, m.Messages()
		}
	}
	if d == nil {
		return 1, 1
	}
	loc := ps.File.SourceLocations().ByDescriptor(d)
	if loc.StartLine == 0 && loc.StartColumn == 0 && loc.EndLine == 0 {
		return 1, 1
	}
	return loc.StartLine + 1, loc.StartColumn + 1
}

// importDeclaring returns the import that declares the message a Confluent
// difference path ("#/Money/1") starts in, or "" when the file itself
// declares it.
func importDeclaring(ps *protobuf.Schema, diffPath string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(diffPath, "#/"), "/")
	if first == "" || ps.File.Messages().ByName(protoreflect.Name(first)) != nil {
		return ""
	}
	imports := ps.File.Imports()
	for i := 0; i < imports.Len(); i++ {
		imp := imports.Get(i)
		if imp.Messages().ByName(protoreflect.Name(first)) != nil {
			return imp.Path()
		}
	}
	return ""
}

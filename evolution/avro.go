package evolution

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/schemaflow/schemaflow/schemas/avro"
)

type avroSchema struct {
	schema *avro.Schema
}

// parseAvro parses an Avro schema and the referenced schemas whose named
// types it uses. References may use each other, so they are parsed in as
// many passes as it takes.
func parseAvro(s Schema) (*avroSchema, error) {
	var known []*avro.Schema
	pending := slices.Sorted(maps.Keys(s.Dependencies))
	for len(pending) > 0 {
		var left []string
		var lastErr error
		for _, name := range pending {
			dep, err := avro.ParseWith([]byte(s.Dependencies[name]), known...)
			if err != nil {
				left, lastErr = append(left, name), fmt.Errorf("reference %q: %w", name, err)
				continue
			}
			known = append(known, dep)
		}
		if len(left) == len(pending) {
			return nil, lastErr
		}
		pending = left
	}
	sc, err := avro.ParseWith(s.Text, known...)
	if err != nil {
		return nil, err
	}
	return &avroSchema{schema: sc}, nil
}

// Avro incompatibility types, as Java's SchemaCompatibility names them.
const (
	avroNameMismatch       = "NAME_MISMATCH"
	avroFixedSizeMismatch  = "FIXED_SIZE_MISMATCH"
	avroMissingEnumSymbols = "MISSING_ENUM_SYMBOLS"
	avroMissingDefault     = "READER_FIELD_MISSING_DEFAULT_VALUE"
	avroTypeMismatch       = "TYPE_MISMATCH"
	avroMissingUnionBranch = "MISSING_UNION_BRANCH"
)

// avroCompat lists why reader cannot read data written with writer,
// following the Avro specification's schema resolution as Java's
// SchemaCompatibility.checkReaderWriterCompatibility decides it.
func avroCompat(reader, writer *avroSchema) []Issue {
	c := &avroChecker{state: map[[2]*avro.Type]pairState{}}
	return c.check(reader.schema.Root, writer.schema.Root, "")
}

type pairState int

const (
	inProgress pairState = iota + 1
	compatible
)

type avroChecker struct {
	// state tracks (reader, writer) pairs. A pair met again while it is
	// being checked counts as compatible, which ends the recursion of
	// recursive types, as Java does; a pair found compatible is not checked
	// again. Incompatible pairs are checked again where they recur, so that
	// each issue carries its own path.
	state map[[2]*avro.Type]pairState
}

func (c *avroChecker) check(reader, writer *avro.Type, path string) []Issue {
	key := [2]*avro.Type{reader, writer}
	switch c.state[key] {
	case inProgress, compatible:
		return nil
	}
	c.state[key] = inProgress
	issues := c.compute(reader, writer, path)
	if len(issues) == 0 {
		c.state[key] = compatible
	} else {
		delete(c.state, key)
	}
	return issues
}

func typeName(t *avro.Type) string {
	return t.Kind.String()
}

func unqualified(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func avroIssue(typ, path, format string, args ...any) Issue {
	if path == "" {
		path = "/"
	}
	return Issue{Type: typ, Path: path, Message: fmt.Sprintf(format, args...)}
}

func (c *avroChecker) compute(reader, writer *avro.Type, path string) []Issue {
	if reader.Kind == writer.Kind {
		switch reader.Kind {
		case avro.Array:
			return c.check(reader.Items, writer.Items, path+"/items")
		case avro.Map:
			return c.check(reader.Values, writer.Values, path+"/values")
		case avro.Fixed:
			if is := nameCheck(reader, writer, path); is != nil {
				return is
			}
			if reader.Size != writer.Size {
				return []Issue{avroIssue(avroFixedSizeMismatch, path+"/size", "reader fixed %q has size %d, writer fixed has size %d", reader.Name, reader.Size, writer.Size)}
			}
			return nil
		case avro.Enum:
			if is := nameCheck(reader, writer, path); is != nil {
				return is
			}
			var missing []string
			for _, s := range writer.Symbols {
				if !slices.Contains(reader.Symbols, s) {
					missing = append(missing, s)
				}
			}
			if len(missing) > 0 && !(reader.HasEnumDefault && slices.Contains(reader.Symbols, reader.EnumDefault)) {
				return []Issue{avroIssue(avroMissingEnumSymbols, path+"/symbols", "reader enum %q lacks writer symbols [%s] and has no default", reader.Name, strings.Join(missing, ", "))}
			}
			return nil
		case avro.Record:
			if is := nameCheck(reader, writer, path); is != nil {
				return is
			}
			return c.fields(reader, writer, path)
		case avro.Union:
			// Every writer branch must be readable by the reader union.
			var issues []Issue
			for i, wb := range writer.Branches {
				bpath := fmt.Sprintf("%s/%d", path, i)
				if len(c.check(reader, wb, bpath)) > 0 {
					issues = append(issues, avroIssue(avroMissingUnionBranch, bpath, "reader union lacks writer type %q", typeName(wb)))
				}
			}
			return issues
		}
		return nil // the same primitive type
	}
	// Different types.
	if writer.Kind == avro.Union {
		var issues []Issue
		for i, wb := range writer.Branches {
			issues = append(issues, c.check(reader, wb, fmt.Sprintf("%s/%d", path, i))...)
		}
		return issues
	}
	switch reader.Kind {
	case avro.Long:
		if writer.Kind == avro.Int {
			return nil
		}
	case avro.Float:
		if writer.Kind == avro.Int || writer.Kind == avro.Long {
			return nil
		}
	case avro.Double:
		if writer.Kind == avro.Int || writer.Kind == avro.Long || writer.Kind == avro.Float {
			return nil
		}
	case avro.Bytes:
		if writer.Kind == avro.String {
			return nil
		}
	case avro.String:
		if writer.Kind == avro.Bytes {
			return nil
		}
	case avro.Union:
		for _, rb := range reader.Branches {
			if len(c.check(rb, writer, path)) == 0 {
				return nil
			}
		}
		return []Issue{avroIssue(avroMissingUnionBranch, path, "reader union lacks writer type %q", typeName(writer))}
	}
	return []Issue{avroIssue(avroTypeMismatch, path, "reader type %q cannot read writer type %q", typeName(reader), typeName(writer))}
}

// nameCheck compares the names of named types: unqualified names must be
// equal, or a reader alias must be the writer's full name.
func nameCheck(reader, writer *avro.Type, path string) []Issue {
	if unqualified(reader.Name) == unqualified(writer.Name) || slices.Contains(reader.Aliases, writer.Name) {
		return nil
	}
	return []Issue{avroIssue(avroNameMismatch, path+"/name", "reader %s name %q does not match writer name %q", reader.Kind, reader.Name, writer.Name)}
}

// fields checks each reader field against the writer field of the same name
// or of one of the reader field's aliases.
func (c *avroChecker) fields(reader, writer *avro.Type, path string) []Issue {
	var issues []Issue
	for i, rf := range reader.Fields {
		fpath := fmt.Sprintf("%s/fields/%d", path, i)
		wf := writerField(writer, rf)
		if wf == nil {
			if !rf.HasDefault {
				issues = append(issues, avroIssue(avroMissingDefault, fpath, "reader field %q has no default value and is missing from the writer", rf.Name))
			}
			continue
		}
		issues = append(issues, c.check(rf.Type, wf.Type, fpath+"/type")...)
	}
	return issues
}

func writerField(writer *avro.Type, rf *avro.Field) *avro.Field {
	for _, wf := range writer.Fields {
		if wf.Name == rf.Name {
			return wf
		}
	}
	for _, alias := range rf.Aliases {
		for _, wf := range writer.Fields {
			if wf.Name == alias {
				return wf
			}
		}
	}
	return nil
}

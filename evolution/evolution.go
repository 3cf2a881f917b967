// Package evolution decides schema compatibility exactly as a Confluent
// Schema Registry does, and evolves schemas so that each new version stays
// compatible under a subject's level.
//
// Check compares a new schema with a subject's earlier versions at a
// compatibility level. Avro follows the Avro specification's resolution
// rules as Java's SchemaCompatibility implements them (which Confluent
// calls); Protobuf follows Confluent's difference rules (package
// schemas/protobuf compiles the files); JSON Schema is parsed and
// validated.
package evolution

import (
	"fmt"
	"strings"

	"github.com/schemaflow/schemaflow/schemas"
)

// Level is a compatibility level.
type Level int

// The compatibility levels, with Confluent's names.
const (
	None Level = iota + 1
	Backward
	BackwardTransitive
	Forward
	ForwardTransitive
	Full
	FullTransitive
)

var levelNames = map[Level]string{
	None: "NONE", Backward: "BACKWARD", BackwardTransitive: "BACKWARD_TRANSITIVE",
	Forward: "FORWARD", ForwardTransitive: "FORWARD_TRANSITIVE", Full: "FULL", FullTransitive: "FULL_TRANSITIVE",
}

// String returns the level's registry name.
func (l Level) String() string {
	if n, ok := levelNames[l]; ok {
		return n
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// ParseLevel parses a level name, case-insensitively.
func ParseLevel(s string) (Level, error) {
	for l, n := range levelNames {
		if strings.EqualFold(s, n) {
			return l, nil
		}
	}
	return 0, fmt.Errorf("unknown compatibility level %q (want NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE)", s)
}

// Transitive reports whether the level checks every earlier version rather
// than the latest only.
func (l Level) Transitive() bool {
	return l == BackwardTransitive || l == ForwardTransitive || l == FullTransitive
}

// Backward reports whether the new schema must read data of earlier ones.
func (l Level) Backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive
}

// Forward reports whether earlier schemas must read data of the new one.
func (l Level) Forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive
}

// Schema is a schema to check.
type Schema struct {
	Format schemas.Format
	Text   []byte
	// Name labels the schema in messages (a file name, or "version 3"). For
	// Protobuf it is also the file's import path.
	Name string
	// Dependencies holds imported Protobuf files by import path.
	Dependencies map[string]string
	// References gives, for imported Protobuf files that come from a
	// registry, the subject and version they were taken from. Types from
	// the same subject version are not compared again.
	References map[string]Reference
	// ImportPaths are directories searched for other Protobuf imports.
	ImportPaths []string
}

// Reference names a registered schema version.
type Reference struct {
	Subject string
	Version int
}

// Direction says which way an incompatibility breaks.
type Direction int

// The directions.
const (
	// NewReadsOld is the backward direction: the new schema reads old data.
	NewReadsOld Direction = iota + 1
	// OldReadsNew is the forward direction: old schemas read new data.
	OldReadsNew
)

// Issue is one incompatibility.
type Issue struct {
	// Type is the rule broken: Avro's SchemaCompatibility type
	// (TYPE_MISMATCH, ...) or Confluent's Protobuf difference type.
	Type string
	// Path locates the problem: a JSON pointer into the reader schema for
	// Avro ("/fields/2/type"), Confluent's "#/Message/3" for Protobuf.
	Path string
	// Message says what is wrong.
	Message string
	// Direction is the direction that breaks.
	Direction Direction
	// Against is the Name of the earlier schema the new one breaks with.
	Against string
}

// String renders the issue as one line: "PATH: MESSAGE [TYPE]".
func (i Issue) String() string {
	return fmt.Sprintf("%s: %s [%s]", i.Path, i.Message, i.Type)
}

// Result is the verdict of Check.
type Result struct {
	Compatible bool
	Issues     []Issue
}

// Check decides whether next may follow the earlier versions (oldest first)
// at the given level, as a Confluent registry would. A plain level compares
// with the latest version only (and parses no other); a transitive one with
// every version, newest first, stopping at the first that fails, as
// Confluent does. Errors are for schemas that do not parse, never for
// incompatibility.
func Check(level Level, next Schema, earlier []Schema) (Result, error) {
	newP, err := parse(next)
	if err != nil {
		return Result{}, err
	}
	if level == None || len(earlier) == 0 {
		return Result{Compatible: true}, nil
	}
	// Only the versions compared are parsed: the latest, or all of them.
	targets := earlier[len(earlier)-1:]
	if level.Transitive() {
		targets = earlier
	}
	for i := len(targets) - 1; i >= 0; i-- {
		old, err := parse(targets[i])
		if err != nil {
			return Result{}, err
		}
		var issues []Issue
		if old.format != newP.format {
			issues = append(issues, Issue{Type: "SCHEMA_TYPE_CHANGED", Path: "/", Message: fmt.Sprintf("incompatible because of different schema type (%s, was %s)", newP.format, old.format), Direction: NewReadsOld})
		} else {
			if level.Forward() {
				issues = append(issues, compare(old, newP, OldReadsNew)...)
			}
			if level.Backward() {
				issues = append(issues, compare(newP, old, NewReadsOld)...)
			}
		}
		if len(issues) > 0 {
			for j := range issues {
				issues[j].Against = old.name
			}
			return Result{Issues: issues}, nil
		}
	}
	return Result{Compatible: true}, nil
}

// parsed is a schema ready to compare.
type parsed struct {
	format schemas.Format
	name   string
	avro   *avroSchema
	proto  *protoFile
	json   any
}

func parse(s Schema) (parsed, error) {
	p := parsed{format: s.Format, name: s.Name}
	var err error
	switch s.Format {
	case schemas.Avro:
		p.avro, err = parseAvro(s)
	case schemas.Protobuf:
		p.proto, err = parseProto(s)
	case schemas.JSON:
		if err = validateJSONSchema(s); err == nil {
			p.json = decodeJSON(s.Text)
		}
	default:
		err = fmt.Errorf("unsupported schema format %v", s.Format)
	}
	if err != nil && s.Name != "" {
		err = fmt.Errorf("%s: %w", s.Name, err)
	}
	return p, err
}

// compare lists what keeps reader from reading data written with writer.
func compare(reader, writer parsed, dir Direction) []Issue {
	var issues []Issue
	switch reader.format {
	case schemas.Avro:
		issues = avroCompat(reader.avro, writer.avro)
	case schemas.Protobuf:
		// Confluent diffs the original (writer) against the update (reader).
		issues = protoIncompatible(protoDiff(writer.proto, reader.proto))
	case schemas.JSON:
		issues = jsonCompat(reader, writer)
	}
	for i := range issues {
		issues[i].Direction = dir
	}
	return issues
}

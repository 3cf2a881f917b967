// Package protobuf compiles .proto text and converts BSON documents to and
// from Protobuf binary, reading and writing the bytes directly through a
// plan compiled per message (see Codec).
//
// Schemas are compiled with protocompile; the well-known types
// (google/protobuf/*.proto) are always available, and other imports resolve
// through extra in-memory sources (registry references) or import paths.
//
// The BSON mapping matches what package infer emits. A field's BSON name is
// its json_name when one is written (unescaped: see EscapeJSONName), else
// its proto name. A oneof whose members are named <oneof>_<kind> holds the
// alternative types of one BSON field, named by the first json_name among
// its members, else by the oneof's name (see BSONName). Messages
// named *_List (one repeated field "values") stand for arrays that must keep
// [] apart from a missing field; messages named *_Item (one oneof "value")
// stand for array elements of several types; top-level messages named
// Bson* carry BSON types Protobuf lacks. google.protobuf.Timestamp carries
// dates and google.protobuf.NullValue carries null.
package protobuf

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas/wire"
)

// Options configure compilation.
type Options struct {
	// ImportPaths are directories searched for imported files.
	ImportPaths []string
	// Sources maps import paths to file contents, for imports that are not
	// files on disk (for example schema references from a registry). They
	// take precedence over ImportPaths.
	Sources map[string]string
	// SourceInfo keeps source positions, for messages that point into the
	// file.
	SourceInfo bool
}

// Schema is a compiled .proto file.
type Schema struct {
	File protoreflect.FileDescriptor
}

// Compile compiles the .proto text. name is the file's path, used for
// imports and in error messages, which read "name:line:col: message".
func Compile(name string, text []byte, opts Options) (*Schema, error) {
	sources := map[string]string{name: string(text)}
	maps.Copy(sources, opts.Sources)
	sources[name] = string(text)
	var resolver protocompile.Resolver = &protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(sources)}
	if len(opts.ImportPaths) > 0 {
		resolver = protocompile.CompositeResolver{resolver, &protocompile.SourceResolver{ImportPaths: opts.ImportPaths}}
	}
	var problems []string
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(resolver),
		SourceInfoMode: map[bool]protocompile.SourceInfoMode{
			true: protocompile.SourceInfoStandard, false: protocompile.SourceInfoNone,
		}[opts.SourceInfo],
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			problems = append(problems, err.Error())
			return nil // keep going, to report every problem at once
		}, nil),
	}
	files, err := c.Compile(context.Background(), name)
	if len(problems) > 0 {
		return nil, &CompileError{Problems: problems}
	}
	if err != nil {
		return nil, &CompileError{Problems: []string{err.Error()}}
	}
	return &Schema{File: files[0]}, nil
}

// CompileError lists every problem found in a .proto file.
type CompileError struct {
	Problems []string // each "file:line:col: message"
}

// Error implements error.
func (e *CompileError) Error() string {
	return "protobuf schema: " + strings.Join(e.Problems, "; ")
}

// Message returns the message with the given name: a full name
// ("pkg.Outer.Inner"), a name relative to the package ("Outer.Inner"), or
// "" for the first message of the file.
func (s *Schema) Message(name string) (protoreflect.MessageDescriptor, error) {
	msgs := s.File.Messages()
	if name == "" {
		if msgs.Len() == 0 {
			return nil, errors.New("the schema declares no message")
		}
		return msgs.Get(0), nil
	}
	full := protoreflect.FullName(name)
	if pkg := s.File.Package(); pkg != "" && !strings.HasPrefix(name, string(pkg)+".") {
		full = pkg + "." + protoreflect.FullName(name)
	}
	if d := findMessage(msgs, full); d != nil {
		return d, nil
	}
	if d := findMessage(msgs, protoreflect.FullName(name)); d != nil {
		return d, nil
	}
	return nil, fmt.Errorf("no message %q in %s", name, s.File.Path())
}

func findMessage(msgs protoreflect.MessageDescriptors, full protoreflect.FullName) protoreflect.MessageDescriptor {
	for i := 0; i < msgs.Len(); i++ {
		m := msgs.Get(i)
		if m.FullName() == full {
			return m
		}
		if strings.HasPrefix(string(full), string(m.FullName())+".") {
			if d := findMessage(m.Messages(), full); d != nil {
				return d
			}
		}
	}
	return nil
}

// Indexes returns the Confluent message indexes of md: its position among
// the file's top-level messages, then among each enclosing message's nested
// messages. Map-entry messages count, as they do in the descriptor.
func Indexes(md protoreflect.MessageDescriptor) []int {
	var out []int
	for d := protoreflect.Descriptor(md); ; {
		out = append(out, d.Index())
		parent := d.Parent()
		if _, isFile := parent.(protoreflect.FileDescriptor); isFile || parent == nil {
			break
		}
		d = parent
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// MessageAt returns the message a frame's indexes name. A bad index is a
// *wire.FrameError with Reason wire.IndexOutOfRange.
func (s *Schema) MessageAt(indexes []int) (protoreflect.MessageDescriptor, error) {
	if len(indexes) == 0 {
		indexes = []int{0}
	}
	msgs := s.File.Messages()
	var md protoreflect.MessageDescriptor
	for depth, ix := range indexes {
		if ix < 0 || ix >= msgs.Len() {
			return nil, &wire.FrameError{Reason: wire.IndexOutOfRange, Detail: fmt.Sprintf("index %d at depth %d, but only %d messages there", ix, depth, msgs.Len())}
		}
		md = msgs.Get(ix)
		msgs = md.Messages()
	}
	return md, nil
}

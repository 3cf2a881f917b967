// Package codeccmd implements `schemaflow encode` and `schemaflow decode`,
// which turn Extended JSON documents into base64 Confluent-framed records
// and back.
package codeccmd

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

type schemaFlags struct {
	schema     *string
	format     *string
	importPath *string
}

func defineSchemaFlags(fs *flag.FlagSet) schemaFlags {
	return schemaFlags{
		schema:     fs.String("schema", "", "schema `file` (.avsc or .proto); required"),
		format:     fs.String("format", "", "schema `format`: avro or protobuf (default: from the file extension, else avro)"),
		importPath: fs.String("import-path", "", "`dir` searched for Protobuf imports"),
	}
}

// load reads and compiles the schema file.
func (sf schemaFlags) load(env *cli.Env, id uint32, message string) (*serde.Serde, error) {
	if *sf.schema == "" {
		return nil, cli.Usagef("--schema is required")
	}
	format := schemas.Avro
	switch {
	case *sf.format != "":
		f, err := schemas.ParseFormat(*sf.format)
		if err != nil || f == schemas.JSON {
			return nil, cli.Usagef("--format must be avro or protobuf, not %q", *sf.format)
		}
		format = f
	case strings.EqualFold(filepath.Ext(*sf.schema), ".proto"):
		format = schemas.Protobuf
	}
	path := env.Path(*sf.schema)
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	opts := serde.Options{Format: format, ID: id, Name: filepath.Base(*sf.schema), Message: message}
	if format == schemas.Protobuf {
		// Imports resolve next to the schema file, then in --import-path.
		opts.Proto.ImportPaths = []string{filepath.Dir(path)}
		if *sf.importPath != "" {
			opts.Proto.ImportPaths = append(opts.Proto.ImportPaths, env.Path(*sf.importPath))
		}
	} else if *sf.importPath != "" {
		return nil, cli.Usagef("--import-path applies to Protobuf schemas only")
	}
	s, err := serde.New(text, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", *sf.schema, err)
	}
	return s, nil
}

// NewEncode returns the encode command.
func NewEncode() *cli.Command {
	return &cli.Command{
		Name:    "encode",
		Summary: "encode Extended JSON documents as base64 Confluent-framed records",
		Usage:   "--schema FILE [--format avro|protobuf] [--id N] [--message NAME] [FILE ...]",
		Help: `Reads Extended JSON documents (one per line, or one JSON array) from the
files or from standard input, and writes one base64 record per line: the
magic byte 0, the schema id, for Protobuf the message indexes, then the
Avro or Protobuf binary. A document that does not fit the schema stops the
command with FILE:LINE and the field.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			sf := defineSchemaFlags(fs)
			id := fs.Uint64("id", 1, "schema `id` written into each frame")
			message := fs.String("message", "", "Protobuf message `name` to encode (default: the first message)")
			return func(_ context.Context, env *cli.Env, args []string) error {
				if *id > math.MaxUint32 {
					return cli.Usagef("--id %d does not fit in 32 bits", *id)
				}
				s, err := sf.load(env, uint32(*id), *message)
				if err != nil {
					return err
				}
				w := bufio.NewWriter(env.Stdout)
				var frame []byte
				b64 := base64.StdEncoding
				err = cli.OpenInputs(env, args, func(file string, r io.Reader) error {
					return extjson.Read(r, file, func(doc bson.Raw, line int) error {
						frame, err = s.Encode(frame[:0], doc)
						if err != nil {
							return &extjson.Error{Name: file, Line: line, Err: err}
						}
						out := b64.AppendEncode(nil, frame)
						out = append(out, '\n')
						_, err := w.Write(out)
						return err
					})
				})
				if ferr := w.Flush(); err == nil {
					err = ferr
				}
				return err
			}
		},
	}
}

// NewDecode returns the decode command.
func NewDecode() *cli.Command {
	return &cli.Command{
		Name:    "decode",
		Summary: "decode base64 Confluent-framed records to canonical Extended JSON",
		Usage:   "--schema FILE [--format avro|protobuf] [FILE ...]",
		Help: `Reads base64 Confluent-framed records, one per line, from the files or
from standard input, and writes each as one line of canonical Extended
JSON. For Protobuf the message comes from the frame's message indexes. A
record that does not decode stops the command with FILE:LINE, the byte
offset and the field.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			sf := defineSchemaFlags(fs)
			return func(_ context.Context, env *cli.Env, args []string) error {
				s, err := sf.load(env, 0, "")
				if err != nil {
					return err
				}
				w := bufio.NewWriter(env.Stdout)
				err = cli.OpenInputs(env, args, func(file string, r io.Reader) error {
					return decodeLines(s, file, r, w)
				})
				if ferr := w.Flush(); err == nil {
					err = ferr
				}
				return err
			}
		},
	}
}

func decodeLines(s *serde.Serde, file string, r io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), extjson.MaxLine)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		frame, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return &extjson.Error{Name: file, Line: line, Err: fmt.Errorf("invalid base64: %w", err)}
		}
		doc, _, err := s.Decode(frame)
		if err != nil {
			return &extjson.Error{Name: file, Line: line, Err: err}
		}
		out, err := extjson.Canonical(doc)
		if err != nil {
			return &extjson.Error{Name: file, Line: line, Err: err}
		}
		if _, err := w.Write(append(out, '\n')); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s: line longer than %d bytes", file, extjson.MaxLine)
		}
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

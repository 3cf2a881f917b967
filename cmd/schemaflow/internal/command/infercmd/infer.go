// Package infercmd implements `schemaflow infer`.
package infercmd

import (
	"context"
	"flag"
	"io"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/infer"
)

// New returns the infer command.
func New() *cli.Command {
	return &cli.Command{
		Name:    "infer",
		Summary: "print one schema that covers every input document",
		Usage:   "[--format avro|protobuf] [--name NAME] [--namespace NS] [--numbers widen|exact] [--key] [FILE ...]",
		Help: `Reads MongoDB Extended JSON documents (canonical or relaxed), one per line
or one JSON array per file, from the files or from standard input ("-"), and
prints the merged schema: Avro JSON, or a proto3 file whose first message is
the document.

Fields missing from some documents become optional; conflicting types widen
(int32 to int64, integers to double when every value fits exactly) or
become a union (Avro) or a oneof (Protobuf). With --numbers exact, numbers
do not widen: a field of several BSON number types becomes a union or oneof
of them, so that each value decodes to its own BSON type. --key prints the
key schema instead, built from _id.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			format := fs.String("format", "avro", "schema `format`: avro or protobuf")
			name := fs.String("name", "Document", "top-level record or message `name`")
			namespace := fs.String("namespace", "", "Avro `namespace` or Protobuf package")
			numbers := fs.String("numbers", "widen", "number `mode`: widen (one number type per field) or exact (each value keeps its BSON number type)")
			key := fs.Bool("key", false, "print the key schema (from _id) instead of the value schema")
			return func(_ context.Context, env *cli.Env, args []string) error {
				f, err := schemas.ParseFormat(*format)
				if err != nil || f == schemas.JSON {
					return cli.Usagef("--format must be avro or protobuf, not %q", *format)
				}
				mode, err := schemas.ParseNumbers(*numbers)
				if err != nil {
					return cli.Usagef("--numbers must be widen or exact, not %q", *numbers)
				}
				in := infer.NewWith(infer.Config{Numbers: mode})
				err = cli.OpenInputs(env, args, func(file string, r io.Reader) error {
					return extjson.Read(r, file, func(doc bson.Raw, line int) error {
						if err := in.Add(doc); err != nil {
							return &extjson.Error{Name: file, Line: line, Err: err}
						}
						return nil
					})
				})
				if err != nil {
					return err
				}
				opts := infer.Options{Name: *name, Namespace: *namespace}
				var out []byte
				switch {
				case f == schemas.Avro && !*key:
					out, err = in.Avro(opts)
				case f == schemas.Avro:
					out, err = in.AvroKey(opts)
				case !*key:
					out, err = in.Proto(opts)
				default:
					out, err = in.ProtoKey(opts)
				}
				if err != nil {
					return err
				}
				_, err = env.Stdout.Write(out)
				return err
			}
		},
	}
}

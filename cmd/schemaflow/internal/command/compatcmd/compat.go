// Package compatcmd implements `schemaflow compat`.
package compatcmd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/schemas"
)

// ExitIncompatible is the exit code when the schemas are incompatible.
const ExitIncompatible = 100

// New returns the compat command.
func New() *cli.Command {
	return &cli.Command{
		Name:    "compat",
		Summary: "check a schema against earlier versions, as a Confluent registry would",
		Usage:   "--type avro|protobuf|json --level LEVEL [--import-path DIR] [--output text|json] NEW OLD [OLD ...]",
		Help: `Decides whether NEW may follow the OLD versions (oldest first) at LEVEL:
NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or
FULL_TRANSITIVE. A plain level compares NEW with the last OLD only; a
transitive level with every OLD, newest first, stopping at the first that
fails, as Confluent does.

Exit codes: 0 compatible; 100 incompatible, with one line per problem on
stdout ("OLD: PATH: MESSAGE [RULE]"); 1 any other error (unreadable file,
bad schema, unknown level), with a message on stderr.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			typ := fs.String("type", "", "schema `type`: avro, protobuf or json (default: from NEW's extension)")
			level := fs.String("level", "BACKWARD", "compatibility `level`")
			importPath := fs.String("import-path", "", "`dir` searched for Protobuf imports")
			output := fs.String("output", "text", "output `format`: text or json")
			return func(_ context.Context, env *cli.Env, args []string) error {
				if len(args) < 2 {
					return cli.Usagef("need NEW and at least one OLD schema file")
				}
				if *output != "text" && *output != "json" {
					return cli.Usagef("--output must be text or json, not %q", *output)
				}
				lvl, err := evolution.ParseLevel(*level)
				if err != nil {
					return err
				}
				format, err := formatOf(*typ, args[0])
				if err != nil {
					return err
				}
				load := func(path string) (evolution.Schema, error) {
					text, err := os.ReadFile(env.Path(path))
					if err != nil {
						return evolution.Schema{}, err
					}
					s := evolution.Schema{Format: format, Text: text, Name: path}
					if format == schemas.Protobuf {
						s.Name = filepath.Base(path)
						s.ImportPaths = []string{filepath.Dir(env.Path(path))}
						if *importPath != "" {
							s.ImportPaths = append(s.ImportPaths, env.Path(*importPath))
						}
					}
					return s, nil
				}
				next, err := load(args[0])
				if err != nil {
					return err
				}
				var olds []evolution.Schema
				for _, p := range args[1:] {
					s, err := load(p)
					if err != nil {
						return err
					}
					s.Name = p // messages name the file as given
					olds = append(olds, s)
				}
				res, err := evolution.Check(lvl, next, olds)
				if err != nil {
					return err
				}
				messages := make([]string, 0, len(res.Issues))
				for _, is := range res.Issues {
					messages = append(messages, is.Against+": "+is.String())
				}
				if *output == "json" {
					out, _ := json.Marshal(struct {
						Compatible bool     `json:"compatible"`
						Messages   []string `json:"messages"`
					}{res.Compatible, messages})
					fmt.Fprintf(env.Stdout, "%s\n", out)
				} else {
					for _, m := range messages {
						fmt.Fprintln(env.Stdout, m)
					}
				}
				if !res.Compatible {
					return &cli.ExitCodeError{Code: ExitIncompatible}
				}
				return nil
			}
		},
	}
}

func formatOf(typ, path string) (schemas.Format, error) {
	if typ != "" {
		f, err := schemas.ParseFormat(typ)
		if err != nil {
			return 0, cli.Usagef("%v", err)
		}
		return f, nil
	}
	switch filepath.Ext(path) {
	case ".avsc":
		return schemas.Avro, nil
	case ".proto":
		return schemas.Protobuf, nil
	case ".json":
		return schemas.JSON, nil
	}
	return 0, cli.Usagef("cannot tell the schema type of %s; give --type", path)
}

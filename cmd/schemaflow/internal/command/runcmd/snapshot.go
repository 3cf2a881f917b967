package runcmd

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/processor/daemon"
)

// NewSnapshot returns the snapshot command.
func NewSnapshot() *cli.Command {
	return &cli.Command{
		Name:    "snapshot",
		Summary: "ask a running source pipeline to snapshot a collection without stopping its stream",
		Usage:   "--spec FILE --pipeline NAME [--collection C] [--filter JSON]",
		Help: `Produces a snapshot request to the control topic ` + daemon.SignalTopic + ` on the
pipeline's brokers. The source pipeline, running in the daemon
("schemaflow run"), reads it and publishes the collection's documents (those
--filter matches, a MongoDB Extended JSON query, when given) between its
change events, in chunks interleaved by watermarks: no key goes back to an
older state on the topic, and once the snapshot is done each key's last
record is its document's state. --collection defaults to the pipeline's.

Requests are read by pipelines running when they are produced; one made
while the pipeline is stopped, or a snapshot under way when it stops, is
not carried over: ask again. Exits 0 once the request is on the topic.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			file := fs.String("spec", "", "spec `file` holding the pipeline (required)")
			pipeline := fs.String("pipeline", "", "source pipeline `name` (required)")
			coll := fs.String("collection", "", "`collection` of the pipeline's database (default the pipeline's)")
			filter := fs.String("filter", "", "Extended JSON query `document` limiting the snapshot")
			return func(ctx context.Context, env *cli.Env, args []string) error {
				if *file == "" || *pipeline == "" || len(args) > 0 {
					return cli.Usagef("snapshot needs --spec and --pipeline, and no arguments")
				}
				specs, err := ReadSpecs(env, []string{*file}, env.Getenv)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if err := daemon.RequestSnapshot(ctx, specs[0], *pipeline, *coll, *filter); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "snapshot requested: pipeline %s on %s\n", *pipeline, daemon.SignalTopic)
				return nil
			}
		},
	}
}

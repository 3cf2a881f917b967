// Package dlqcmd implements `schemaflow dlq`: reading and replaying
// dead-letter topics, for scripts (the web console does the same).
package dlqcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/consolecmd"
	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/dlq"
	"github.com/schemaflow/schemaflow/registry"
)

// New returns the dlq command group.
func New() *cli.Command {
	return &cli.Command{
		Name:        "dlq",
		Summary:     "read and replay dead-letter topics",
		Subcommands: []*cli.Command{replay()},
	}
}

func replay() *cli.Command {
	return &cli.Command{
		Name:    "replay",
		Summary: "replay dead letters to the topics they came from",
		Usage:   "--brokers B --topic DLQ [--registry URL] [--filter CLASS] [--dry-run] [--limit N] [--timeout D]",
		Help: `Reads the dead-letter topic DLQ as it is now (the newest --limit records of
each partition) and produces each sink dead letter to its original topic
(the __connect.errors.topic header), with its original key, value and
headers, the dead-letter headers left out. The pipeline that failed on it
then reads it again: fix the cause first. --filter keeps one error class
(__connect.errors.exception.class.name: duplicate-key, undecodable, ...).
--dry-run prints what would be replayed, keys and values decoded through
--registry when given, and produces nothing.

A source's dead letters never reached Kafka and have no original topic:
they are reported and not replayed (snapshot the documents with
"schemaflow snapshot" once the cause is fixed).

Prints one line per dead letter on stdout. Exit codes: 0 every selected
dead letter was replayed (or would be); 1 some could not be (not
replayable, or the produce failed), or the topic could not be read;
2 bad usage. Every Kafka call has a deadline (--timeout).`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			kafka := consolecmd.DefineKafkaFlags(fs)
			topic := fs.String("topic", "", "dead-letter `topic` to replay (required)")
			regURL := fs.String("registry", "", "registry `URL` to decode keys and values with in --dry-run output")
			filter := fs.String("filter", "", "replay only dead letters of this error `class`")
			dryRun := fs.Bool("dry-run", false, "print what would be replayed; produce nothing")
			limit := fs.Int("limit", 1000, "read at most the newest `N` records of each partition")
			timeout := fs.Duration("timeout", dlq.DefaultTimeout, "`deadline` of reading the topic, and of the replay")
			return func(ctx context.Context, env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("replay takes no arguments")
				}
				if *topic == "" {
					return cli.Usagef("name the dead-letter topic with --topic")
				}
				if *limit <= 0 || *timeout <= 0 {
					return cli.Usagef("--limit and --timeout must be positive")
				}
				kopts, err := kafka.Options(env)
				if err != nil {
					return err
				}
				var dec *decode.Decoder
				if *dryRun {
					var reg decode.Registry
					if *regURL != "" {
						c, err := registry.NewClient(*regURL, registry.ClientOptions{Timeout: *timeout})
						if err != nil {
							return cli.Usagef("--registry: %v", err)
						}
						reg = c
					}
					dec = decode.New(decode.Options{Registry: reg, PlainJSON: true})
				}
				return run(ctx, env.Stdout, env.Stderr, kopts, *topic, *filter, dec, *limit, *timeout)
			}
		},
	}
}

// run reads, selects and replays; dec is set for a dry run.
func run(ctx context.Context, stdout, stderr io.Writer, kopts []kgo.Opt, topic, class string, dec *decode.Decoder, limit int, timeout time.Duration) error {
	readCtx, cancel := context.WithTimeout(ctx, timeout)
	letters, err := dlq.Read(readCtx, kopts, topic, dlq.ReadOptions{Limit: limit})
	cancel()
	if err != nil {
		return err
	}
	selected := dlq.Filter(letters, class)
	what := "dead letters"
	if class != "" {
		what = "dead letters of class " + class
	}
	if len(selected) == 0 {
		fmt.Fprintf(stderr, "no %s in %s (%d records read)\n", what, topic, len(letters))
		return nil
	}
	if dec != nil {
		bad := 0
		for _, l := range selected {
			if err := l.Replayable(); err != nil {
				fmt.Fprintf(stdout, "skip %s %s %s: %s\n", topic, l.ID(), l.Class, reason(err))
				bad++
				continue
			}
			fmt.Fprintf(stdout, "would replay %s %s %s -> %s key %s value %s\n", topic, l.ID(), l.Class, l.OriginTopic,
				dlq.Show(ctx, dec, l.Key), dlq.Show(ctx, dec, l.Value))
		}
		fmt.Fprintf(stderr, "dry run: %d of %d %s in %s would be replayed\n", len(selected)-bad, len(selected), what, topic)
		if bad > 0 {
			return &cli.ExitCodeError{Code: cli.ExitError}
		}
		return nil
	}
	cl, err := kgo.NewClient(append(kopts, kgo.RecordDeliveryTimeout(timeout))...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	replayCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	failed := 0
	for _, r := range dlq.Replay(replayCtx, cl, selected) {
		l := r.Letter
		switch {
		case r.Err != nil:
			failed++
			fmt.Fprintf(stdout, "skip %s %s %s: %s\n", topic, l.ID(), l.Class, reason(r.Err))
		default:
			fmt.Fprintf(stdout, "replayed %s %s %s -> %s %d:%d\n", topic, l.ID(), l.Class, l.OriginTopic, r.Partition, r.Offset)
		}
	}
	fmt.Fprintf(stderr, "replayed %d of %d %s from %s\n", len(selected)-failed, len(selected), what, topic)
	if failed > 0 {
		return &cli.ExitCodeError{Code: cli.ExitError}
	}
	return nil
}

func reason(err error) string {
	var nr *dlq.NotReplayableError
	if errors.As(err, &nr) {
		return "not replayable: " + nr.Reason
	}
	return err.Error()
}

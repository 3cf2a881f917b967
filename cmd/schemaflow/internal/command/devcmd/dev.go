// Package devcmd implements `schemaflow dev`: the embedded stack (Kafka,
// registry, MongoDB) and the quickstart pipelines in one process.
package devcmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/runcmd"
	"github.com/schemaflow/schemaflow/examples"
	"github.com/schemaflow/schemaflow/processor/daemon"
	"github.com/schemaflow/schemaflow/processor/demo"
	"github.com/schemaflow/schemaflow/processor/devstack"
	"github.com/schemaflow/schemaflow/processor/spec"
	"github.com/schemaflow/schemaflow/registry"
)

// Quickstart names the spec dev runs when no -f is given: the copy of
// examples/quickstart.yaml embedded in the binary.
const Quickstart = examples.QuickstartPath + " (embedded)"

// New returns the dev command.
func New() *cli.Command {
	return &cli.Command{
		Name:    "dev",
		Summary: "run the embedded stack and the quickstart pipelines",
		Usage:   "[flags]",
		Help: `Starts, in one process: a Kafka broker (kfake), the schema registry and
an embedded MongoDB (lungo, file-backed, served over the MongoDB wire
protocol on --mongodb-addr for mongosh and any driver), all keeping their
data under --data; then runs ` + examples.QuickstartPath + ` (the copy built into
the binary, so it works from any directory) on them, with a demo generator writing
evolving orders into shop.orders. The source pipeline streams them to Kafka
as Avro; the sink pipeline writes them into shop.orders_copy. A progress line
shows records, schema versions and lag.

Any Kafka client (kcat, kafkajs), any registry client and any MongoDB
client (mongosh, pymongo, the Node and Go drivers) can use the printed
endpoints while it runs. Run it again on the same --data and it continues
where it stopped. -f runs your own specs instead (without the generator);
in them, ${SCHEMAFLOW_KAFKA}, ${SCHEMAFLOW_REGISTRY} and ${SCHEMAFLOW_MONGODB}
name the embedded endpoints; ${SCHEMAFLOW_MONGODB} is the mongodb:// URI,
and pipelines given it use the engine in process.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			kafkaAddr := fs.String("kafka-addr", "127.0.0.1:9092", "`address` Kafka listens on")
			registryAddr := fs.String("registry-addr", "127.0.0.1:8081", "`address` the registry listens on")
			mongoAddr := fs.String("mongodb-addr", "127.0.0.1:27017", "`address` the embedded MongoDB is served on over the wire protocol; - for none")
			data := fs.String("data", ".schemaflow", "`directory` for Kafka, registry and MongoDB data")
			var files runcmd.Files
			fs.Var(&files, "f", "spec `file` to run instead of the quickstart (repeatable)")
			httpAddr := fs.String("http-addr", "127.0.0.1:9464", "`address` for /metrics, /healthz and /readyz; empty for none")
			rate := fs.Float64("demo-rate", 20, "demo generator writes per second; 0 turns it off")
			maxWrites := fs.Int64("demo-writes", 0, "stop the demo generator after this many writes; 0 for never")
			seed := fs.Int("demo-seed", 0, "preload this many demo orders into an empty shop.orders before the pipelines start, for the source to copy; nothing when it holds documents")
			progress := fs.Duration("progress", time.Second, "how often the progress line is printed; 0 for never")
			shutdown := fs.Duration("shutdown-timeout", 30*time.Second, "how long a graceful stop may take")
			consoleWrite := fs.Bool("console-write", false, "let the web console (on --http-addr) replay dead letters")
			memLimit := fs.String("memory-limit", runcmd.MemoryLimitOff, "soft limit on the Go runtime's `size` (e.g. 512MiB), or off: the embedded Kafka keeps every record in memory, so none by default; GOMEMLIMIT wins when set")
			var logs runcmd.LogFlags
			logs.Define(fs)
			return func(ctx context.Context, env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("dev takes no arguments")
				}
				log, err := logs.Logger(env.Stderr)
				if err != nil {
					return err
				}
				quickstart := len(files) == 0
				stack, err := devstack.Start(ctx, devstack.Options{KafkaAddr: *kafkaAddr, RegistryAddr: *registryAddr, MongoDBAddr: *mongoAddr, DataDir: env.Path(*data), Logger: log})
				if err != nil {
					return err
				}
				defer stack.Close(context.Background())
				mongoURI := stack.MongoURI
				if stack.MongoWireURI != "" {
					mongoURI = stack.MongoWireURI
				}
				endpoints := map[string]string{
					"SCHEMAFLOW_KAFKA": stack.Brokers, "SCHEMAFLOW_REGISTRY": stack.RegistryURL, "SCHEMAFLOW_MONGODB": mongoURI,
				}
				getenv := func(k string) string {
					if v, ok := endpoints[k]; ok {
						return v
					}
					return env.Getenv(k)
				}
				var specs []*spec.File
				if quickstart {
					f, err := spec.Parse(Quickstart, examples.Quickstart, getenv)
					if err != nil {
						return fmt.Errorf("the embedded quickstart: %w", err)
					}
					specs, files = []*spec.File{f}, runcmd.Files{Quickstart}
				} else if specs, err = runcmd.ReadSpecs(env, files, getenv); err != nil {
					return err
				}
				mongoLine := stack.MongoURI + " (embedded)"
				if stack.MongoWireURI != "" {
					mongoLine = stack.MongoWireURI + " (embedded, " + stack.MongoURI + ")"
				}
				fmt.Fprintf(env.Stdout, "schemaflow dev: data in %s\n  Kafka:    %s\n  Registry: %s\n  MongoDB:  %s\n",
					*data, stack.Brokers, stack.RegistryURL, mongoLine)
				if *httpAddr != "" {
					fmt.Fprintf(env.Stdout, "  Metrics:  http://%s/metrics\n", *httpAddr)
					fmt.Fprintf(env.Stdout, "  Console:  http://%s/console/\n", *httpAddr)
				}
				fmt.Fprintf(env.Stdout, "  Specs:    %s\n", strings.Join(files, ", "))

				conns := &daemon.Connections{}
				conns.Provide(stack.MongoURI, stack.Mongo)
				if stack.MongoWireURI != "" {
					// Pipelines naming the wire URI use the engine in process.
					conns.Provide(stack.MongoWireURI, stack.Mongo)
				}
				var wg sync.WaitGroup
				defer wg.Wait()
				runCtx, cancel := context.WithCancel(ctx)
				defer cancel()
				var gen *demo.Generator
				if quickstart && *seed > 0 {
					start := time.Now()
					n, err := demo.New(stack.Mongo.Database("shop").Collection("orders"), demo.Options{}).Seed(ctx, *seed)
					if err != nil {
						return err
					}
					if n > 0 {
						fmt.Fprintf(env.Stdout, "  Seeded:   %d orders into shop.orders in %s\n", n, time.Since(start).Round(time.Millisecond))
					} else {
						fmt.Fprintf(env.Stdout, "  Seeded:   nothing: shop.orders already holds orders\n")
					}
				}
				if quickstart && *rate > 0 {
					gen = demo.New(stack.Mongo.Database("shop").Collection("orders"), demo.Options{Rate: *rate, Max: *maxWrites})
					fmt.Fprintf(env.Stdout, "  Demo:     %.0f writes/s into shop.orders\n", *rate)
				}
				reg, err := registry.NewClient(stack.RegistryURL, registry.ClientOptions{})
				if err != nil {
					return err
				}
				return runcmd.RunDaemon(runCtx, specs, runcmd.DaemonOptions{
					Logger: log, HTTPAddr: *httpAddr, ShutdownTimeout: *shutdown, Connections: conns, Stdout: env.Stdout, ConsoleWrite: *consoleWrite,
					MemoryLimit: *memLimit,
					Started: func(d *daemon.Daemon) {
						if gen != nil {
							wg.Add(1)
							go func() {
								defer wg.Done()
								if err := gen.Run(runCtx); err != nil {
									log.Error("demo generator stopped", "err", err)
								} else if runCtx.Err() == nil {
									log.Info("demo generator finished", "writes", gen.Writes())
								} else if runCtx.Err() == nil {
									log.Info("demo generator finished", "writes", gen.Writes())
								}
							}()
						}
						if *progress > 0 {
							wg.Add(1)
							go func() {
								defer wg.Done()
								showProgress(runCtx, env.Stdout, *progress, d, reg, gen)
							}()
						}
					},
				})
			}
		},
	}
}

// showProgress prints a progress line every interval: the records each
// pipeline moved, lag, the subjects' latest versions and the generator's
// writes. On a terminal the line is rewritten in place.
func showProgress(ctx context.Context, w io.Writer, every time.Duration, d *daemon.Daemon, reg *registry.Client, gen *demo.Generator) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(w)
			}
			return
		case <-t.C:
		}
		line := progressLine(ctx, d, reg, gen)
		if tty {
			fmt.Fprintf(w, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(w, line)
		}
	}
}

func progressLine(ctx context.Context, d *daemon.Daemon, reg *registry.Client, gen *demo.Generator) string {
	var parts []string
	if gen != nil {
		parts = append(parts, fmt.Sprintf("demo %d writes", gen.Writes()))
	}
	for _, s := range d.Status() {
		state := string(s.State)
		if s.Standby && s.State == daemon.StateRunning {
			state = "standby"
		}
		p := fmt.Sprintf("%s %s %d", s.Name, state, s.Out)
		if s.Dead > 0 {
			p += fmt.Sprintf(" (%d dead)", s.Dead)
		}
		if s.Kind == "sink" {
			p += fmt.Sprintf(" lag %.0f", s.Lag)
		}
		for _, c := range s.Copies {
			if c.Done {
				continue
			}
			p += fmt.Sprintf(" (copy %s %d", c.Namespace, c.Copied)
			if c.Estimated >= 0 {
				p += fmt.Sprintf("/%d", c.Estimated)
			}
			p += fmt.Sprintf(" %.0f/s", c.Rate)
			if c.ETA > 0 {
				p += " ETA " + c.ETA.String()
			}
			p += ")"
		}
		parts = append(parts, p)
	}
	qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if subjects, err := reg.Subjects(qctx, false); err == nil {
		sort.Strings(subjects)
		var vs []string
		for _, sub := range subjects {
			if versions, err := reg.Versions(qctx, sub, false); err == nil && len(versions) > 0 {
				vs = append(vs, fmt.Sprintf("%s v%d", sub, versions[len(versions)-1]))
			}
		}
		if len(vs) > 0 {
			parts = append(parts, "schemas "+strings.Join(vs, ", "))
		}
	}
	return strings.Join(parts, " | ")
}

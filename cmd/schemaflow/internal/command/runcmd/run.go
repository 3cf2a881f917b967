// Package runcmd implements `schemaflow run` (the daemon) and
// `schemaflow validate`, and the pieces `schemaflow dev` shares with them.
package runcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/processor/daemon"
	"github.com/schemaflow/schemaflow/processor/spec"
)

// Files is a repeatable -f flag.
type Files []string

// String implements flag.Value.
func (f *Files) String() string { return strings.Join(*f, ",") }

// Set implements flag.Value.
func (f *Files) Set(v string) error { *f = append(*f, v); return nil }

// LogFlags are the logging flags of the daemon commands.
type LogFlags struct {
	Format, Level string
}

// Define adds --log-format and --log-level to fs.
func (l *LogFlags) Define(fs *flag.FlagSet) {
	fs.StringVar(&l.Format, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&l.Level, "log-level", "info", "log `level`: debug, info, warn or error")
}

// Logger makes the logger the flags describe, writing to w.
func (l *LogFlags) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, cli.Usagef("--log-level %q: want debug, info, warn or error", l.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.Format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, cli.Usagef("--log-format %q: want text or json", l.Format)
}

// ReadSpecs reads spec files, resolved against env's directory, with
// ${ENV} from getenv.
func ReadSpecs(env *cli.Env, files []string, getenv func(string) string) ([]*spec.File, error) {
	if len(files) == 0 {
		return nil, cli.Usagef("name at least one spec file with -f")
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = env.Path(f)
	}
	specs, err := spec.ReadFiles(paths, getenv)
	var probs spec.Problems
	if errors.As(err, &probs) {
		// One problem per line, each with its file:line, then a count.
		for _, p := range probs {
			fmt.Fprintln(env.Stderr, p)
		}
		noun := "problems"
		if len(probs) == 1 {
			noun = "problem"
		}
		fmt.Fprintf(env.Stderr, "%d %s in the spec files\n", len(probs), noun)
		return nil, &cli.ExitCodeError{Code: cli.ExitError}
	}
	return specs, err
}

// Serve serves h on addr until ctx is done; an empty addr serves nothing.
// It returns the address listened on.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (string, error) {
	if addr == "" {
		return "", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("--http-addr: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	})
	return ln.Addr().String(), nil
}

// New returns the run command.
func New() *cli.Command {
	return &cli.Command{
		Name:    "run",
		Summary: "run the pipelines of spec files (the daemon)",
		Usage:   "-f SPEC.yaml [-f ...] [flags]",
		Help: `Runs every pipeline of the spec files until SIGINT or SIGTERM. Each
pipeline runs on its own: a failing one restarts with backoff (on_failure:
restart), stays stopped (stop) or stops schemaflow (exit), and the others go
on. On a signal, pipelines stop reading, deliver and commit what they read,
save their resume tokens, and schemaflow exits 0 — within --shutdown-timeout.

--memory-limit sets the Go runtime's soft memory limit: by default 32MiB
plus every pipeline's max_inflight_bytes; GOMEMLIMIT, when set, wins.

--http-addr serves /metrics (Prometheus), /healthz and /readyz, and the
web console at /console/ (schemas, pipelines live, dead letters; read-only
unless --console-write allows replaying dead letters). --pprof adds Go's
runtime profiles at /debug/pprof/ (go tool pprof http://ADDR/debug/pprof/heap).

Specs are checked before anything starts; every problem is reported at
once with its file:line. See "schemaflow validate".`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			var files Files
			fs.Var(&files, "f", "spec `file` (repeatable)")
			httpAddr := fs.String("http-addr", "127.0.0.1:9464", "`address` for /metrics, /healthz and /readyz; empty for none")
			shutdown := fs.Duration("shutdown-timeout", 30*time.Second, "how long a graceful stop may take")
			consoleWrite := fs.Bool("console-write", false, "let the web console replay dead letters (default read-only)")
			profiles := fs.Bool("pprof", false, "also serve Go's runtime profiles at /debug/pprof/ on --http-addr (heap, goroutine, profile?seconds=N, ...)")
			memLimit := fs.String("memory-limit", "", "soft limit on the Go runtime's `size` (e.g. 256MiB), or off; default 32MiB plus every pipeline's max_inflight_bytes; GOMEMLIMIT wins when set")
			var logs LogFlags
			logs.Define(fs)
			return func(ctx context.Context, env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("run takes spec files with -f, not arguments")
				}
				log, err := logs.Logger(env.Stderr)
				if err != nil {
					return err
				}
				if _, err := parseMemoryLimit(*memLimit); err != nil {
					return err
				}
				specs, err := ReadSpecs(env, files, env.Getenv)
				if err != nil {
					return err
				}
				return RunDaemon(ctx, specs, DaemonOptions{Logger: log, HTTPAddr: *httpAddr, ShutdownTimeout: *shutdown, Stdout: env.Stdout, ConsoleWrite: *consoleWrite, Pprof: *profiles,
					MemoryLimit: *memLimit})
			}
		},
	}
}

// DaemonOptions configure RunDaemon.
type DaemonOptions struct {
	Logger          *slog.Logger
	HTTPAddr        string
	ShutdownTimeout time.Duration
	Connections     *daemon.Connections
	Stdout          io.Writer
	// Started, when set, is called once the daemon is built and serving.
	Started func(*daemon.Daemon)
	// ConsoleWrite lets the web console replay dead letters.
	ConsoleWrite bool
	// Pprof serves Go's runtime profiles at /debug/pprof/ beside the rest.
	Pprof bool
	// MemoryLimit is --memory-limit: the Go runtime's soft memory limit
	// while the daemon runs, a size or MemoryLimitOff; empty for the
	// pipelines' (daemon.MemoryLimit). GOMEMLIMIT in the environment
	// wins, and a limit the program set before stays unless this names
	// one. The previous limit is put back when RunDaemon returns.
	MemoryLimit string
}

// RunDaemon builds and runs the pipelines of specs until ctx is done.
func RunDaemon(ctx context.Context, specs []*spec.File, o DaemonOptions) error {
	d, err := daemon.New(ctx, specs, daemon.Options{Logger: o.Logger, Connections: o.Connections, ShutdownTimeout: o.ShutdownTimeout})
	if err != nil {
		return err
	}
	mem, err := chooseMemoryLimit(o.MemoryLimit, os.LookupEnv, debug.SetMemoryLimit(-1), d.MemoryLimit())
	if err != nil {
		return err
	}
	defer applyMemoryLimit(mem, o.Logger)()
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	h, withUI, err := withConsole(d.Handler(), specs, d, o, serveCtx.Done())
	if err != nil {
		return err
	}
	if o.Pprof {
		h = withPprof(h)
	}
	addr, err := Serve(serveCtx, o.HTTPAddr, h, o.Logger)
	if err != nil {
		return err
	}
	if addr != "" {
		o.Logger.Info("serving /metrics, /healthz and /readyz", "addr", "http://"+addr)
		if o.Pprof {
			o.Logger.Info("serving Go's runtime profiles", "url", "http://"+addr+"/debug/pprof/heap")
		}
		if withUI {
			o.Logger.Info("serving the web console", "url", "http://"+addr+"/console/", "write", o.ConsoleWrite)
		}
	}
	if o.Started != nil {
		o.Started(d)
	}
	return d.Run(ctx)
}

// NewValidate returns the validate command.
func NewValidate() *cli.Command {
	return &cli.Command{
		Name:    "validate",
		Summary: "check spec files without running them",
		Usage:   "-f SPEC.yaml [-f ...]",
		Help: `Reads spec files as "schemaflow run" would — strict keys, ${ENV} expanded,
every value checked — and reports every problem at once, each with its
file:line. Exits 0 when the specs are valid, 1 when not.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			var files Files
			fs.Var(&files, "f", "spec `file` (repeatable)")
			return func(ctx context.Context, env *cli.Env, args []string) error {
				files = append(files, args...)
				specs, err := ReadSpecs(env, files, env.Getenv)
				if err != nil {
					return err
				}
				n := 0
				for _, f := range specs {
					for i := range f.Pipelines {
						p := f.Effective(i)
						kind := "source"
						if p.Sink != nil {
							kind = "sink"
						}
						fmt.Fprintf(env.Stdout, "%s: %s %s\n", f.Line(i), kind, p.Name)
						n++
					}
				}
				fmt.Fprintf(env.Stdout, "ok: %d pipelines in %d files\n", n, len(specs))
				return nil
			}
		},
	}
}

// Command ferrettest serves FerretDB (on SQLite, in a temporary directory)
// over the MongoDB wire protocol on a loopback port, for schemaflow's
// tests that check the sink and the relational mapping against a second
// MongoDB-compatible server.
//
// It is a module of its own so that FerretDB and the modules it brings
// (SQLite, PostgreSQL and HANA drivers, OpenTelemetry, Prometheus, ...)
// stay out of schemaflow's go.mod: users who import schemaflow do not
// inherit them. Tests start it through internal/ferretdb (in the main
// module), which builds this command once per test binary.
//
// It prints the server's mongodb:// URI as one line on standard output,
// then serves until its standard input closes or it gets SIGINT or
// SIGTERM; then it stops FerretDB and removes its data.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ferrettest:", err)
		os.Exit(1)
	}
}

// run serves FerretDB until stdin closes or a signal comes, after writing
// its URI to out.
func run(stdin io.Reader, out io.Writer) error {
	dir, err := os.MkdirTemp("", "ferrettest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fmt.Errorf("starting FerretDB: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _, _ = io.Copy(io.Discard, stdin); cancel() }()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	// MongoDBURI waits until the listener is bound.
	if _, err := fmt.Fprintln(out, f.MongoDBURI()); err != nil {
		return err
	}
	<-ctx.Done()
	return <-done
}

// Package testenv starts the in-process components the processor tests
// run against: a kfake Kafka cluster, our registry server over real HTTP,
// and lungo engines. Everything listens on loopback and is torn down by
// the test's cleanup.
package testenv

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

// Kafka starts a one-broker kfake cluster and returns its addresses.
func Kafka(t testing.TB, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// Registry starts a registry server on a memory store and returns a client
// for it and the HTTP server (which a test may close to take it down).
func Registry(t testing.TB, opts registry.ClientOptions) (*registry.Client, *httptest.Server) {
	t.Helper()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c, err := registry.NewClient(ts.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, ts
}

// Lungo opens a lungo engine on a memory store.
func Lungo(t testing.TB) lungo.IClient {
	t.Helper()
	client, engine, err := lungo.Open(context.Background(), lungo.Options{Store: lungo.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	return client
}

// Quiet is a logger that discards everything.
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Start runs f in the background; the returned stop cancels it and
// returns what f returned.
func Start(f func(context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	return func() error { cancel(); return <-done }
}

// WaitFor polls f until it holds, failing the test after 30 seconds.
func WaitFor(t testing.TB, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Dump returns a collection's documents, sorted by _id, as canonical
// Extended JSON: {"docs": [...]}.
func Dump(t testing.TB, coll lungo.ICollection) string {
	t.Helper()
	cur, err := coll.Find(context.Background(), bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.D
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatal(err)
	}
	b, err := bson.MarshalExtJSON(bson.D{{Key: "docs", Value: docs}}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

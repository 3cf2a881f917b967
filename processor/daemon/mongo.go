package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Connections opens MongoDB clients by URI, once per URI, so pipelines
// that name the same deployment share a client — and, for an embedded
// lungo engine, the same data. It is safe for concurrent use.
type Connections struct {
	mu      sync.Mutex
	clients map[string]lungo.IClient
	closers []func(context.Context) error
}

// Provide registers an open client under uri, for embedders (schemaflow
// dev shares its engine with its demo generator). The caller closes it.
func (c *Connections) Provide(uri string, client lungo.IClient) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clients == nil {
		c.clients = map[string]lungo.IClient{}
	}
	c.clients[uri] = client
}

// Client returns the client of uri, connecting on first use:
// mongodb:// and mongodb+srv:// through the driver; lungo:memory is an
// in-memory engine and lungo:PATH a file-backed one.
func (c *Connections) Client(ctx context.Context, uri string) (lungo.IClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[uri]; ok {
		return cl, nil
	}
	if c.clients == nil {
		c.clients = map[string]lungo.IClient{}
	}
	var cl lungo.IClient
	switch {
	case strings.HasPrefix(uri, "lungo:"):
		var store lungo.Store = lungo.NewMemoryStore()
		if path := strings.TrimPrefix(uri, "lungo:"); path != "memory" {
			store = lungo.NewFileStore(path, 0o644)
		}
		client, engine, err := lungo.Open(ctx, lungo.Options{Store: store})
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", uri, err)
		}
		cl = client
		c.closers = append(c.closers, func(context.Context) error { engine.Close(); return nil })
	default:
		client, err := lungo.Connect(ctx, options.Client().ApplyURI(uri))
		if err != nil {
			return nil, fmt.Errorf("connect to MongoDB: %w", err)
		}
		cl = client
		c.closers = append(c.closers, client.Disconnect)
	}
	c.clients[uri] = cl
	return cl, nil
}

// Close closes the clients the Connections opened.
func (c *Connections) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, f := range c.closers {
		errs = append(errs, f(ctx))
	}
	c.closers, c.clients = nil, nil
	return errors.Join(errs...)
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo/description"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Connections opens MongoDB clients by URI, once per URI, so pipelines
// that name the same deployment share a client — and, for an embedded
// lungo engine, the same data. It is safe for concurrent use.
//
// The clients it connects through the driver are watched: the first
// failed attempt to reach a deployment (a refused connection, a failed
// login, an unknown host) is logged as a warning at once, and
// Unreachable says so until a server answers.
type Connections struct {
	// Logger logs deployments found unreachable and reachable again.
	// Default slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex
	clients map[string]lungo.IClient
	health  map[string]*mongoHealth
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
		log := c.Logger
		if log == nil {
			log = slog.Default()
		}
		h := &mongoHealth{uri: RedactURI(uri), log: log, servers: map[string]description.Server{}}
		opts := options.Client().ApplyURI(uri).SetServerMonitor(&event.ServerMonitor{
			ServerDescriptionChanged: h.changed,
			ServerClosed:             h.closed,
		})
		client, err := lungo.Connect(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("connect to MongoDB %s: %w", h.uri, err)
		}
		if c.health == nil {
			c.health = map[string]*mongoHealth{}
		}
		c.health[uri] = h
		cl = client
		c.closers = append(c.closers, client.Disconnect)
	}
	c.clients[uri] = cl
	return cl, nil
}

// Unreachable describes why the deployment of uri cannot be reached —
// "mongodb unreachable: URI: error", the URI without credentials — or
// is "" when a server answers, none was tried yet, or uri is not watched
// (embedded engines, clients given with Provide).
func (c *Connections) Unreachable(uri string) string {
	c.mu.Lock()
	h := c.health[uri]
	c.mu.Unlock()
	if h == nil {
		return ""
	}
	return h.problem()
}

// mongoHealth follows the servers of one client, as its monitoring
// routine sees them.
type mongoHealth struct {
	uri string // without credentials
	log *slog.Logger

	mu      sync.Mutex
	servers map[string]description.Server // by address
	down    error                         // while unreachable, the last failure
}

// changed records a server's new description, and logs when the
// deployment becomes unreachable (no server answers and one failed) or
// reachable again.
func (h *mongoHealth) changed(e *event.ServerDescriptionChangedEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.servers[e.Address.String()] = e.NewDescription
	h.update()
}

func (h *mongoHealth) closed(e *event.ServerClosedEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.servers, e.Address.String())
	h.update()
}

// update recomputes down; h.mu held.
func (h *mongoHealth) update() {
	var failure error
	for _, s := range h.servers {
		if s.Kind != description.Unknown {
			if h.down != nil {
				h.log.Info("mongodb reachable again", "uri", h.uri, "server", s.Addr.String())
			}
			h.down = nil
			return
		}
		if s.LastError != nil && failure == nil {
			failure = s.LastError
		}
	}
	if failure == nil {
		return // not tried yet
	}
	if h.down == nil {
		h.log.Warn("mongodb unreachable: the first attempt to reach it failed; the pipelines using it wait and retry",
			"uri", h.uri, "err", failure.Error())
	}
	h.down = failure
}

func (h *mongoHealth) problem() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down == nil {
		return ""
	}
	return fmt.Sprintf("mongodb unreachable: %s: %v", h.uri, h.down)
}

// secretOptions are URI options whose values are credentials.
var secretOptions = []string{"password", "secret", "token", "authmechanismproperties"}

// RedactURI returns a MongoDB URI without its credentials: the user
// information before the hosts is dropped, and options that carry
// secrets (passwords, tokens, authMechanismProperties) are masked.
func RedactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	query := ""
	if i := strings.Index(rest, "?"); i >= 0 {
		rest, query = rest[:i], rest[i+1:]
	}
	// The last '@' before the options ends the user information, even
	// when a password holds an unescaped '@' or '/'.
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if query == "" {
		return scheme + "://" + rest
	}
	opts := strings.Split(query, "&")
	for i, o := range opts {
		k, _, _ := strings.Cut(o, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		for _, secret := range secretOptions {
			if strings.Contains(strings.ToLower(name), secret) {
				opts[i] = k + "=xxxxx"
				break
			}
		}
	}
	return scheme + "://" + rest + "?" + strings.Join(opts, "&")
}

// Close closes the clients the Connections opened.
func (c *Connections) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, f := range c.closers {
		errs = append(errs, f(ctx))
	}
	c.closers, c.clients, c.health = nil, nil, nil
	return errors.Join(errs...)
}

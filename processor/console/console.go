// Package console is schemaflow's web console: server-rendered pages, with
// a little JavaScript, for the schemas of a registry (subjects, versions,
// any version highlighted, a field-level diff between two versions with
// the verdict at every compatibility level, computed by package
// evolution), the pipelines of a daemon (state, rates, lag, dead letters
// by class, copy progress, the subjects they write; updated live over
// server-sent events) and their dead-letter topics (browsed, decoded
// through the registry, replayed with package dlq).
//
// Every page and its JSON endpoint are served under Path. Assets are
// embedded. Without Options.Status the console is schemas-only, as
// `schemaflow registry serve` serves it. It is read-only unless
// Options.Write is set.
package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/processor/daemon"
	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/registry"
)

// Path is where the console is served: its pages are under it.
const Path = "/console/"

//go:embed assets
var assets embed.FS

// Registry is what the schema pages read from a registry; a
// *registry.Client is one, and HandlerRegistry serves one in process.
type Registry interface {
	Subjects(ctx context.Context, deleted bool) ([]string, error)
	Versions(ctx context.Context, subject string, deleted bool) ([]int, error)
	Version(ctx context.Context, subject string, version int, deleted bool) (registry.Schema, error)
	Config(ctx context.Context, subject string, defaultToGlobal bool) (registry.Config, error)
	Mode(ctx context.Context, subject string, defaultToGlobal bool) (string, error)
}

// Pipeline describes a pipeline beyond its live status: the topics it
// writes (a source) or reads (a sink), whose subjects the pipelines page
// lists, and its dead-letter topic.
type Pipeline struct {
	Name string
	// Topics are the topics a source writes or a sink reads; for a source
	// whose topics follow from the namespace, the ones known up front.
	Topics []string
	// SubjectPrefixes are further prefixes of the subjects it writes: the
	// namespace of a source with the record subject strategy.
	SubjectPrefixes []string
	// DeadLetterTopic is "" when it has none.
	DeadLetterTopic string
}

// DeadLetterTopic is a dead-letter topic the console can browse.
type DeadLetterTopic struct {
	Topic string
	// Pipeline names the pipeline that writes it.
	Pipeline string
	// Kafka are the client options that reach it: seed brokers, SASL,
	// TLS.
	Kafka []kgo.Opt
	// Registry decodes its keys and values; nil shows them as JSON or hex.
	Registry decode.Registry
}

// Options configure a Console.
type Options struct {
	// Registry serves the schema pages. Required.
	Registry Registry
	// Status returns the pipelines' live status (daemon.Daemon.Status),
	// read at every request. Nil serves the schema pages only.
	Status func() []daemon.Status
	// Pipelines describe the pipelines Status reports, by name.
	Pipelines []Pipeline
	// DeadLetters are the dead-letter topics of the pipelines.
	DeadLetters []DeadLetterTopic
	// Write allows replaying dead letters. Default false: read-only.
	Write bool
	// Auth, when set, is asked for every request's basic-auth user and
	// password, and the request refused unless it answers true. Default
	// nil: no authentication (as the registry or daemon has none).
	Auth func(user, password string) bool
	// Realm names the basic-auth realm. Default "schemaflow".
	Realm string
	// Done ends the live streams when closed, so a server can shut down.
	Done <-chan struct{}
	// Interval is how often the live stream sends pipeline status.
	// Default 1s.
	Interval time.Duration
	// Timeout bounds each registry and Kafka call of a request. Default
	// 10s.
	Timeout time.Duration
	// Limit is how many of the newest dead letters of each partition a
	// page reads. Default 500.
	Limit int
	// Logger logs replays and failed requests. Default slog.Default().
	Logger *slog.Logger
}

// Console serves the console's pages. It is an http.Handler for Path and
// below.
type Console struct {
	opts  Options
	log   *slog.Logger
	mux   *http.ServeMux
	pages *template.Template
	rates *rates

	subjectsMu    sync.Mutex
	subjectsAt    time.Time
	subjectsCache []string
}

// New returns a console.
func New(opts Options) (*Console, error) {
	if opts.Registry == nil {
		return nil, errors.New("console: a registry is required")
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Limit <= 0 {
		opts.Limit = 500
	}
	if opts.Realm == "" {
		opts.Realm = "schemaflow"
	}
	c := &Console{opts: opts, log: opts.Logger, mux: http.NewServeMux(), rates: &rates{}}
	if c.log == nil {
		c.log = slog.Default()
	}
	t, err := template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	c.pages = t
	static, _ := fs.Sub(assets, "assets/static")
	c.mux.Handle("GET "+Path+"static/", http.StripPrefix(Path+"static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET "+Path+"{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Path+"schemas", http.StatusFound)
	})
	c.schemaRoutes()
	if opts.Status != nil {
		c.pipelineRoutes()
		c.deadLetterRoutes()
	}
	return c, nil
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.opts.Auth != nil {
		user, password, ok := r.BasicAuth()
		if !ok || !c.opts.Auth(user, password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+c.opts.Realm+`", charset="UTF-8"`)
			http.Error(w, "401 unauthorized: the console needs the same user and password as the registry", http.StatusUnauthorized)
			return
		}
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	c.mux.ServeHTTP(w, r)
}

// Mount serves the console under Path and everything else with h.
func (c *Console) Mount(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(Path, c)
	mux.Handle("/console", http.RedirectHandler(Path, http.StatusMovedPermanently))
	mux.Handle("/", h)
	return mux
}

// BasicAuth returns an Options.Auth that accepts one user and password,
// compared in constant time.
func BasicAuth(user, password string) func(string, string) bool {
	return func(u, p string) bool {
		return subtle.ConstantTimeCompare([]byte(u), []byte(user))&subtle.ConstantTimeCompare([]byte(p), []byte(password)) == 1
	}
}

// page is what every page template gets.
type page struct {
	Title     string
	Nav       string // "schemas", "pipelines" or "dead-letters"
	Pipelines bool   // the pipeline pages exist
	Write     bool
	Path      string
	Data      any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, name, title, nav string, data any) {
	p := page{Title: title, Nav: nav, Pipelines: c.opts.Status != nil, Write: c.opts.Write, Path: Path, Data: data}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := c.pages.ExecuteTemplate(w, name, p); err != nil {
		c.log.Error("console: rendering a page", "page", name, "path", r.URL.Path, "err", err)
	}
}

// renderError shows an error page (or JSON for the API) with the status
// the error calls for.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, nav string, err error) {
	status := statusOf(err)
	if strings.HasPrefix(r.URL.Path, Path+"api/") {
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	w.WriteHeader(status)
	c.render(w, r, "error.html", http.StatusText(status), nav, err.Error())
}

// statusOf maps an error to an HTTP status: the registry's 404s and 422s
// pass through, a missing thing is 404, a deadline 504, the rest 502.
func statusOf(err error) int {
	var re *registry.Error
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &re) && re.Status >= 400 && re.Status < 500:
		return re.Status
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// httpError is a request error with its status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// call bounds a request's registry or Kafka call by the timeout.
func (c *Console) call(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), c.opts.Timeout)
}

var funcs = template.FuncMap{
	"pathEscape":  url.PathEscape,
	"queryEscape": url.QueryEscape,
	"join":        strings.Join,
	"add":         func(a, b int) int { return a + b },
}

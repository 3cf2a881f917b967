// Package httpfast serves a schema registry (registry/server) over
// fasthttp, the HTTP/1.1 engine of `schemaflow registry serve`.
//
// A read or lookup the registry has answered since its state last changed
// is answered here, natively: the request line, Content-Type and body give
// the key of the registry's precomputed answers (server.CachedAnswer), and
// the answer's bytes go out with the same status, Content-Type and body as
// net/http would send. Basic auth, when Options.Users is set, is checked
// here too, with the registry's own verification (server.Users.Verify)
// and the same 401 answer as server.RequireAuth. Everything else (a first
// read, writes, errors, the console's pages) goes to the net/http handler
// through fasthttpadaptor; the answers it computes are kept by the
// registry, so the next identical request is answered natively.
//
// What differs from net/http: no HTTP/2 (h2c or over TLS; clients
// negotiate HTTP/1.1); bodies are read whole before the handler runs, up
// to the registry's MaxBodyBytes plus 256 KiB (the registry answers 413
// up to there, this package answers the same 413 past it, from the
// Content-Length, and closes the connection); a body must arrive within
// Options.BodyTimeout; a keep-alive connection idle for
// Options.IdleTimeout is closed; and responses of the net/http handler
// are buffered, not streamed, unless it flushes.
package httpfast

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/schemaflow/schemaflow/registry/server"
)

// Defaults of Options.
const (
	// DefaultReadTimeout bounds reading a request's header, as net/http's
	// ReadHeaderTimeout in `registry serve --http-engine net`.
	DefaultReadTimeout = 10 * time.Second
	// DefaultBodyTimeout bounds reading a request's body once its header
	// is in.
	DefaultBodyTimeout = time.Minute
	// DefaultIdleTimeout is how long a keep-alive connection may wait for
	// its next request.
	DefaultIdleTimeout = 5 * time.Minute
)

// bodySlack is how far past the registry's body limit a body is still
// read and handed to it (net/http reads as much of an unread body before
// closing a connection).
const bodySlack = 256 << 10

// Options configure a Server. The zero value is usable.
type Options struct {
	// Users, when set, requires basic auth of every request, checked as
	// server.RequireAuth checks it. The fallback handler must then be
	// wrapped in server.RequireAuth with the same Users.
	Users *server.Users
	// ReadTimeout bounds reading a request's header, from its first
	// byte (from the connection's opening for its first request).
	// Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// BodyTimeout bounds reading a request's body, from the end of its
	// header. Default DefaultBodyTimeout.
	BodyTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request. Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Logger receives handler panics and errors of the engine. Default:
	// discarded.
	Logger *slog.Logger
}

// Server is the fasthttp engine. Serve it on a listener (plain or TLS);
// Shutdown stops it.
type Server struct {
	reg      *server.Server
	users    *server.Users
	fallback fasthttp.RequestHandler
	fs       *fasthttp.Server
	log      *slog.Logger

	// unauthorized is server.RequireAuth's answer to a request without
	// valid credentials.
	unauthorized response
	// tooLarge is the registry's answer to a body past its limit.
	tooLarge response
}

// response is an answer prepared once.
type response struct {
	status int
	header [][2]string
	body   []byte
}

func (r *response) write(ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	ctx.SetStatusCode(r.status)
	for _, kv := range r.header {
		ctx.Response.Header.Set(kv[0], kv[1])
	}
	ctx.Response.SetBodyRaw(r.body)
}

// New returns the engine for reg, handing what it does not answer itself
// to h: reg's net/http handler, with the console mounted and
// server.RequireAuth around it as the net/http engine serves it.
func New(reg *server.Server, h http.Handler, opts Options) (*Server, error) {
	if reg == nil || h == nil {
		return nil, errors.New("httpfast: a registry and a handler are required")
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	limit := reg.MaxBodyBytes()
	if limit > int64(^uint(0)>>2)-bodySlack {
		return nil, fmt.Errorf("httpfast: the registry's body limit %d is too large", limit)
	}
	s := &Server{reg: reg, users: opts.Users, fallback: fasthttpadaptor.NewFastHTTPHandler(h), log: opts.Logger}
	if s.users != nil {
		// RequireAuth's own answer to a request without credentials:
		// recorded once, so the two engines cannot differ.
		rec := httptest.NewRecorder()
		server.RequireAuth(s.users, http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusUnauthorized {
			return nil, fmt.Errorf("httpfast: RequireAuth answered %d to a request without credentials", rec.Code)
		}
		s.unauthorized = recorded(rec)
	}
	body, err := json.Marshal(reg.TooLargeError())
	if err != nil {
		return nil, fmt.Errorf("httpfast: encoding the 413 answer: %w", err)
	}
	s.tooLarge = response{status: http.StatusRequestEntityTooLarge, header: [][2]string{{"Content-Type", "application/vnd.schemaregistry.v1+json"}}, body: append(body, '\n')}

	s.fs = &fasthttp.Server{
		Handler:      s.serve,
		ErrorHandler: s.requestError,
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			if h.ContentLength() != 0 {
				return fasthttp.RequestConfig{ReadTimeout: opts.BodyTimeout}
			}
			return fasthttp.RequestConfig{}
		},
		// No Server header, as net/http sends none.
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		ReadTimeout:           opts.ReadTimeout,
		IdleTimeout:           opts.IdleTimeout,
		// Bodies a little past the registry's limit reach it, which
		// answers 413 on an open connection as net/http does; past the
		// slack fasthttp refuses them from the header, with the same
		// answer (requestError), and closes the connection.
		MaxRequestBodySize: int(limit + bodySlack),
		CloseOnShutdown:    true,
		// The registry reads JSON bodies; a multipart body is not parsed.
		DisablePreParseMultipartForm: true,
		Logger:                       logger{opts.Logger},
	}
	return s, nil
}

// recorded is a recorded net/http answer, its header included.
func recorded(rec *httptest.ResponseRecorder) response {
	r := response{status: rec.Code, body: bytes.Clone(rec.Body.Bytes())}
	for k, vs := range rec.Header() {
		for _, v := range vs {
			r.header = append(r.header, [2]string{k, v})
		}
	}
	return r
}

// Serve accepts connections on ln until Shutdown; ln may be a TLS
// listener. It returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.fs.Serve(ln)
}

// Shutdown stops accepting connections, closes idle ones, and waits for
// the requests being served (each answered with Connection: close) until
// ctx ends; then it returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.fs.ShutdownWithContext(ctx)
}

// serve answers from the registry's precomputed answers, else through the
// net/http handler.
func (s *Server) serve(ctx *fasthttp.RequestCtx) {
	if s.users != nil && !s.authorized(ctx) {
		s.unauthorized.write(ctx)
		return
	}
	method := ctx.Method()
	if string(method) == http.MethodGet || string(method) == http.MethodPost {
		uri := ctx.RequestURI()
		// The console's pages are the console's, never the registry's.
		if !bytes.HasPrefix(uri, []byte("/console")) {
			ct, body, ok := s.reg.CachedAnswer(method, uri, ctx.Request.Header.ContentType(), ctx.PostBody())
			if ok {
				ctx.Response.Header.SetContentType(ct)
				ctx.Response.SetBodyRaw(body)
				return
			}
		}
	}
	s.serveHTTP(ctx)
}

// serveHTTP runs the net/http handler; a panic answers 500 and closes the
// connection, where net/http would close it without an answer.
func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("httpfast: panic serving request", "method", string(ctx.Method()), "uri", string(ctx.RequestURI()), "panic", p)
			ctx.Response.Reset()
			ctx.Error("internal error", fasthttp.StatusInternalServerError)
			ctx.SetConnectionClose()
		}
	}()
	s.fallback(ctx)
}

// authorized checks the request's basic auth as net/http's
// Request.BasicAuth reads it and server.RequireAuth verifies it.
func (s *Server) authorized(ctx *fasthttp.RequestCtx) bool {
	user, password, ok := basicAuth(ctx.Request.Header.Peek("Authorization"))
	return ok && s.users.Verify(user, password)
}

// basicAuth parses a Basic Authorization header value as net/http does.
func basicAuth(h []byte) (user, password string, ok bool) {
	const prefix = "Basic "
	if len(h) < len(prefix) || !bytes.EqualFold(h[:len(prefix)], []byte(prefix)) {
		return "", "", false
	}
	c, err := base64.StdEncoding.DecodeString(string(h[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(c), ":")
	if !ok {
		return "", "", false
	}
	return user, password, true
}

// requestError answers a request fasthttp could not read: a body past
// the registry's limit gets the registry's 413; others get fasthttp's
// answers (408 for a timeout, 400 else).
func (s *Server) requestError(ctx *fasthttp.RequestCtx, err error) {
	var timeout interface{ Timeout() bool }
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.tooLarge.write(ctx)
	case errors.As(err, &timeout) && timeout.Timeout():
		ctx.Error("Request timeout", fasthttp.StatusRequestTimeout)
	default:
		ctx.Error("Error when parsing request", fasthttp.StatusBadRequest)
	}
}

// logger passes fasthttp's messages to slog.
type logger struct{ l *slog.Logger }

func (l logger) Printf(format string, args ...any) {
	l.l.Warn("httpfast: " + fmt.Sprintf(format, args...))
}

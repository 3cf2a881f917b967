// Package server is a Confluent-compatible schema registry: the REST API
// that Confluent's serializers, srclient and other clients use, over a log
// of the records Confluent writes to _schemas (see registry/store).
// Compatibility is decided by package evolution.
//
// Writes are built under a read lock on the in-memory state, appended with
// no lock held and bounded by Options.StoreTimeout (50002 past it); reads
// never wait for the store. On a shared log the log order decides between
// writers (see store.Rejected), so two servers that both believe they lead
// cannot give one id to two schemas.
//
// Confluent-equivalent: subjects, versions, ids, soft and hard deletes,
// references, lookups, compatibility (with verbose), config and mode
// (IMPORT included), error codes; metadata and ruleSet stored, returned,
// part of a schema's identity, inherited from the previous version and
// merged with the config's defaultMetadata, overrideMetadata,
// defaultRuleSet and overrideRuleSet (confluent:version included);
// format=resolved for Avro (the same schema as Confluent's, names written
// in full) and format=serialized for Protobuf; contexts (:.ctx:subject,
// per-context ids, ?subject= on id lookups, /contexts, the
// /contexts/{ctx}/ URL form, context-level config and mode, DELETE
// /contexts/{ctx} and the CONTEXT log record; /contexts/. is the root path,
// as Confluent's ContextFilter makes it, so DELETE there is 405);
// normalize=true for Avro and JSON Schema, and for Protobuf byte for byte
// (Confluent's normalized string, see confluentproto.go);
// format=ignore_extensions byte for byte; a Protobuf schema given as a
// base64 FileDescriptorProto. Not Confluent-equivalent: a Protobuf schema
// is stored and compared as given (comments kept; another layout is
// another id) where Confluent stores and compares its canonical string,
// and one given as a FileDescriptorProto as this package prints it;
// schemas Confluent takes unchecked but protoc refuses are refused; a
// normal form protoc refuses leaves the schema as given; rules are not
// enforced.
//
// Successful reads and lookups are answered from precomputed bytes (see
// answers.go), bounded by Options.AnswerCacheBytes.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/store"
)

// Options configure a Server.
type Options struct {
	// MaxBodyBytes bounds a request body. Default 16 MiB.
	MaxBodyBytes int64
	// Logger receives errors of the store. Default: discarded.
	Logger *slog.Logger
	// StoreTimeout bounds each write: waiting for the writes before it,
	// finding the leader, catching up with a shared log, appending and
	// seeing the append applied. A write past it answers 50002 (operation
	// timed out); reads never wait for the store. Default
	// DefaultStoreTimeout.
	StoreTimeout time.Duration
	// AnswerCacheBytes bounds the precomputed answers of reads and lookups
	// (keys and bodies); past it answers are computed for each request.
	// Default DefaultAnswerCacheBytes.
	AnswerCacheBytes int64
}

// DefaultStoreTimeout is the StoreTimeout used when none is given.
const DefaultStoreTimeout = 10 * time.Second

// CodeOperationTimedOut is Confluent's error code for a store operation
// that did not finish in time.
const CodeOperationTimedOut = 50002

// Server serves the registry API. It is safe for concurrent use.
type Server struct {
	opts  Options
	store store.Store
	mu    sync.RWMutex // guards st; never held across a store call
	st    *state
	mux   *http.ServeMux

	// writes lets one write at a time build and append its records, so
	// that each is built on the state the previous one left. Reads do not
	// take it.
	writes chan struct{}

	// answers holds the bytes of successful reads and lookups; every
	// applied record clears it (see answers.go).
	answers *answers

	// shared is set when other servers write the same log (Kafka).
	shared Shared
}

// New loads the store's log and returns a server over it.
func New(s store.Store, opts Options) (*Server, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = DefaultStoreTimeout
	}
	if opts.AnswerCacheBytes <= 0 {
		opts.AnswerCacheBytes = DefaultAnswerCacheBytes
	}
	srv := &Server{opts: opts, store: s, st: newState(), answers: newAnswers(opts.AnswerCacheBytes), writes: make(chan struct{}, 1)}
	err := s.Load(func(r store.Record) error {
		err := srv.st.apply(r)
		var rj *store.Rejected
		if errors.As(err, &rj) {
			srv.opts.Logger.Warn("a record of the log was refused", "key", string(r.Key), "reason", rj.Reason)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if sh, ok := s.(Shared); ok {
		srv.shared = sh
		err := sh.Follow(func(r store.Record) error {
			srv.mu.Lock()
			defer srv.mu.Unlock()
			err := srv.st.apply(r)
			srv.answers.clear()
			var rj *store.Rejected
			if errors.As(err, &rj) {
				srv.opts.Logger.Warn("a record of the shared log was refused", "key", string(r.Key), "reason", rj.Reason)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	srv.routes()
	return srv, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.opts.Logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p)
			writeError(w, registry.Errorf(registry.CodeStoreError, "internal error"))
		}
	}()
	if s.serveCached(w, r) {
		return
	}
	s.serve(w, r)
}

// serve routes a request to its handler.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/contexts/") {
		if s.serveDefaultContextRoot(w, r) {
			return
		}
		rewriteContextPath(r)
	}
	s.mux.ServeHTTP(w, r)
}

// rewriteContextPath turns Confluent's context URL form into qualified
// subjects, as its ContextFilter does: /contexts/{ctx}/subjects/{s}/... is
// /subjects/:.ctx:{s}/..., /contexts/{ctx}/subjects lists the context,
// /contexts/{ctx}/config[/{s}] and /mode[/{s}] name :.ctx:[{s}], and
// /contexts/{ctx}/schemas/... takes subject=:.ctx:. Other paths, such as
// /contexts itself, are left alone.
func rewriteContextPath(r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/contexts/")
	ctx, tail, ok := strings.Cut(rest, "/")
	if !ok || ctx == "" {
		return
	}
	qual := ":." + strings.TrimPrefix(ctx, ".") + ":"
	if ctx == "." {
		qual = ":.:"
	}
	first, after, _ := strings.Cut(tail, "/")
	q := r.URL.Query()
	path := ""
	switch first {
	case "subjects":
		if after == "" {
			q.Set("subjectPrefix", qual)
			path = "/subjects"
		} else {
			path = "/subjects/" + qual + after
		}
	case "config", "mode":
		path = "/" + first + "/" + qual + after
		if qual == ":.:" && after == "" {
			path = "/" + first // the default context's config is the global one
		}
	case "schemas":
		q.Set("subject", qual)
		path = "/schemas/" + after
	default:
		return
	}
	r.URL.Path, r.URL.RawPath = path, ""
	r.URL.RawQuery = q.Encode()
}

type handler func(r *http.Request) (any, error)

func (s *Server) handle(pattern string, h handler, write ...bool) {
	isWrite := len(write) > 0 && write[0]
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if isWrite && s.forward(w, r) {
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		}
		v, err := h(r)
		if err != nil {
			var re *registry.Error
			if !errors.As(err, &re) {
				s.opts.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
				re = registry.Errorf(registry.CodeStoreError, "%v", err)
			}
			writeError(w, re)
			return
		}
		if _, ok := v.(noContent); ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if raw, ok := v.(rawJSON); ok {
			w.Header()["Content-Type"] = contentTypeJSON
			_, _ = w.Write(raw)
			return
		}
		if raw, ok := v.(rawText); ok {
			w.Header()["Content-Type"] = contentTypeText
			_, _ = io.WriteString(w, string(raw))
			return
		}
		w.Header()["Content-Type"] = contentTypeJSON
		_ = json.NewEncoder(w).Encode(v)
	})
}

// noContent is an answer of 204 with no body.
type noContent struct{}

// rawText is a response written as it is, not as JSON.
type rawText string

// rawJSON is a response already encoded as JSON.
type rawJSON []byte

func writeError(w http.ResponseWriter, e *registry.Error) {
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e)
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.handle("GET /{$}", func(*http.Request) (any, error) { return struct{}{}, nil })
	s.handle("GET /subjects", s.listSubjects)
	s.handle("POST /subjects/{subject}", s.lookup)
	s.handleWrite("DELETE /subjects/{subject}", s.deleteSubject)
	s.handle("GET /subjects/{subject}/versions", s.listVersions)
	s.handleWrite("POST /subjects/{subject}/versions", s.register)
	s.handle("GET /subjects/{subject}/versions/{version}", s.getVersion)
	s.handle("GET /subjects/{subject}/versions/{version}/schema", s.getVersionSchema)
	s.handle("GET /subjects/{subject}/versions/{version}/referencedby", s.referencedBy)
	s.handleWrite("DELETE /subjects/{subject}/versions/{version}", s.deleteVersion)
	s.handle("GET /schemas/ids/{id}", s.schemaByID)
	s.handle("GET /schemas/ids/{id}/schema", s.rawSchemaByID)
	s.handle("GET /schemas/ids/{id}/subjects", s.subjectsByID)
	s.handle("GET /schemas/ids/{id}/versions", s.versionsByID)
	s.handle("GET /contexts", s.listContexts)
	s.handleWrite("DELETE /contexts/{context}", s.deleteContext)
	s.handle("GET /schemas/types", func(*http.Request) (any, error) {
		return []string{registry.TypeAvro, registry.TypeJSON, registry.TypeProtobuf}, nil
	})
	s.handle("POST /compatibility/subjects/{subject}/versions/{version}", s.compatibility)
	s.handle("POST /compatibility/subjects/{subject}/versions", s.compatibility)
	s.handle("GET /config", s.getConfig)
	s.handleWrite("PUT /config", s.putConfig)
	s.handleWrite("DELETE /config", s.deleteConfig)
	s.handle("GET /config/{subject}", s.getConfig)
	s.handleWrite("PUT /config/{subject}", s.putConfig)
	s.handleWrite("DELETE /config/{subject}", s.deleteConfig)
	s.handle("GET /mode", s.getMode)
	s.handleWrite("PUT /mode", s.putMode)
	s.handleWrite("DELETE /mode", s.deleteMode)
	s.handle("GET /mode/{subject}", s.getMode)
	s.handleWrite("PUT /mode/{subject}", s.putMode)
	s.handleWrite("DELETE /mode/{subject}", s.deleteMode)
}

// checkContentType accepts the content types Confluent accepts; an absent
// one is read as JSON.
func checkContentType(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			return &registry.Error{Status: http.StatusUnsupportedMediaType, Code: http.StatusUnsupportedMediaType, Message: "malformed Content-Type"}
		case mt == "application/vnd.schemaregistry.v1+json", mt == "application/vnd.schemaregistry+json",
			mt == "application/json", mt == "application/octet-stream":
		default:
			return &registry.Error{Status: http.StatusUnsupportedMediaType, Code: http.StatusUnsupportedMediaType, Message: fmt.Sprintf("unsupported Content-Type %q", mt)}
		}
	}
	return nil
}

// decode reads a JSON body of an accepted content type.
func decode(r *http.Request, v any) error {
	if err := checkContentType(r); err != nil {
		return err
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge(mbe.Limit)
		}
		return &registry.Error{Status: http.StatusBadRequest, Code: http.StatusBadRequest, Message: "malformed JSON body: " + err.Error()}
	}
	return nil
}

// errTooLarge answers a body larger than limit bytes.
func errTooLarge(limit int64) *registry.Error {
	return &registry.Error{Status: http.StatusRequestEntityTooLarge, Code: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", limit)}
}

// errBadBody answers a body that could not be read.
func errBadBody(err error) *registry.Error {
	return &registry.Error{Status: http.StatusBadRequest, Code: http.StatusBadRequest, Message: "reading the body: " + err.Error()}
}

// asRegistryError is err as the registry error it answers with.
func asRegistryError(err error) *registry.Error {
	var re *registry.Error
	if errors.As(err, &re) {
		return re
	}
	return registry.Errorf(registry.CodeStoreError, "%v", err)
}

func boolParam(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

// versionParam parses a version: "latest" or -1 for the latest, else a
// positive integer.
func versionParam(r *http.Request) (int, error) {
	raw := strings.TrimSpace(r.PathValue("version"))
	if strings.EqualFold(raw, "latest") {
		return -1, nil
	}
	v, err := strconv.Atoi(raw)
	if err != nil || (v <= 0 && v != -1) {
		return 0, registry.Errorf(registry.CodeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", raw)
	}
	return v, nil
}

func idParam(r *http.Request) (int, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 0 {
		return 0, registry.Errorf(registry.CodeSchemaNotFound, "Schema %s not found", r.PathValue("id"))
	}
	return id, nil
}

// maxRaces bounds how many times a write is built again after losing a
// race for the shared log to another writer.
const maxRaces = 8

// write runs one change: build computes its records and its answer from
// the current state under the read lock; the records are then appended
// with no lock held, and applied. On a shared log the write first catches
// up with it, and a write that lost a race (the log refused its record:
// another writer got there first) is built again on the state the log now
// holds. Everything is bounded by StoreTimeout.
func (s *Server) write(r *http.Request, build func() ([]store.Record, any, error)) (any, error) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.StoreTimeout)
	defer cancel()
	select {
	case s.writes <- struct{}{}:
	case <-ctx.Done():
		return nil, storeError("waiting for the writes before this one", ctx.Err())
	}
	defer func() { <-s.writes }()
	for race := 0; ; race++ {
		if s.shared != nil {
			if err := s.shared.CatchUp(ctx); err != nil {
				return nil, storeError("catching up with the log", err)
			}
		}
		s.mu.RLock()
		recs, resp, err := build()
		s.mu.RUnlock()
		if err != nil || len(recs) == 0 {
			return resp, err
		}
		err = s.store.Append(ctx, recs...)
		var rj *store.Rejected
		switch {
		case errors.As(err, &rj) && s.shared != nil && race < maxRaces:
			s.opts.Logger.Info("a write lost a race for the shared log; building it again", "reason", rj.Reason)
			continue
		case err != nil:
			return nil, storeError("storing the change", err)
		}
		if s.shared == nil {
			// A shared store applied the records through Follow already.
			if err := s.applyOwn(recs); err != nil {
				return nil, err
			}
		}
		return resp, nil
	}
}

// applyOwn applies records this server appended to a store it alone
// writes.
func (s *Server) applyOwn(recs []store.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.answers.clear()
	for _, rec := range recs {
		if err := s.st.apply(rec); err != nil {
			return registry.Errorf(registry.CodeStoreError, "Error while applying a record: %v", err)
		}
	}
	return nil
}

// storeError is the answer to a failed store call: 50002 when it timed
// out, 50001 otherwise.
func storeError(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return registry.Errorf(CodeOperationTimedOut, "Operation timed out while %s: %v", what, err)
	}
	return registry.Errorf(registry.CodeStoreError, "Error while %s: %v", what, err)
}

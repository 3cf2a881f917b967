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
// (IMPORT included), error codes, and metadata and ruleSet stored,
// returned and part of a schema's identity, format=serialized for
// Protobuf, contexts (:.ctx:subject, per-context ids, ?subject= on id
// lookups, /contexts, the /contexts/{ctx}/ URL form, context-level config
// and mode). Not yet: DELETE /contexts/{ctx}, the CONTEXT log record, the
// other format= values, Protobuf normalization (normalize=true covers
// Avro and JSON Schema), metadata and rule set inheritance and config
// defaults, and rule enforcement.
package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/store"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/avro"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
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

	// answers caches encoded lookup answers by subject, query and request
	// body digest. Serializers look the same schema up again and again;
	// every write clears the cache, and writes are rare next to lookups.
	answersMu sync.RWMutex
	answers   map[string][]byte

	// shared is set when other servers write the same log (Kafka).
	shared Shared
}

// Shared is a store that several servers share: they follow what the
// others write, and one of them, the leader, writes.
//
// A shared store's Append returns only once the records it wrote were
// applied through Follow's apply, and returns the *store.Rejected that
// apply gave for any of them.
type Shared interface {
	// Follow calls apply with every record of the log after those Load
	// read, in log order, this server's own included.
	Follow(apply func(store.Record) error) error
	// CatchUp waits until every record written so far was delivered.
	CatchUp(ctx context.Context) error
	// Leader reports whether this server writes, and the leader's URL.
	Leader(ctx context.Context) (self bool, url string, err error)
}

// forwardedHeader marks a write a follower forwarded to the leader.
const forwardedHeader = "X-Schemaflow-Forwarded"

// maxAnswers bounds the lookup answer cache.
const maxAnswers = 100_000

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
	srv := &Server{opts: opts, store: s, st: newState(), answers: map[string][]byte{}, writes: make(chan struct{}, 1)}
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
			srv.answersMu.Lock()
			clear(srv.answers)
			srv.answersMu.Unlock()
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
	if strings.HasPrefix(r.URL.Path, "/contexts/") {
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

// handleWrite registers a handler that changes the registry. With a shared
// store, a follower forwards it to the leader, and the leader first catches
// up with the log.
func (s *Server) handleWrite(pattern string, h handler) {
	s.handle(pattern, h, true)
}

func (s *Server) forward(w http.ResponseWriter, r *http.Request) bool {
	if s.shared == nil {
		return false
	}
	// During a rebalance no member holds the log's partition for a moment.
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.StoreTimeout)
	defer cancel()
	self, leader, err := s.shared.Leader(ctx)
	for err != nil && ctx.Err() == nil {
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		self, leader, err = s.shared.Leader(ctx)
	}
	if err != nil {
		writeError(w, registry.Errorf(50004, "Unknown leader: %v", err))
		return true
	}
	if self {
		// The write itself catches up with the log (see write).
		return false
	}
	if r.Header.Get(forwardedHeader) != "" {
		writeError(w, registry.Errorf(50003, "Error while forwarding the request to the leader: this server is not the leader"))
		return true
	}
	target, err := url.Parse(leader)
	if err != nil {
		writeError(w, registry.Errorf(50004, "Unknown leader %q", leader))
		return true
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// Read your writes: before the leader's answer goes back, this server
	// catches up with the log, so that what the client reads from it next
	// (srclient reads the id it just registered) is there.
	proxy.ModifyResponse = func(*http.Response) error {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.StoreTimeout)
		defer cancel()
		return s.shared.CatchUp(ctx)
	}
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		writeError(w, registry.Errorf(50003, "Error while forwarding the request to the leader: %v", err))
	}
	r.Header.Set(forwardedHeader, "1")
	proxy.ServeHTTP(w, r)
	return true
}

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
		if raw, ok := v.(rawJSON); ok {
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			_, _ = w.Write(raw)
			return
		}
		if raw, ok := v.(rawText); ok {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, string(raw))
			return
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		_ = json.NewEncoder(w).Encode(v)
	})
}

// rawText is a response written as it is, not as JSON.
type rawText string

// rawJSON is a response already encoded as JSON.
type rawJSON []byte

func writeError(w http.ResponseWriter, e *registry.Error) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
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
			return &registry.Error{Status: http.StatusRequestEntityTooLarge, Code: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", mbe.Limit)}
		}
		return &registry.Error{Status: http.StatusBadRequest, Code: http.StatusBadRequest, Message: "malformed JSON body: " + err.Error()}
	}
	return nil
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

// --- reads ---

func (s *Server) listSubjects(r *http.Request) (any, error) {
	deleted := boolParam(r, "deleted")
	prefix := r.URL.Query().Get("subjectPrefix")
	if prefix == ":*:" {
		prefix = ""
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// A context qualifier (":.ctx:", or ":.:" for the default context)
	// selects that context's subjects.
	ctxOnly := ""
	if rest, ok := strings.CutPrefix(prefix, ":."); ok && strings.Index(rest, ":") == len(rest)-1 {
		ctxOnly = contextOf(prefix)
	}
	out := []string{}
	for name, sub := range s.st.subjects {
		match := strings.HasPrefix(name, prefix)
		if ctxOnly != "" {
			match = contextOf(name) == ctxOnly
		}
		if match && (deleted || sub.live()) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// listContexts answers GET /contexts: the default context and every
// context a subject is qualified with, sorted.
func (s *Server) listContexts(*http.Request) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[string]bool{DefaultContext: true}
	for name := range s.st.subjects {
		seen[contextOf(name)] = true
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

func (s *Server) subjectLocked(name string) (*subject, error) {
	sub := s.st.subjects[name]
	if sub == nil {
		return nil, registry.Errorf(registry.CodeSubjectNotFound, "Subject '%s' not found.", name)
	}
	return sub, nil
}

func (s *Server) listVersions(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	deleted := boolParam(r, "deleted")
	s.mu.RLock()
	defer s.mu.RUnlock()
	sub, err := s.subjectLocked(name)
	if err != nil {
		return nil, err
	}
	versions := sub.sortedVersions(deleted)
	if len(versions) == 0 {
		return nil, registry.Errorf(registry.CodeSubjectNotFound, "Subject '%s' not found.", name)
	}
	return versions, nil
}

// resolveVersion finds a version; -1 is the latest live one.
func (s *Server) resolveVersion(name string, v int, deleted bool) (int, *version, error) {
	sub, err := s.subjectLocked(name)
	if err != nil {
		return 0, nil, err
	}
	if v == -1 {
		live := sub.sortedVersions(deleted)
		if len(live) == 0 {
			return 0, nil, registry.Errorf(registry.CodeSubjectNotFound, "Subject '%s' not found.", name)
		}
		v = live[len(live)-1]
	}
	ver := sub.versions[v]
	if ver == nil || (ver.deleted && !deleted) {
		return 0, nil, registry.Errorf(registry.CodeVersionNotFound, "Version %d not found.", v)
	}
	return v, ver, nil
}

func (s *Server) schemaOf(name string, v int, ver *version) registry.Schema {
	sc := s.st.schema(name, ver.id)
	out := registry.Schema{Subject: name, Version: v, ID: ver.id, Schema: sc.text, References: sc.refs, Metadata: sc.metadata, RuleSet: sc.ruleSet, Deleted: ver.deleted}
	if sc.schemaType != registry.TypeAvro {
		out.SchemaType = sc.schemaType
	}
	return out
}

func (s *Server) getVersion(r *http.Request) (any, error) {
	v, err := versionParam(r)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ver, err := s.resolveVersion(r.PathValue("subject"), v, boolParam(r, "deleted"))
	if err != nil {
		return nil, err
	}
	out := s.schemaOf(r.PathValue("subject"), n, ver)
	if out.Schema, err = s.formatted(r, r.PathValue("subject"), s.st.schema(r.PathValue("subject"), ver.id)); err != nil {
		return nil, err
	}
	return out, nil
}

// formatted is a stored schema's text in the form the request's format
// parameter asks for: as stored, or for Protobuf with format=serialized,
// its FileDescriptorProto in base64, as Confluent answers. Other formats
// (Avro's resolved, Protobuf's ignore_extensions) are answered as stored.
// subject names the schema's context. Callers hold the read lock.
func (s *Server) formatted(r *http.Request, subject string, sc *storedSchema) (string, error) {
	if r.URL.Query().Get("format") != "serialized" || sc.schemaType != registry.TypeProtobuf {
		return sc.text, nil
	}
	deps := map[string]string{}
	for _, ref := range sc.refs {
		rsub := refSubject(subject, ref.Subject)
		if rs := s.st.subjects[rsub]; rs != nil && rs.versions[ref.Version] != nil {
			deps[ref.Name] = s.st.schema(rsub, rs.versions[ref.Version].id).text
		}
	}
	compiled, err := protobuf.Compile("schema.proto", []byte(sc.text), protobuf.Options{Sources: deps})
	if err != nil {
		return "", registry.Errorf(registry.CodeInvalidSchema, "Invalid schema %d: %v", sc.id, err)
	}
	b, err := proto.Marshal(protodesc.ToFileDescriptorProto(compiled.File))
	if err != nil {
		return "", fmt.Errorf("serializing schema %d: %w", sc.id, err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func (s *Server) getVersionSchema(r *http.Request) (any, error) {
	v, err := versionParam(r)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ver, err := s.resolveVersion(r.PathValue("subject"), v, boolParam(r, "deleted"))
	if err != nil {
		return nil, err
	}
	return rawText(s.st.schema(r.PathValue("subject"), ver.id).text), nil
}

func (s *Server) referencedBy(r *http.Request) (any, error) {
	v, err := versionParam(r)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ver, err := s.resolveVersion(r.PathValue("subject"), v, true)
	if err != nil {
		return nil, err
	}
	out := []int{}
	for id := range s.st.refersTos[idKey{contextOf(r.PathValue("subject")), ver.id}] {
		out = append(out, id)
	}
	sort.Ints(out)
	return out, nil
}

func (s *Server) schemaByIDLocked(r *http.Request) (*storedSchema, error) {
	id, err := idParam(r)
	if err != nil {
		return nil, err
	}
	// The subject parameter names the context, as in Confluent.
	sc := s.st.schema(r.URL.Query().Get("subject"), id)
	if sc == nil {
		return nil, registry.Errorf(registry.CodeSchemaNotFound, "Schema %d not found", id)
	}
	return sc, nil
}

func (s *Server) schemaByID(r *http.Request) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, err := s.schemaByIDLocked(r)
	if err != nil {
		return nil, err
	}
	text, err := s.formatted(r, r.URL.Query().Get("subject"), sc)
	if err != nil {
		return nil, err
	}
	out := registry.SchemaString{Schema: text, References: sc.refs, Metadata: sc.metadata, RuleSet: sc.ruleSet}
	if sc.schemaType != registry.TypeAvro {
		out.SchemaType = sc.schemaType
	}
	return out, nil
}

func (s *Server) rawSchemaByID(r *http.Request) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, err := s.schemaByIDLocked(r)
	if err != nil {
		return nil, err
	}
	return rawText(sc.text), nil
}

// usesOfID returns the subject versions, in the context ctx, that use id.
func (s *Server) usesOfID(ctx string, id int, deleted bool) []registry.SubjectVersion {
	var out []registry.SubjectVersion
	for name, sub := range s.st.subjects {
		if contextOf(name) != ctx {
			continue
		}
		for v, ver := range sub.versions {
			if ver.id == id && (deleted || !ver.deleted) {
				out = append(out, registry.SubjectVersion{Subject: name, Version: v})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out
}

func (s *Server) subjectsByID(r *http.Request) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, err := s.schemaByIDLocked(r)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, sv := range s.usesOfID(contextOf(r.URL.Query().Get("subject")), sc.id, boolParam(r, "deleted")) {
		if !slices.Contains(out, sv.Subject) {
			out = append(out, sv.Subject)
		}
	}
	return out, nil
}

func (s *Server) versionsByID(r *http.Request) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, err := s.schemaByIDLocked(r)
	if err != nil {
		return nil, err
	}
	out := s.usesOfID(contextOf(r.URL.Query().Get("subject")), sc.id, boolParam(r, "deleted"))
	if out == nil {
		out = []registry.SubjectVersion{}
	}
	return out, nil
}

// --- schemas ---

// parsedRequest is a register request checked and put in stored form.
type parsedRequest struct {
	schemaType string
	text       string
	refs       []registry.Reference
	metadata   json.RawMessage // compact JSON objects, or nil
	ruleSet    json.RawMessage
	schema     evolution.Schema
	subject    string // the subject it is for, which names its context
}

// canonical puts a request in stored form: its type, its text as stored
// (compact JSON for Avro and JSON Schema, normalized Avro with normalize),
// and its references. It does not validate the schema.
func (s *Server) canonical(req registry.RegisterRequest, normalize bool) (parsedRequest, error) {
	st, ok := registry.NormalizeType(req.SchemaType)
	if !ok {
		return parsedRequest{}, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema type %q", req.SchemaType)
	}
	if strings.TrimSpace(req.Schema) == "" {
		return parsedRequest{}, registry.Errorf(registry.CodeInvalidSchema, "Empty schema")
	}
	p := parsedRequest{schemaType: st, refs: req.References, text: strings.TrimSpace(req.Schema)}
	for _, f := range []struct {
		name string
		in   json.RawMessage
		out  *json.RawMessage
	}{{"metadata", req.Metadata, &p.metadata}, {"ruleSet", req.RuleSet, &p.ruleSet}} {
		raw := bytes.TrimSpace(f.in)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return p, registry.Errorf(registry.CodeInvalidSchema, "Invalid %s: want a JSON object: %v", f.name, err)
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, raw)
		*f.out = buf.Bytes()
	}
	if st == registry.TypeAvro || st == registry.TypeJSON {
		var buf strings.Builder
		if err := compactJSON(&buf, req.Schema); err != nil {
			return p, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema of type %s, details: %v", st, err)
		}
		p.text = buf.String()
	}
	if st == registry.TypeAvro && normalize {
		parsed, err := avro.Parse([]byte(p.text))
		if err != nil {
			return p, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema of type %s, details: %v", st, err)
		}
		out, err := avro.Marshal(parsed.Root)
		if err != nil {
			return p, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema of type %s, details: %v", st, err)
		}
		var buf strings.Builder
		_ = compactJSON(&buf, string(out))
		p.text = buf.String()
	}
	if st == registry.TypeJSON && normalize {
		// Confluent's normalized JSON Schema: compact, with every object's
		// keys sorted.
		text, err := sortedJSON(p.text)
		if err != nil {
			return p, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema of type %s, details: %v", st, err)
		}
		p.text = text
	}
	if normalize && st != registry.TypeProtobuf {
		p.refs = sortedRefs(p.refs)
	}
	return p, nil
}

// sortedJSON re-encodes JSON text compactly with object keys sorted and
// non-ASCII text kept as written. Numbers are kept as written too, where
// Confluent's Jackson rewrites floating-point ones (1e3 becomes 1000.0).
func sortedJSON(text string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// sortedRefs orders references as Confluent's normalization does, by
// subject then version, without duplicates.
func sortedRefs(refs []registry.Reference) []registry.Reference {
	if len(refs) < 2 {
		return refs
	}
	out := slices.Clone(refs)
	slices.SortStableFunc(out, func(a, b registry.Reference) int {
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	return slices.Compact(out)
}

// validate resolves a request's references and checks its schema, filling
// p.schema for compatibility checks. Callers hold the lock.
func (s *Server) validate(p *parsedRequest) error {
	deps := map[string]string{}
	for _, ref := range p.refs {
		rsub := refSubject(p.subject, ref.Subject)
		sub := s.st.subjects[rsub]
		if sub == nil || sub.versions[ref.Version] == nil {
			return registry.Errorf(registry.CodeInvalidSchema, "Invalid schema: reference %q to subject %q version %d does not exist", ref.Name, ref.Subject, ref.Version)
		}
		deps[ref.Name] = s.st.schema(rsub, sub.versions[ref.Version].id).text
	}
	format := map[string]schemas.Format{registry.TypeAvro: schemas.Avro, registry.TypeProtobuf: schemas.Protobuf, registry.TypeJSON: schemas.JSON}[p.schemaType]
	p.schema = evolution.Schema{Format: format, Text: []byte(p.text), Dependencies: deps}
	if format == schemas.Protobuf {
		p.schema.Name = "schema.proto"
	}
	// Check with no history validates the schema.
	if _, err := evolution.Check(evolution.None, p.schema, nil); err != nil {
		return registry.Errorf(registry.CodeInvalidSchema, "Invalid schema of type %s, details: %v", p.schemaType, err)
	}
	return nil
}

// prepare is canonical followed by validate.
func (s *Server) prepare(req registry.RegisterRequest, subject string, normalize bool) (parsedRequest, error) {
	p, err := s.canonical(req, normalize)
	p.subject = subject
	if err != nil {
		return p, err
	}
	return p, s.validate(&p)
}

func compactJSON(w io.StringWriter, text string) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(text)); err != nil {
		return err
	}
	_, err := w.WriteString(buf.String())
	return err
}

// history returns a subject's live versions as schemas, oldest first.
func (s *Server) history(name string) []evolution.Schema {
	sub := s.st.subjects[name]
	if sub == nil {
		return nil
	}
	var out []evolution.Schema
	for _, v := range sub.sortedVersions(false) {
		out = append(out, s.versionSchema(name, v, sub.versions[v]))
	}
	return out
}

func (s *Server) versionSchema(name string, v int, ver *version) evolution.Schema {
	sc := s.st.schema(name, ver.id)
	format := map[string]schemas.Format{registry.TypeAvro: schemas.Avro, registry.TypeProtobuf: schemas.Protobuf, registry.TypeJSON: schemas.JSON}[sc.schemaType]
	deps := map[string]string{}
	refs := map[string]evolution.Reference{}
	for _, ref := range sc.refs {
		rsub := refSubject(name, ref.Subject)
		if rs := s.st.subjects[rsub]; rs != nil && rs.versions[ref.Version] != nil {
			deps[ref.Name] = s.st.schema(rsub, rs.versions[ref.Version].id).text
			refs[ref.Name] = evolution.Reference{Subject: ref.Subject, Version: ref.Version}
		}
	}
	es := evolution.Schema{Format: format, Text: []byte(sc.text), Name: fmt.Sprintf("version %d", v), Dependencies: deps, References: refs}
	if format == schemas.Protobuf {
		es.Name = fmt.Sprintf("%s-v%d.proto", strings.NewReplacer("/", "_", " ", "_").Replace(name), v)
	}
	return es
}

// contextSubject is the subject that holds a context's own config and
// mode (":.ctx:"), or "" for the default context.
func contextSubject(name string) string {
	if ctx := contextOf(name); ctx != DefaultContext {
		return ":" + ctx + ":"
	}
	return ""
}

// levelLocked is a subject's compatibility level: its own, else its
// context's, else the global one.
func (s *Server) levelLocked(name string) evolution.Level {
	cfg, ok := s.st.configs[name]
	if !ok {
		cfg, ok = s.st.configs[contextSubject(name)]
	}
	if !ok {
		cfg = s.st.global
	}
	l, err := evolution.ParseLevel(cfg.CompatibilityLevel)
	if err != nil {
		return evolution.Backward
	}
	return l
}

// modeLocked is a subject's mode: its own, else its context's, else the
// global one.
func (s *Server) modeLocked(name string) string {
	if m, ok := s.st.modes[name]; ok {
		return m
	}
	if m, ok := s.st.modes[contextSubject(name)]; ok {
		return m
	}
	return s.st.modeAll
}

func issuesText(res evolution.Result) []string {
	out := make([]string, 0, len(res.Issues))
	for _, is := range res.Issues {
		out = append(out, is.String())
	}
	return out
}

func (s *Server) register(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	if strings.TrimSpace(name) == "" {
		return nil, registry.Errorf(registry.CodeInvalidSubject, "The specified subject '%s' is not a valid.", name)
	}
	var req registry.RegisterRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.write(r, func() ([]store.Record, any, error) { return s.registerLocked(r, name, req) })
}

// registerLocked builds a registration's record. Callers hold the read lock.
func (s *Server) registerLocked(r *http.Request, name string, req registry.RegisterRequest) ([]store.Record, any, error) {
	mode := s.modeLocked(name)
	switch {
	case mode == registry.ModeReadOnly:
		return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Subject %s is in read-only mode", name)
	case req.ID > 0 && mode != registry.ModeImport:
		return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Subject %s is not in import mode", name)
	case req.ID <= 0 && mode == registry.ModeImport:
		return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Subject %s is in import mode; a schema id is required", name)
	}
	normalize := boolParam(r, "normalize")
	if cfg, ok := s.st.configs[name]; ok && cfg.Normalize || !ok && s.st.global.Normalize {
		normalize = true
	}
	p, err := s.canonical(req, normalize)
	if err != nil {
		return nil, nil, err
	}
	p.subject = name
	print := fingerprint(p.schemaType, p.text, p.refs, p.metadata, p.ruleSet)
	ctx := contextOf(name)
	id, known := s.st.byPrint[printKey(ctx, print)]
	sub := s.st.subjects[name]
	if known && sub != nil && req.Version == 0 {
		for _, v := range sub.sortedVersions(false) {
			if sub.versions[v].id == id {
				return nil, registry.RegisterResponse{ID: id}, nil
			}
		}
	}
	if err := s.validate(&p); err != nil {
		return nil, nil, err
	}
	if mode != registry.ModeImport && !boolParam(r, "force") {
		res, err := evolution.Check(s.levelLocked(name), p.schema, s.history(name))
		if err != nil {
			return nil, nil, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema, details: %v", err)
		}
		if !res.Compatible {
			return nil, nil, registry.Errorf(registry.CodeIncompatible, "Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", name, strings.Join(issuesText(res), ", "))
		}
	}
	next := 1
	if sub != nil {
		for v := range sub.versions {
			next = max(next, v+1)
		}
	}
	if req.Version > 0 {
		if mode != registry.ModeImport && req.Version != next {
			return nil, nil, registry.Errorf(registry.CodeInvalidSchema, "Version is not one more than previous version")
		}
		if sub != nil && sub.versions[req.Version] != nil {
			return nil, nil, registry.Errorf(registry.CodeInvalidSchema, "Version %d already exists in subject %s", req.Version, name)
		}
		next = req.Version
	}
	switch {
	case req.ID > 0:
		if existing := s.st.schemas[idKey{ctx, req.ID}]; existing != nil && existing.print() != print {
			return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Overwrite new schema with id %d in context %s is not permitted.", req.ID, ctx)
		}
		if known && id != req.ID {
			return nil, nil, registry.Errorf(registry.CodeImportIDMismatch, "The ID of an imported schema does not match the existing ID %d", id)
		}
		id = req.ID
	case !known:
		id = s.st.maxID[ctx] + 1
	}
	rec := schemaRecord(schemaValue{Subject: name, Version: next, ID: id, Schema: p.text, SchemaType: p.schemaType, References: p.refs, Metadata: p.metadata, RuleSet: p.ruleSet})
	return []store.Record{rec}, registry.RegisterResponse{ID: id}, nil
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
	s.answersMu.Lock()
	clear(s.answers)
	s.answersMu.Unlock()
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

func (s *Server) lookup(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(body)
	key := name + "\x00" + r.URL.RawQuery + "\x00" + string(digest[:])
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.answersMu.RLock()
	cached, ok := s.answers[key]
	s.answersMu.RUnlock()
	if ok {
		return rawJSON(cached), nil
	}
	v, err := s.lookupLocked(r, name, body)
	if err != nil {
		return nil, err
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	enc = append(enc, '\n')
	s.answersMu.Lock()
	if len(s.answers) < maxAnswers {
		s.answers[key] = enc
	}
	s.answersMu.Unlock()
	return rawJSON(enc), nil
}

// readBody reads a request body of an accepted content type, as bytes; the
// JSON is checked when it is decoded.
func readBody(r *http.Request) ([]byte, error) {
	if err := checkContentType(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &registry.Error{Status: http.StatusRequestEntityTooLarge, Code: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", mbe.Limit)}
		}
		return nil, &registry.Error{Status: http.StatusBadRequest, Code: http.StatusBadRequest, Message: "reading the body: " + err.Error()}
	}
	return body, nil
}

func (s *Server) lookupLocked(r *http.Request, name string, body []byte) (any, error) {
	var req registry.RegisterRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &registry.Error{Status: http.StatusBadRequest, Code: http.StatusBadRequest, Message: "malformed JSON body: " + err.Error()}
	}
	sub, err := s.subjectLocked(name)
	if err != nil {
		return nil, err
	}
	p, err := s.canonical(req, boolParam(r, "normalize"))
	if err != nil {
		return nil, err
	}
	p.subject = name
	id, known := s.st.byPrint[printKey(contextOf(name), fingerprint(p.schemaType, p.text, p.refs, p.metadata, p.ruleSet))]
	if !known {
		// An unknown schema is validated only to tell an invalid one apart.
		if err := s.validate(&p); err != nil {
			return nil, err
		}
	}
	deleted := boolParam(r, "deleted")
	if known {
		versions := sub.sortedVersions(deleted)
		for i := len(versions) - 1; i >= 0; i-- {
			if ver := sub.versions[versions[i]]; ver.id == id {
				return s.schemaOf(name, versions[i], ver), nil
			}
		}
	}
	return nil, registry.Errorf(registry.CodeSchemaNotFound, "Schema not found")
}

func (s *Server) compatibility(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	var req registry.RegisterRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	verbose := boolParam(r, "verbose")
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, err := s.prepare(req, name, boolParam(r, "normalize"))
	if err != nil {
		if verbose {
			var re *registry.Error
			if errors.As(err, &re) {
				return registry.CompatibilityResponse{IsCompatible: false, Messages: []string{re.Message}}, nil
			}
		}
		return nil, err
	}
	level := s.levelLocked(name)
	var against []evolution.Schema
	if raw := r.PathValue("version"); raw != "" {
		v, err := versionParam(r)
		if err != nil {
			return nil, err
		}
		sub := s.st.subjects[name]
		switch {
		case v == -1 && (sub == nil || !sub.live()):
			// Nothing to be incompatible with.
		default:
			n, ver, err := s.resolveVersion(name, v, false)
			if err != nil {
				return nil, err
			}
			against = []evolution.Schema{s.versionSchema(name, n, ver)}
			// A single version is checked alone, even at a transitive level.
			level = plain(level)
		}
	} else {
		against = s.history(name)
	}
	res, err := evolution.Check(level, p.schema, against)
	if err != nil {
		return nil, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema, details: %v", err)
	}
	out := registry.CompatibilityResponse{IsCompatible: res.Compatible}
	if verbose {
		out.Messages = issuesText(res)
		if out.Messages == nil {
			out.Messages = []string{}
		}
	}
	return out, nil
}

// plain returns the non-transitive form of a level.
func plain(l evolution.Level) evolution.Level {
	switch l {
	case evolution.BackwardTransitive:
		return evolution.Backward
	case evolution.ForwardTransitive:
		return evolution.Forward
	case evolution.FullTransitive:
		return evolution.Full
	}
	return l
}

// --- deletes ---

func (s *Server) deleteSubject(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	permanent := boolParam(r, "permanent")
	return s.write(r, func() ([]store.Record, any, error) {
		if s.modeLocked(name) == registry.ModeReadOnly {
			return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Subject %s is in read-only mode", name)
		}
		sub, err := s.subjectLocked(name)
		if err != nil {
			return nil, nil, err
		}
		all := sub.sortedVersions(true)
		for _, v := range all {
			if refs := s.liveReferrers(contextOf(name), sub.versions[v].id); len(refs) > 0 {
				return nil, nil, registry.Errorf(registry.CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}.", name, v)
			}
		}
		if permanent {
			if sub.live() {
				return nil, nil, registry.Errorf(registry.CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", name)
			}
			var recs []store.Record
			for i := len(all) - 1; i >= 0; i-- {
				recs = append(recs, schemaTombstone(name, all[i]))
			}
			if _, ok := s.st.configs[name]; ok {
				recs = append(recs, store.Record{Key: subjectRecordKey("CONFIG", strptr(name))})
			}
			if _, ok := s.st.modes[name]; ok {
				recs = append(recs, store.Record{Key: subjectRecordKey("MODE", strptr(name))})
			}
			return recs, all, nil
		}
		live := sub.sortedVersions(false)
		if len(live) == 0 {
			return nil, nil, registry.Errorf(registry.CodeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", name)
		}
		rec := store.Record{Key: subjectRecordKey("DELETE_SUBJECT", strptr(name)), Value: mustJSON(deleteSubjectValue{Subject: name, Version: all[len(all)-1]})}
		return []store.Record{rec}, live, nil
	})
}

// liveReferrers returns the ids of live schemas, in the context ctx, that
// reference schema id.
func (s *Server) liveReferrers(ctx string, id int) []int {
	var out []int
	for ref := range s.st.refersTos[idKey{ctx, id}] {
		if len(s.usesOfID(ctx, ref, false)) > 0 {
			out = append(out, ref)
		}
	}
	return out
}

func (s *Server) deleteVersion(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	v, err := versionParam(r)
	if err != nil {
		return nil, err
	}
	permanent := boolParam(r, "permanent")
	return s.write(r, func() ([]store.Record, any, error) {
		if s.modeLocked(name) == registry.ModeReadOnly {
			return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Subject %s is in read-only mode", name)
		}
		// "latest" is the latest live version; a numbered one is found even
		// when soft-deleted, so that deleting it again says so.
		n, ver, err := s.resolveVersion(name, v, v != -1)
		if err != nil {
			return nil, nil, err
		}
		if refs := s.liveReferrers(contextOf(name), ver.id); len(refs) > 0 {
			return nil, nil, registry.Errorf(registry.CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}.", name, n)
		}
		var rec store.Record
		switch {
		case permanent && !ver.deleted:
			return nil, nil, registry.Errorf(registry.CodeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", name, n)
		case permanent:
			rec = schemaTombstone(name, n)
		case ver.deleted:
			return nil, nil, registry.Errorf(registry.CodeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", name, n)
		default:
			sc := s.st.schema(name, ver.id)
			rec = schemaRecord(schemaValue{Subject: name, Version: n, ID: ver.id, Schema: sc.text, SchemaType: sc.schemaType, References: sc.refs, Metadata: sc.metadata, RuleSet: sc.ruleSet, Deleted: true})
		}
		return []store.Record{rec}, n, nil
	})
}

// --- config and mode ---

func (s *Server) getConfig(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	s.mu.RLock()
	defer s.mu.RUnlock()
	if name == "" {
		return registry.Config{CompatibilityLevel: s.st.global.CompatibilityLevel, Normalize: s.st.global.Normalize}, nil
	}
	cfg, ok := s.st.configs[name]
	if !ok {
		if !boolParam(r, "defaultToGlobal") {
			return nil, registry.Errorf(registry.CodeSubjectConfigNotFound, "Subject '%s' does not have subject-level compatibility configured", name)
		}
		cfg = s.st.global
	}
	return registry.Config{CompatibilityLevel: cfg.CompatibilityLevel, Normalize: cfg.Normalize}, nil
}

func (s *Server) putConfig(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	var req registry.ConfigUpdate
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	level, err := evolution.ParseLevel(req.Compatibility)
	if err != nil {
		return nil, registry.Errorf(registry.CodeInvalidCompatibility, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	}
	return s.write(r, func() ([]store.Record, any, error) {
		v := configValue{CompatibilityLevel: level.String()}
		if req.Normalize != nil {
			v.Normalize = *req.Normalize
		}
		var subj *string
		if name != "" {
			subj = strptr(name)
			v.Subject = subj
		}
		return []store.Record{store.Record{Key: subjectRecordKey("CONFIG", subj), Value: mustJSON(v)}}, registry.ConfigUpdate{Compatibility: level.String(), Normalize: req.Normalize}, nil
	})
}

func (s *Server) deleteConfig(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	return s.write(r, func() ([]store.Record, any, error) {
		old := s.st.global
		var subj *string
		if name != "" {
			cfg, ok := s.st.configs[name]
			if !ok {
				return nil, nil, registry.Errorf(registry.CodeSubjectNotFound, "Subject '%s' not found.", name)
			}
			old, subj = cfg, strptr(name)
		}
		return []store.Record{store.Record{Key: subjectRecordKey("CONFIG", subj)}}, registry.Config{CompatibilityLevel: old.CompatibilityLevel, Normalize: old.Normalize}, nil
	})
}

func (s *Server) getMode(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	s.mu.RLock()
	defer s.mu.RUnlock()
	if name == "" {
		return registry.Mode{Mode: s.st.modeAll}, nil
	}
	m, ok := s.st.modes[name]
	if !ok {
		if !boolParam(r, "defaultToGlobal") {
			return nil, registry.Errorf(registry.CodeSubjectModeNotFound, "Subject '%s' does not have subject-level mode configured", name)
		}
		m = s.st.modeAll
	}
	return registry.Mode{Mode: m}, nil
}

func (s *Server) putMode(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	var req registry.Mode
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	mode := strings.ToUpper(req.Mode)
	if mode != registry.ModeReadWrite && mode != registry.ModeReadOnly && mode != registry.ModeImport {
		return nil, registry.Errorf(registry.CodeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY, IMPORT and FORWARD.")
	}
	return s.write(r, func() ([]store.Record, any, error) {
		if mode == registry.ModeImport && !boolParam(r, "force") {
			for sname, sub := range s.st.subjects {
				if (name == "" || sname == name) && sub.live() {
					return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Cannot import since found existing subjects")
				}
			}
		}
		var subj *string
		if name != "" {
			subj = strptr(name)
		}
		return []store.Record{store.Record{Key: subjectRecordKey("MODE", subj), Value: mustJSON(modeValue{Subject: subj, Mode: mode})}}, registry.Mode{Mode: mode}, nil
	})
}

func (s *Server) deleteMode(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	return s.write(r, func() ([]store.Record, any, error) {
		old := s.st.modeAll
		var subj *string
		if name != "" {
			m, ok := s.st.modes[name]
			if !ok {
				return nil, nil, registry.Errorf(registry.CodeSubjectNotFound, "Subject '%s' not found.", name)
			}
			old, subj = m, strptr(name)
		}
		return []store.Record{store.Record{Key: subjectRecordKey("MODE", subj)}}, registry.Mode{Mode: old}, nil
	})
}
